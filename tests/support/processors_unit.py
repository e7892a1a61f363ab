"""Building envelopes and messages for the processors' unit tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hookstream.runtime.pages import PagesConfig, parse_pages
from ingress.splitter import split
from processors.normalize import normalize
from schemas.envelope import InboundEnvelope, decode_envelope
from schemas.messages import NormalizedMessage

PAGE = "1001"
USER = "2002"
T0 = 1_800_000_000_000


def envelopes(obj: str, entry: dict[str, Any], received_at_ms: int = T0) -> list[InboundEnvelope]:
    body = {"object": obj, "entry": [entry]}
    return [decode_envelope(r.value) for r in split(body, received_at_ms, "r")]


def messaging(
    event: dict[str, Any], obj: str = "page", page: str = PAGE, received_at_ms: int = T0
) -> InboundEnvelope:
    [envelope] = envelopes(obj, {"id": page, "time": T0, "messaging": [event]}, received_at_ms)
    return envelope


def text_message(
    mid: str, text: str, user: str = USER, at_ms: int = T0, received_at_ms: int | None = None
) -> NormalizedMessage:
    event = {
        "sender": {"id": user},
        "recipient": {"id": PAGE},
        "timestamp": at_ms,
        "message": {"mid": mid, "text": text},
    }
    return normalize(messaging(event, received_at_ms=received_at_ms or at_ms))


def postback(mid: str, payload: str, at_ms: int = T0) -> NormalizedMessage:
    event = {
        "sender": {"id": USER},
        "recipient": {"id": PAGE},
        "timestamp": at_ms,
        "postback": {"mid": mid, "title": "T", "payload": payload},
    }
    return normalize(messaging(event, received_at_ms=at_ms))


PAGES_YAML = """\
pages:
  "1001":
    rules:
      - name: pricing
        match: {keywords: [price, "how much"]}
        reply: {text: "Plans start at 9 EUR.", quick_replies: [{title: Buy, payload: BUY}]}
      - name: hours
        match: {regex: "open(ing)? hours?"}
        reply: {text: "9 to 5"}
      - name: start
        match: {payload: GET_STARTED}
        reply: {text: "Welcome!"}
      - name: buy
        match: {payload: BUY}
        reply: {text: "Buying"}
      - name: price-again
        match: {keywords: [price]}
        reply: {text: "never used: pricing comes first"}
    fallback: {text: "Thanks!"}
  "1002":
    responder: none
  "1003":
    typing_on: true
    human_agent: true
    outside_window_tag: HUMAN_AGENT
    rules:
      - name: any
        match: {regex: "."}
        reply: {text: "ok"}
"""


def pages(text: str = PAGES_YAML) -> PagesConfig:
    return parse_pages(text, Path("pages.yaml"), {})
