"""Dead letters: selection, listing and the redrive decision, as pure functions.

A redrive sends a dead letter's original record back to its source topic once: each redrive is
recorded on the compacted `dlq-redrives` topic (key = dead_letter_id), and letters recorded there
are skipped. The record is sent before its marker, so a crash in between can send it again;
that is the same at-least-once redelivery every consumer already handles by deterministic ids.
The redriven record carries the letter's `traceparent`, so it continues the same trace. A letter
whose original was truncated (only its head fits the dlq topic) is refused: sending the head
would be sending a different, broken record.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from schemas.dlq import DeadLetter

REDRIVES_TOPIC = "dlq-redrives"  # after the prefix; compacted, key = dead_letter_id
REDRIVE_HEADER = "hookstream-redrive"


@dataclass(frozen=True)
class Selection:
    ids: tuple[str, ...] = ()
    reason: str = ""
    page_id: str = ""
    service: str = ""
    since_ms: int | None = None
    until_ms: int | None = None

    @property
    def empty(self) -> bool:
        return self == Selection()


def matches(letter: DeadLetter, selection: Selection) -> bool:
    return (
        (not selection.ids or letter.dead_letter_id in selection.ids)
        and (not selection.reason or letter.reason == selection.reason)
        and (not selection.page_id or letter.page_id == selection.page_id)
        and (not selection.service or letter.service == selection.service)
        and (selection.since_ms is None or letter.failed_at_ms >= selection.since_ms)
        and (selection.until_ms is None or letter.failed_at_ms < selection.until_ms)
    )


def select(letters: Iterable[DeadLetter], selection: Selection) -> list[DeadLetter]:
    return [letter for letter in letters if matches(letter, selection)]


@dataclass(frozen=True)
class RedrivePlan:
    send: tuple[DeadLetter, ...]
    already: tuple[DeadLetter, ...]
    refused: tuple[DeadLetter, ...] = ()  # originals truncated: see `refusal`


def plan_redrive(letters: Sequence[DeadLetter], redriven: set[str]) -> RedrivePlan:
    """Each selected letter once: not if it was redriven before, not twice within the batch,
    never one whose original was truncated."""
    send: list[DeadLetter] = []
    already: list[DeadLetter] = []
    refused: list[DeadLetter] = []
    seen: set[str] = set()
    for letter in letters:
        if letter.original_truncated and letter.dead_letter_id not in redriven:
            if letter.dead_letter_id not in seen:
                refused.append(letter)
            seen.add(letter.dead_letter_id)
        elif letter.dead_letter_id in redriven or letter.dead_letter_id in seen:
            already.append(letter)
        else:
            seen.add(letter.dead_letter_id)
            send.append(letter)
    return RedrivePlan(tuple(send), tuple(already), tuple(refused))


def refusal(letter: DeadLetter) -> str:
    """Why a truncated letter is not redriven, and where its whole record is."""
    return (
        f"{letter.dead_letter_id} not redriven: its original was too large for the dlq topic "
        "and only its head was kept (original_truncated), so sending it would send a broken "
        f"record. The whole record is at {letter.source_topic} partition "
        f"{letter.source_partition} offset {letter.source_offset} while the topic's retention "
        "keeps it: reprocess it from there (hookstream replay)."
    )


def when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


def list_rows(letters: Iterable[DeadLetter], redriven: set[str]) -> list[list[str]]:
    return [
        [
            letter.dead_letter_id,
            when(letter.failed_at_ms),
            letter.service,
            letter.reason,
            letter.page_id or "-",
            "yes" if letter.dead_letter_id in redriven else "no",
            letter.error[:60],
        ]
        for letter in letters
    ]


LIST_HEADERS = ("ID", "FAILED_AT", "SERVICE", "REASON", "PAGE", "REDRIVEN", "ERROR")


def describe(letter: DeadLetter, redriven: bool) -> str:
    cut = letter.original_truncated
    original = (
        letter.original_value
        if letter.original_encoding == "utf-8"
        else (f"(base64) {letter.original_value}")
    )
    return "\n".join(
        [
            f"id:        {letter.dead_letter_id}",
            f"source:    {letter.source_topic} partition {letter.source_partition} "
            f"offset {letter.source_offset}",
            f"key:       {letter.key}",
            f"service:   {letter.service}",
            f"reason:    {letter.reason}",
            f"page:      {letter.page_id or '-'}",
            f"failed at: {when(letter.failed_at_ms)}",
            f"redriven:  {'yes' if redriven else 'no'}",
            f"trace:     {letter.traceparent or '-'}",
            f"error:     {letter.error}",
            "original record" + (" (head only, cannot be redriven):" if cut else ":"),
            original,
        ]
    )


def incomplete_redrive_message(
    redriven: Sequence[str], left: Sequence[str], exc: BaseException
) -> str:
    """What a redrive that failed half way did, and how to finish it (pure)."""
    shown = ", ".join(left[:10]) + (f" and {len(left) - 10} more" if len(left) > 10 else "")
    return (
        f"redrive incomplete: {len(redriven)} of {len(redriven) + len(left)} record(s) redriven "
        f"and marked before it failed ({type(exc).__name__}: {exc or 'no detail'}); not "
        f"redriven: {shown or 'none'}. Finish: run the same command again (marked letters are "
        "skipped; the first unmarked one may have reached its topic already, and the "
        "processors drop such a duplicate by message id). A redrive cannot be undone: the "
        "records are on their topics."
    )
