"""The true end of each partition, when the broker's ListOffsets answer cannot be taken as it is.

The embedded Tansu broker answers ListOffsets latest with the last batch's base offset + 1, so
after a batch of several records the end it reports is below the records it holds (and below
what a group has already committed). Its fetch answers carry the right high watermark. So on a
broker without the full protocol the end of each partition that holds records is read from a
fetch at the reported end - 1 (a record that exists, so the fetch answers at once), and every end
is at least the highest offset a group committed there. Each partition whose end was corrected
is reported, so the output can say so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from hookstream.ops.offsets import fetch_at


@dataclass(frozen=True)
class EndCorrection:
    topic: str
    partition: int
    reported: int  # what ListOffsets answered
    end: int  # the end used instead
    source: str  # "fetch" (the high watermark of a fetch) or "commit" (a group committed there)


def true_ends(
    reported: Mapping[TopicPartition, int],
    watermarks: Mapping[TopicPartition, int],
    commits: Iterable[Mapping[TopicPartition, int]],
) -> tuple[dict[TopicPartition, int], list[EndCorrection]]:
    """Per partition the highest of the reported end, the fetched high watermark and every
    committed offset, with the partitions where that is not the reported end (pure)."""
    committed: dict[TopicPartition, int] = {}
    for group in commits:
        for tp, offset in group.items():
            committed[tp] = max(offset, committed.get(tp, 0))
    ends: dict[TopicPartition, int] = {}
    corrections = []
    for tp, end in reported.items():
        fetched = watermarks.get(tp, 0)
        commit = committed.get(tp, 0)
        best = max(end, fetched, commit)
        ends[tp] = best
        if best != end:
            source = "fetch" if fetched >= commit else "commit"
            corrections.append(EndCorrection(tp.topic, tp.partition, end, best, source))
    return ends, corrections


async def high_watermarks(
    consumer: AIOKafkaConsumer,
    reported: Mapping[TopicPartition, int],
    timeout_s: float = 2.0,
) -> dict[TopicPartition, int]:
    """The high watermark a fetch answers for every partition that holds records (reported end
    above 0), fetching at its reported end - 1; partitions that did not answer in time are left
    out (their reported end stands)."""
    positions = {tp: end - 1 for tp, end in reported.items() if end > 0}
    return await fetch_at(
        consumer, positions, lambda tp, _records: consumer.highwater(tp), timeout_s, 1
    )


def correction_note(corrections: Iterable[EndCorrection], limit: int = 4) -> str | None:
    """One line saying which partitions' ends were corrected and from what (None: none were)."""
    listed = list(corrections)
    if not listed:
        return None
    what = {"fetch": "high watermark of a fetch", "commit": "a group's commit"}
    shown = "; ".join(
        f"{c.topic} {c.partition}: reported {c.reported}, {what[c.source]} {c.end}"
        for c in listed[:limit]
    )
    more = f"; {len(listed) - limit} more" if len(listed) > limit else ""
    return (
        f"* END corrected on {len(listed)} partition(s): the broker's reported end offset was "
        f"below the records it holds ({shown}{more})"
    )
