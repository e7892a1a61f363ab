"""Synthetic webhook bodies shaped like Meta's: many pages and users, a mix of event kinds,
batched entries, and exact redeliveries. Deterministic for a given seed.

Pages: `page_ids` (Messenger) and `instagram_ids` (Instagram accounts) when given, e.g. those of
the pages file the stack answers for; else `pages` synthetic ids from 1001 (Instagram bodies
then reuse them). `events_by_page` counts the events of new (not redelivered) bodies per page;
with `keep_notes`, `notes` holds what the users said (the last 10,000), for the sandbox's page.
"""

from __future__ import annotations

import random
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

# (kind, weight): roughly what a busy inbox sees.
KIND_MIX = (
    ("text", 62),
    ("keyword", 8),
    ("postback", 4),
    ("quick_reply", 4),
    ("image", 3),
    ("read", 8),
    ("delivery", 8),
    ("reaction", 3),
)
TEXTS = (
    "hi",
    "hello there",
    "are you open today?",
    "thanks!",
    "I need help with my order",
    "ok",
    "can I talk to someone",
    "\u00e4\u00f6\u00fc / special chars",
)


@dataclass
class TrafficModel:
    pages: int = 10
    users: int = 1000
    max_entries: int = 3
    max_events: int = 3
    duplicate_rate: float = 0.02
    instagram_share: float = 0.2
    seed: int = 7
    clock: Callable[[], float] = time.time
    page_ids: tuple[str, ...] | None = None
    instagram_ids: tuple[str, ...] = ()
    keep_notes: bool = False  # remember what the users said (for the sandbox's page)
    events_by_page: Counter[str] = field(default_factory=Counter, init=False)
    notes: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=10_000), init=False)
    _rng: random.Random = field(init=False, repr=False)
    _sequence: int = field(default=0, init=False)
    _recent: deque[bytes] = field(default_factory=lambda: deque(maxlen=200), init=False)
    _messenger: tuple[str, ...] = field(default=(), init=False, repr=False)
    _instagram: tuple[str, ...] = field(default=(), init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)  # noqa: S311 - synthetic data, not security
        if self.page_ids is None:
            self._messenger = tuple(self.page_id(i) for i in range(self.pages))
            self._instagram = self.instagram_ids or self._messenger
        else:
            self._messenger, self._instagram = self.page_ids, self.instagram_ids
        if not self._messenger and not self._instagram:
            raise ValueError("no page to simulate traffic for")

    def page_id(self, index: int) -> str:
        return str(1001 + index)

    @property
    def all_pages(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self._messenger, *self._instagram)))

    def _instagram_body(self) -> bool:
        if not self._messenger:
            return True
        return bool(self._instagram) and self._rng.random() < self.instagram_share

    def next_body(self) -> tuple[bytes, int, bool]:
        """(body, events in it, whether it is an exact redelivery of an earlier body)."""
        if self._recent and self._rng.random() < self.duplicate_rate:
            body = self._rng.choice(self._recent)
            return body, len(_count_events(body)), True
        instagram = self._instagram_body()
        pages = self._instagram if instagram else self._messenger
        entries = [self._entry(pages) for _ in range(self._rng.randint(1, self.max_entries))]
        data = {"object": "instagram" if instagram else "page", "entry": entries}
        body = orjson.dumps(data)
        self._recent.append(body)
        return body, sum(len(e["messaging"]) for e in entries), False

    def _entry(self, pages: tuple[str, ...]) -> dict[str, Any]:
        page = pages[self._rng.randrange(len(pages))]
        now = int(self.clock() * 1000)
        events = [self._event(page, now) for _ in range(self._rng.randint(1, self.max_events))]
        self.events_by_page[page] += len(events)
        return {"id": page, "time": now, "messaging": events}

    def _event(self, page: str, now: int) -> dict[str, Any]:
        self._sequence += 1
        user = f"u{self._rng.randrange(self.users)}"
        kind = self._rng.choices([k for k, _ in KIND_MIX], [w for _, w in KIND_MIX])[0]
        base = {"sender": {"id": user}, "recipient": {"id": page}, "timestamp": now}
        mid = f"m_sim_{self.seed}_{self._sequence}"
        payload = _payload(kind, mid, self._rng, now)
        if self.keep_notes:
            said = payload.get("message", {}).get("text") or payload.get("postback", {}).get(
                "title"
            )
            if said:
                self.notes.append(
                    {"page_id": page, "sender_id": user, "text": said, "mid": mid, "at_ms": now}
                )
        return {**base, **payload}


def _payload(kind: str, mid: str, rng: random.Random, now: int) -> dict[str, Any]:
    if kind == "text":
        return {"message": {"mid": mid, "text": rng.choice(TEXTS)}}
    if kind == "keyword":
        return {"message": {"mid": mid, "text": "what is the price?"}}
    if kind == "postback":
        return {"postback": {"mid": mid, "title": "Get Started", "payload": "GET_STARTED"}}
    if kind == "quick_reply":
        return {"message": {"mid": mid, "text": "Buy", "quick_reply": {"payload": "BUY"}}}
    if kind == "image":
        return {
            "message": {
                "mid": mid,
                "attachments": [
                    {"type": "image", "payload": {"url": f"https://example.invalid/{mid}.png"}}
                ],
            }
        }
    if kind == "reaction":
        return {"reaction": {"mid": mid, "action": "react", "reaction": "love", "emoji": "\u2764"}}
    mark = {"watermark": now}
    return {"read": mark} if kind == "read" else {"delivery": {**mark, "mids": [mid]}}


def _count_events(body: bytes) -> list[Any]:
    return [e for entry in orjson.loads(body)["entry"] for e in entry["messaging"]]
