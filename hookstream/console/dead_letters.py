"""Dead letters for the console: filters from a query string, and redrive of chosen ids.

The same primitives as `hookstream dlq`: read the `dlq` topic, select, plan (each letter once,
never one already redriven, never one whose original was truncated), send through
`hookstream.ops.dlq_topic.redrive` (the redriven record keeps the letter's trace context).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

from hookstream.ops.dlq_records import Selection, plan_redrive, refusal, select
from hookstream.ops.dlq_topic import dead_letters, redrive, redriven_ids, unknown_ids
from hookstream.runtime.settings import KafkaSettings, Settings
from schemas.dlq import DeadLetter

MAX_LISTED = 500
_SINCE = re.compile(r"^(\d{1,5})([mhd])$")
_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000}
_FIELD = re.compile(r"^[\w.:\-]{0,200}$")


@dataclass(frozen=True)
class DeadLetterView:
    reason: str = ""
    page_id: str = ""
    since: str = ""  # 30m, 6h, 7d; empty: all
    ids: tuple[str, ...] = ()
    problem: str = ""  # a filter that was ignored, and why

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> DeadLetterView:
        reason, page, since = (params.get(k, "").strip() for k in ("reason", "page", "since"))
        bad = [name for name, v in (("reason", reason), ("page", page)) if not _FIELD.match(v)]
        if since and not _SINCE.match(since):
            bad.append("since")
        if bad:
            problem = f"ignored {', '.join(bad)}: ids and reasons are letters, digits and .:-_; "
            problem += "since is a number and m, h or d (30m, 6h, 7d)"
            return cls(problem=problem)
        return cls(reason, page, since)

    def selection(self, now_ms: int) -> Selection:
        since_ms = None
        match = _SINCE.match(self.since)
        if match:
            since_ms = now_ms - int(match.group(1)) * _UNIT_MS[match.group(2)]
        return Selection(self.ids, self.reason, self.page_id, since_ms=since_ms)

    async def load(self, kafka: KafkaSettings) -> tuple[list[DeadLetter], set[str]]:
        """The matching letters, newest first (at most MAX_LISTED), and the redriven ids."""
        letters, _undecodable = await dead_letters(kafka)
        chosen = select(letters, self.selection(int(time.time() * 1000)))
        chosen.sort(key=lambda letter: letter.failed_at_ms, reverse=True)
        return chosen[:MAX_LISTED], await redriven_ids(kafka)


@dataclass(frozen=True)
class RedriveOutcome:
    sent: int
    skipped: tuple[str, ...]  # already redriven
    unknown: tuple[str, ...]
    refused: tuple[str, ...] = ()  # why each truncated letter was not sent (`refusal`)


async def redrive_ids(settings: Settings, ids: tuple[str, ...]) -> RedriveOutcome:
    letters, _ = await dead_letters(settings.kafka)
    unknown = tuple(unknown_ids(ids, letters))
    plan = plan_redrive(select(letters, Selection(ids)), await redriven_ids(settings.kafka))
    sent = await redrive(settings.kafka, plan, settings.state_dir) if plan.send else 0
    skipped = tuple(letter.dead_letter_id for letter in plan.already)
    refused = tuple(refusal(letter) for letter in plan.refused)
    return RedriveOutcome(sent, skipped, unknown, refused)
