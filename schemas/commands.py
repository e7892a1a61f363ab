"""Outbound send commands on the `outbound` topic (key: conversation id).

`command_id` is deterministic from what caused the command (event id + reply index), so a replay
produces the same ids and the sender's ledger skips what it already delivered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from schemas.errors import SchemaError
from schemas.records import build, encode_record, load_json_object, stable_id

COMMAND_SCHEMA_VERSION = 1
MESSAGING_TYPES = ("RESPONSE", "UPDATE", "MESSAGE_TAG")
SENDER_ACTIONS = ("typing_on", "typing_off", "mark_seen")


def command_id_for(cause_event_id: str, reply_index: int) -> str:
    return stable_id("cmd", cause_event_id, reply_index)


@dataclass(frozen=True, slots=True)
class OutboundCommand:
    """One message (or sender action) to send through the Send API."""

    command_id: str
    page_id: str
    recipient_id: str
    conversation_id: str
    created_at_ms: int
    messaging_type: str = "RESPONSE"
    # Meta's `message` object: {"text": ...} | {"attachment": ...}, optional "quick_replies".
    message: dict[str, Any] | None = None
    sender_action: str | None = None
    tag: str | None = None
    platform: str = "messenger"
    origin: str = "rules"  # rules | llm | api | ...
    cause_event_id: str = ""
    reply_index: int = 0
    # When the causing webhook reached the ingress: end-to-end latency is measured from here.
    event_received_at_ms: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    schema_version: int = COMMAND_SCHEMA_VERSION

    def __post_init__(self) -> None:
        validate_command(self)

    def encode(self) -> bytes:
        return encode_record(self)


def validate_command(command: OutboundCommand) -> None:
    if not command.command_id or not command.page_id or not command.recipient_id:
        raise SchemaError("command needs command_id, page_id and recipient_id")
    if command.messaging_type not in MESSAGING_TYPES:
        raise SchemaError(f"messaging_type must be one of {', '.join(MESSAGING_TYPES)}")
    if command.messaging_type == "MESSAGE_TAG" and not command.tag:
        raise SchemaError("messaging_type MESSAGE_TAG needs a tag")
    if (command.message is None) == (command.sender_action is None):
        raise SchemaError("command needs exactly one of message or sender_action")
    if command.sender_action is not None and command.sender_action not in SENDER_ACTIONS:
        raise SchemaError(f"sender_action must be one of {', '.join(SENDER_ACTIONS)}")
    if command.message is not None and not isinstance(command.message, dict):
        raise SchemaError("message must be an object")


def decode_command(payload: bytes | None) -> OutboundCommand:
    data = load_json_object(payload, "command")
    return build(OutboundCommand, data, COMMAND_SCHEMA_VERSION, "command")
