"""The sender ledger's local copy: compact keys, generations that expire past the horizon, and
(on RocksDB) a copy that survives a restart with the offsets it reflects."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.commands import command_id_for
from senders.ledger import _parse, part_key
from senders.ledger_store import DAY_S, Book, MemoryBook, RocksBook, Spans, encode_key, open_book

H_S = 8 * DAY_S
H_MS = H_S * 1000
NOW = 1_800_000_000_000
CMD = command_id_for("message:m_1", 0)


@pytest.fixture(params=["memory", "rocksdb"])
def book(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Book]:
    spans = Spans(H_S)
    made: Book = (
        MemoryBook(spans) if request.param == "memory" else RocksBook.open_slot(tmp_path, spans)
    )
    yield made
    made.close()


def test_command_ids_and_parts_are_stored_in_13_or_14_bytes_and_stay_distinct() -> None:
    keys = [CMD, part_key(CMD, 0), part_key(CMD, 1), part_key(CMD, 255), part_key(CMD, 256)]
    keys += [
        "other",
        "cmd_ABC",
        CMD.upper().replace("CMD_", "cmd_"),
        CMD[:8] + " " + CMD[9:],
        part_key(CMD, 1) + "x",
        f"{CMD}#01",
        f"{CMD}#\u0661",
        f"{CMD}#",
    ]
    encoded = [encode_key(k) for k in keys]
    assert len(set(encoded)) == len(keys)
    assert [len(e) for e in encoded[:4]] == [13, 14, 14, 14]
    assert encoded[5] == b"\x00other"


def test_a_put_entry_is_found_with_its_status_and_others_are_not(book: Book) -> None:
    book.put([(encode_key(CMD), "delivered", NOW), (encode_key("k2"), "failed", NOW)], {3: 10})
    assert book.get(encode_key(CMD)) == "delivered"
    assert book.get(encode_key("k2")) == "failed"
    assert book.get(encode_key(part_key(CMD, 0))) is None
    assert book.offsets() == {3: 10}
    assert len(book) == 2


def test_an_entry_is_kept_for_the_horizon_and_dropped_within_an_eighth_after(book: Book) -> None:
    book.put([(encode_key(CMD), "delivered", NOW)], {})
    book.put([(encode_key("younger"), "delivered", NOW + H_MS // 4)], {})
    assert book.expire(NOW + H_MS) == 0  # exactly H old: still there
    assert book.get(encode_key(CMD)) == "delivered"
    assert book.expire(NOW + H_MS + H_MS // 8) == 1  # its whole generation is past H now
    assert book.get(encode_key(CMD)) is None
    assert book.get(encode_key("younger")) == "delivered"
    assert len(book) == 1


def test_entries_of_many_times_land_in_generations_of_an_eighth_of_the_horizon(book: Book) -> None:
    book.put([(encode_key(f"k{i}"), "delivered", NOW + i * H_MS // 16) for i in range(32)], {})
    assert all(book.get(encode_key(f"k{i}")) == "delivered" for i in range(32))
    now = NOW + 2 * H_MS
    dropped = book.expire(now)
    age = {i: now - (NOW + i * H_MS // 16) for i in range(32)}
    left = {i for i in range(32) if book.get(encode_key(f"k{i}")) is not None}
    assert dropped == 32 - len(left)
    assert all(age[i] >= H_MS for i in set(range(32)) - left)  # nothing younger than H went
    assert all(age[i] < H_MS + H_MS // 8 for i in left)  # nothing older than H + H/8 stayed
    assert left


def test_reset_empties_entries_and_offsets(book: Book) -> None:
    book.put([(encode_key(CMD), "delivered", NOW)], {0: 4})
    book.reset()
    assert book.get(encode_key(CMD)) is None
    assert book.offsets() == {}
    assert len(book) == 0


def test_rocksdb_copy_survives_a_restart_with_its_offsets(tmp_path: Path) -> None:
    spans = Spans(H_S)
    first = RocksBook.open_slot(tmp_path, spans)
    first.put([(encode_key(CMD), "delivered", NOW)], {0: 7, 1: 2})
    first.put([(encode_key("later"), "delivered", NOW + H_MS // 2)], {0: 8})
    first.close()
    again = RocksBook.open_slot(tmp_path, spans)
    try:
        assert again.path == first.path
        assert again.get(encode_key(CMD)) == "delivered"
        assert again.get(encode_key("later")) == "delivered"
        assert again.offsets() == {0: 8, 1: 2}
        assert again.expire(NOW + H_MS + H_MS // 8) == 1
    finally:
        again.close()


def test_a_held_slot_is_skipped_and_freed_when_closed(tmp_path: Path) -> None:
    spans = Spans(H_S)
    first = RocksBook.open_slot(tmp_path, spans)
    second = RocksBook.open_slot(tmp_path, spans)
    assert (first.path.name, second.path.name) == ("slot-0", "slot-1")
    first.close()
    third = RocksBook.open_slot(tmp_path, spans)
    assert third.path.name == "slot-0"
    second.close()
    third.close()


def test_without_a_state_dir_the_book_is_in_memory(tmp_path: Path) -> None:
    assert isinstance(open_book(None, "t.sender-ledger", Spans(H_S)), MemoryBook)
    made = open_book(tmp_path, "t.sender-ledger", Spans(H_S))
    assert isinstance(made, RocksBook)
    assert made.path == tmp_path / "sender-ledger" / "t.sender-ledger" / "slot-0"
    made.close()


def test_a_record_too_old_for_the_horizon_is_recognized() -> None:
    spans = Spans(H_S)
    assert spans.too_old(NOW - 2 * H_MS, NOW)
    assert not spans.too_old(NOW - H_MS + H_MS // 8, NOW)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b'{"status": "delivered", "message_id": "m", "at_ms": 5}', ("delivered", 5)),
        (b'{"status": "failed"}', ("failed", 99)),
        (b'{"at_ms": "soon"}', ("delivered", 99)),
        (b"not json", ("delivered", 99)),
        (b"[1]", ("delivered", 99)),
        (None, ("delivered", 99)),
    ],
)
def test_a_ledger_record_gives_its_status_and_time(
    value: bytes | None, expected: tuple[str, int]
) -> None:
    assert _parse(value, 99) == expected


class _Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []

    async def send(self, topic: str, value: bytes, key: bytes) -> object:
        self.sent.append((topic, key, value))
        return object()


class _Consumer:
    def __init__(self, batches: list[dict[object, list[object]]]) -> None:
        self.batches = batches

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[object, list[object]]:
        return self.batches.pop(0) if self.batches else {}

    async def stop(self) -> None:
        self.batches.clear()


async def test_an_own_record_is_known_at_once_and_stored_once_read_back(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from aiokafka import TopicPartition

    from hookstream.runtime.settings import KafkaSettings
    from senders.ledger import Ledger

    producer = _Producer()
    ledger = Ledger(KafkaSettings(topic_prefix="t."), producer, state_dir=tmp_path)
    await ledger.record(CMD, "delivered", "m_1")
    assert ledger.outcome(CMD) == "delivered"
    assert ledger.book.get(encode_key(CMD)) is None  # not written twice: the tail stores it
    (topic, key, value) = producer.sent[0]
    assert (topic, key) == ("t.sender-ledger", CMD.encode())
    record = SimpleNamespace(key=key, value=value, timestamp=NOW, offset=41)
    ledger._consumer = _Consumer([{TopicPartition(topic, 2): [record]}])
    assert await ledger._fetch(timeout_ms=0) == 1
    assert ledger.book.get(encode_key(CMD)) == "delivered"
    assert ledger.book.offsets() == {2: 42}
    assert ledger._pending == {}
    assert ledger.outcome(CMD) == "delivered"
    assert ledger.outcome(part_key(CMD, 0)) is None
    await ledger.stop()
