"""What the sandbox received (bounded, in memory), and its counters."""

from __future__ import annotations

import itertools
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Store:
    limit: int = 200_000
    messages: deque[dict[str, Any]] = field(default_factory=deque)
    counts: Counter[str] = field(default_factory=Counter)
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def add(self, page_id: str, body: dict[str, Any]) -> dict[str, Any]:
        seq = next(self._seq)
        message = body.get("message") or {}
        entry = {
            "seq": seq,
            "page_id": page_id,
            "recipient_id": str(body["recipient"]["id"]),
            "message_id": f"m_sandbox_{seq:012d}" if body.get("message") else "",
            "sender_action": body.get("sender_action"),
            "messaging_type": body.get("messaging_type", "RESPONSE"),
            "tag": body.get("tag"),
            "text": message.get("text"),
            "attachment": message.get("attachment")
            or (
                {"type": "sticker", "sticker_id": message["sticker_id"]}
                if "sticker_id" in message
                else None
            ),
            "quick_replies": message.get("quick_replies"),
            "metadata": message.get("metadata"),
            "received_at_ms": int(time.time() * 1000),
        }
        self.messages.append(entry)
        if len(self.messages) > self.limit:
            self.messages.popleft()
        self.counts["accepted"] += 1
        return entry

    def rejected(self, code: int) -> None:
        self.counts["rejected"] += 1
        self.counts[f"error_{code}"] += 1

    def select(
        self, page_id: str = "", recipient_id: str = "", since: int = 0
    ) -> list[dict[str, Any]]:
        return [
            m
            for m in self.messages
            if (not page_id or m["page_id"] == page_id)
            and (not recipient_id or m["recipient_id"] == recipient_id)
            and m["seq"] > since
        ]

    def conversations(self) -> dict[tuple[str, str], list[dict[str, Any]]]:
        grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for m in self.messages:
            grouped.setdefault((m["page_id"], m["recipient_id"]), []).append(m)
        return grouped

    def reset(self) -> None:
        self.messages.clear()
        self.counts.clear()
