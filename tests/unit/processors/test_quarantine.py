"""The crash guard: a record in progress at two crashes in a row is skipped on the next start."""

from __future__ import annotations

from pathlib import Path

import pytest

from hookstream.runtime.settings import ProcessorSettings
from processors.batch import BatchProcessor, InRecord
from processors.core import Origin, Outcome, Processor
from processors.member import claim_slot, instance_id
from processors.metrics import ProcessorMetrics
from processors.quarantine import CrashGuard, MarkerFile, run_guarded
from processors.state import ConversationState
from schemas.commands import decode_command
from schemas.dlq import decode_dead_letter
from schemas.messages import NormalizedMessage
from tests.support.processors_unit import PAGE, T0, messaging, pages


class Crash(BaseException):
    """Stands for the process dying (no `except Exception` sees it)."""


class CrashingOn(Processor):
    def __init__(self, poison: str) -> None:
        config = pages()
        super().__init__(ProcessorSettings(), lambda: config)
        self.poison, self.seen = poison, list[str]()

    async def process(
        self, state: ConversationState, message: NormalizedMessage, now_ms: int, *origin: Origin
    ) -> Outcome:
        self.seen.append(message.mid)
        if message.mid == self.poison:
            raise Crash
        return await super().process(state, message, now_ms, *origin)


def text(offset: int, partition: int = 0) -> InRecord:
    event = {
        "sender": {"id": f"u{offset}"},
        "recipient": {"id": PAGE},
        "timestamp": T0 + offset,
        "message": {"mid": f"m{offset}", "text": "price?"},
    }
    envelope = messaging(event)
    key = envelope.conversation_id.encode()
    return InRecord("p.inbound", partition, offset, key, envelope.encode())


async def start(marker: Path, records: list[InRecord], poison: str) -> tuple[list[str], object]:
    """One worker start: resume the guard from the marker, process the batch."""
    processor = CrashingOn(poison)
    guard = CrashGuard.resume(MarkerFile(marker))
    batch = BatchProcessor(processor, ProcessorMetrics.create())
    try:
        result: object = await run_guarded(batch, guard, records, lambda key: None, T0)
    except Crash:
        result = None
    guard.store.close()
    return processor.seen, result


async def test_a_record_crashing_the_worker_twice_is_quarantined_on_the_third_start(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "member-0" / "in-progress.json"
    records = [text(offset) for offset in range(5)]
    seen, result = await start(marker, records, poison="m2")  # first crash: the batch
    assert result is None and seen == ["m0", "m1", "m2"]
    seen, result = await start(marker, records, poison="m2")  # second: one record at a time
    assert result is None and seen == ["m0", "m1", "m2"]
    seen, result = await start(marker, records, poison="m2")  # third: m2 skipped
    assert seen == ["m0", "m1", "m3", "m4"]
    outputs = result.outputs  # type: ignore[attr-defined]
    [letter] = [decode_dead_letter(o.value) for o in outputs if o.topic == "dlq"]
    assert (letter.source_offset, letter.reason) == (2, "quarantined")
    assert letter.original_bytes() == records[2].value
    answered = [decode_command(o.value).cause_event_id for o in outputs if o.topic == "outbound"]
    assert answered == ["message:m0", "message:m1", "message:m3", "message:m4"]
    assert not marker.read_bytes()  # settled: the next start is a normal one
    seen, _ = await start(marker, records, poison="m2")
    assert seen == ["m0", "m1", "m2"]  # a replay of m2 is processed (and crashes) afresh


async def test_one_crash_alone_quarantines_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "in-progress.json"
    records = [text(offset) for offset in range(3)]
    await start(marker, records, poison="m1")
    seen, result = await start(marker, records, poison="none")  # e.g. a kill -9, then fine
    assert seen == ["m0", "m1", "m2"] and result is not None
    assert "dlq" not in [o.topic for o in result.outputs]  # type: ignore[attr-defined]
    assert not marker.read_bytes()


async def test_suspects_are_only_the_crashed_spans(tmp_path: Path) -> None:
    marker = tmp_path / "in-progress.json"
    await start(marker, [text(1, partition=0)], poison="m1")
    guard = CrashGuard.resume(MarkerFile(marker))
    assert guard.is_suspect(text(1, partition=0))
    assert not guard.is_suspect(text(1, partition=1)) and not guard.is_suspect(text(2))
    guard.passed([text(2, partition=1)])  # another partition settles nothing
    assert guard.suspects
    guard.passed([text(2, partition=0)])  # its partition moved past the span
    assert guard.calm and not marker.read_bytes()


@pytest.mark.parametrize("content", [b"{not json", b'{"v": 99}', b'{"v": 1, "record": "x"}'])
def test_an_unreadable_marker_is_a_normal_start(tmp_path: Path, content: bytes) -> None:
    marker = tmp_path / "in-progress.json"
    marker.write_bytes(content)
    assert CrashGuard.resume(MarkerFile(marker)).calm


def test_a_restarted_worker_takes_its_slot_back_and_two_live_ones_differ(tmp_path: Path) -> None:
    first = claim_slot(tmp_path)
    second = claim_slot(tmp_path)
    assert (first.index, second.index) == (0, 1)
    first.release()  # the process ended: the kernel drops its lock
    again = claim_slot(tmp_path)
    assert again.index == 0 and again.path == first.path
    ids = {instance_id("", tmp_path, slot) for slot in (0, 1)}
    assert len(ids) == 2 and instance_id("", tmp_path, 0) == instance_id("", tmp_path, 0)
    assert instance_id("off", tmp_path, 0) is None
    assert instance_id("worker-a", tmp_path, 0) == "worker-a"
    again.release()
    second.release()
