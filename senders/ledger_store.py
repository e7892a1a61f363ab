"""The sender ledger's local copy (see senders/ledger.py for the why): entries in generations of
H/8, on RocksDB (`RocksBook`, one column family per generation, the topic offsets it reflects in
the same write batch) or, without rocksdict or a state dir, in a dict (`MemoryBook`); and the
compact stored form of a key (`encode_key`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

try:
    import rocksdict
except ImportError:  # pragma: no cover - a dependency; the memory book stands in
    rocksdict = None  # type: ignore[assignment]

from hookstream.runtime.logging import event, get_logger

log = get_logger("sender.ledger")
DAY_S = 86_400
HORIZON_S = 30 * DAY_S  # default horizon: the longest documented retention (dlq, 30 days)
GENERATIONS = 8  # the horizon in this many spans: entries kept between H and H + H/8
SLOTS = 64  # local copies per topic a machine may hold at once (one per running instance)
DELIVERED = "delivered"


def encode_key(key: str) -> bytes:
    """A compact stored key: `cmd_<24 hex>` ids (and their parts < 256) as 13-14 bytes, any
    other key as its UTF-8 bytes behind a marker. Distinct keys stay distinct."""
    if key[:4] == "cmd_":
        digest = key[4:28]
        try:
            raw = bytes.fromhex(digest)
        except ValueError:
            raw = b""
        # fromhex also takes upper case and spaces: only the canonical spelling is compacted
        if len(raw) == 12 and digest == raw.hex():
            if len(key) == 28:
                return b"\x01" + raw
            part = key[29:]
            if key[28] == "#" and part.isascii() and part.isdigit() and str(int(part)) == part:
                number = int(part)
                if number < 256:
                    return b"\x02" + raw + bytes((number,))
    return b"\x00" + key.encode()


def _decode_status(value: bytes) -> str:
    return DELIVERED if not value else value.decode(errors="replace")


class Book(Protocol):
    """The local copy: entries in generations, and the topic offsets it reflects."""

    def get(self, key: bytes) -> str | None: ...
    def put(self, entries: Iterable[tuple[bytes, str, int]], offsets: dict[int, int]) -> None: ...
    def offsets(self) -> dict[int, int]: ...
    def expire(self, now_ms: int) -> int: ...
    def reset(self) -> None: ...
    def __len__(self) -> int: ...
    def close(self) -> None: ...


class Spans:
    """Which generation an entry written at `at_ms` belongs to, and which have expired."""

    def __init__(self, horizon_s: float, generations: int = GENERATIONS) -> None:
        self.horizon_ms = max(1, int(horizon_s * 1000))
        self.span_ms = max(1, self.horizon_ms // generations)

    def start_of(self, at_ms: int) -> int:
        return at_ms - at_ms % self.span_ms

    def too_old(self, at_ms: int, now_ms: int) -> bool:
        """An entry written at `at_ms` would be in an expired generation already."""
        start = self.start_of(at_ms)
        return self.expired(start, start + self.span_ms, now_ms)

    def expired(self, start_ms: int, end_ms: int, now_ms: int) -> bool:
        """Every entry of [start, end) is older than the horizon."""
        return end_ms + self.horizon_ms <= now_ms


class MemoryBook:
    """The generations as dicts (no state dir, or no rocksdict). ~85 B per entry."""

    def __init__(self, spans: Spans) -> None:
        self.spans = spans
        self._gens: dict[tuple[int, int], dict[bytes, str]] = {}
        self._newest_first: list[dict[bytes, str]] = []
        self._offsets: dict[int, int] = {}

    def _gen(self, at_ms: int) -> tuple[tuple[int, int], dict[bytes, str]]:
        for span, entries in self._gens.items():
            if span[0] <= at_ms < span[1]:
                return span, entries
        start = self.spans.start_of(at_ms)
        span = (start, start + self.spans.span_ms)
        entries = self._gens[span] = {}
        self._order()
        return span, entries

    def _order(self) -> None:
        self._newest_first = [self._gens[span] for span in sorted(self._gens, reverse=True)]

    def get(self, key: bytes) -> str | None:
        for entries in self._newest_first:
            status = entries.get(key)
            if status is not None:
                return status
        return None

    def put(self, entries: Iterable[tuple[bytes, str, int]], offsets: dict[int, int]) -> None:
        gen: dict[bytes, str] | None = None
        span = (0, 0)
        for key, status, at_ms in entries:
            if gen is None or not span[0] <= at_ms < span[1]:
                span, gen = self._gen(at_ms)
            gen[key] = DELIVERED if status == DELIVERED else status
        self._offsets.update(offsets)

    def offsets(self) -> dict[int, int]:
        return dict(self._offsets)

    def expire(self, now_ms: int) -> int:
        old = [span for span in self._gens if self.spans.expired(*span, now_ms)]
        dropped = sum(len(self._gens.pop(span)) for span in old)
        if old:
            self._order()
        return dropped

    def reset(self) -> None:
        self._gens.clear()
        self._newest_first = []
        self._offsets.clear()

    def __len__(self) -> int:
        return sum(map(len, self._gens.values()))

    def close(self) -> None:
        """Nothing held."""


_META_OFFSET = b"offset:"
_GEN = re.compile(r"g(\d+)-(\d+)")


def _rocks_options(cache: Any, buffers: Any) -> Any:
    options = rocksdict.Options(raw_mode=True)
    options.create_if_missing(True)
    options.create_missing_column_families(True)
    options.set_write_buffer_size(4 * 1024 * 1024)
    options.set_max_write_buffer_number(2)
    options.set_write_buffer_manager(buffers)
    options.set_max_total_wal_size(32 * 1024 * 1024)
    options.set_keep_log_file_num(2)
    options.set_compression_type(rocksdict.DBCompressionType.lz4())
    # Index and filter blocks in the block cache, so memory does not grow with the entries; in
    # 4 KiB partitions (a whole file's filter block outgrows a cache shard and is read from disk
    # at every lookup: 2-5k lookups/s at 1M entries, measured), the top level pinned.
    table = rocksdict.BlockBasedOptions()
    table.set_block_cache(cache)
    table.set_bloom_filter(10, False)
    table.set_cache_index_and_filter_blocks(True)
    table.set_pin_l0_filter_and_index_blocks_in_cache(True)
    table.set_partition_filters(True)
    table.set_index_type(rocksdict.BlockBasedIndexType.two_level_index_search())
    table.set_metadata_block_size(4096)
    table.set_pin_top_level_index_and_filter(True)
    table.set_format_version(5)
    options.set_block_based_table_factory(table)
    return options


class RocksBook:
    """The generations as column families of one RocksDB database (see the module docstring)."""

    def __init__(self, path: Path, spans: Spans) -> None:
        self.path, self.spans = path, spans
        # 16 MiB of memtables in all and a 64 MiB block cache holding index and filter blocks:
        # the memory of the copy, however many entries it holds.
        cache = rocksdict.Cache(64 * 1024 * 1024)
        buffers = rocksdict.WriteBufferManager(16 * 1024 * 1024, False)
        self._options = _rocks_options(cache, buffers)
        families = {}
        if (path / "CURRENT").exists():
            names = rocksdict.Rdict.list_cf(str(path), self._options)
            families = {name: self._options for name in names if name != "default"}
        self.db = rocksdict.Rdict(str(path), self._options, column_families=families)
        self._gens: dict[tuple[int, int], Any] = {}
        self._handles: dict[tuple[int, int], Any] = {}
        for name in families:
            match = _GEN.fullmatch(name)
            if match is not None:
                start, end = int(match[1]), int(match[2])
                self._gens[(start, end)] = self.db.get_column_family(name)
        self._order()

    @staticmethod
    def open_slot(root: Path, spans: Spans, slots: int = SLOTS) -> RocksBook:
        """The first slot under `root` no other process (or ledger) holds."""
        root.mkdir(parents=True, exist_ok=True)
        last: Exception | None = None
        for n in range(slots):
            try:
                return RocksBook(root / f"slot-{n}", spans)
            except Exception as exc:  # RocksDB's lock: held elsewhere, try the next slot
                if "lock" not in str(exc).lower():
                    raise
                last = exc
        raise RuntimeError(f"every ledger slot under {root} is held: {last}")

    def _order(self) -> None:
        self._newest_first = [self._gens[span] for span in sorted(self._gens, reverse=True)]

    def _span(self, at_ms: int) -> tuple[int, int]:
        for span in self._gens:
            if span[0] <= at_ms < span[1]:
                return span
        start = self.spans.start_of(at_ms)
        span = (start, start + self.spans.span_ms)
        self._gens[span] = self.db.create_column_family(f"g{span[0]}-{span[1]}", self._options)
        self._order()
        return span

    def get(self, key: bytes) -> str | None:
        for gen in self._newest_first:
            value = gen.get(key)
            if value is not None:
                return _decode_status(value)
        return None

    def put(self, entries: Iterable[tuple[bytes, str, int]], offsets: dict[int, int]) -> None:
        batch = rocksdict.WriteBatch(raw_mode=True)
        span = (0, 0)
        handle = None
        for key, status, at_ms in entries:
            if handle is None or not span[0] <= at_ms < span[1]:
                span = self._span(at_ms)
                handle = self._handles.get(span)
                if handle is None:
                    handle = self._handles[span] = self.db.get_column_family_handle(
                        f"g{span[0]}-{span[1]}"
                    )
            batch.put(key, b"" if status == DELIVERED else status.encode(), handle)
        for partition, offset in offsets.items():
            batch.put(_META_OFFSET + str(partition).encode(), str(offset).encode())
        if not batch.is_empty():
            self.db.write(batch)

    def offsets(self) -> dict[int, int]:
        found: dict[int, int] = {}
        it = self.db.iter()
        it.seek(_META_OFFSET)
        while it.valid() and bytes(it.key()).startswith(_META_OFFSET):
            found[int(bytes(it.key())[len(_META_OFFSET) :])] = int(bytes(it.value()))
            it.next()
        return found

    def expire(self, now_ms: int) -> int:
        old = [span for span in self._gens if self.spans.expired(*span, now_ms)]
        dropped = 0
        for span in old:
            dropped += self._count(self._gens.pop(span))
            self._handles.pop(span, None)
            self.db.drop_column_family(f"g{span[0]}-{span[1]}")
        if old:
            self._order()
        return dropped

    def reset(self) -> None:
        for span in list(self._gens):
            self._gens.pop(span)
            self._handles.pop(span, None)
            self.db.drop_column_family(f"g{span[0]}-{span[1]}")
        self._order()
        for partition in self.offsets():
            self.db.delete(_META_OFFSET + str(partition).encode())

    @staticmethod
    def _count(gen: Any) -> int:
        return int(gen.property_int_value("rocksdb.estimate-num-keys") or 0)

    def __len__(self) -> int:
        """RocksDB's estimate (exact for what is still in memtables)."""
        return sum(map(self._count, self._gens.values()))

    def close(self) -> None:
        self._gens.clear()
        self._handles.clear()
        self._newest_first = []
        self.db.close()


def open_book(state_dir: Path | None, topic: str, spans: Spans) -> Book:
    if state_dir is None:
        return MemoryBook(spans)
    if rocksdict is None:  # pragma: no cover - a dependency
        event(log, "ledger_store_fallback", logging.WARNING, wanted="rocksdb", using="memory")
        return MemoryBook(spans)
    return RocksBook.open_slot(state_dir / "sender-ledger" / topic, spans)
