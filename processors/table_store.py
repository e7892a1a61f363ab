"""Direct access to the conversation table's local store, by partition.

The adapter processes batches outside faust's per-event context (`current_event()` is unset
in the drain task), so it reads and writes the store itself: on RocksDB, the database of the
record's partition (one per changelog partition, as faust lays them out); in memory, the one
dict. `scan` walks the stored states a bounded number at a time for the expiry sweep, and
`persisted` records how far the changelog is reflected in the local store, so that a
restarted worker on RocksDB reads only the changelog's tail.
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

from faust.types import TP

from hookstream.runtime.logging import event, get_logger

log = get_logger("processors")

Entry = tuple[bytes, bytes | None, int | None]

# Per partition database: small memtables and block cache, so memory stays flat however many
# conversations are stored (faust's defaults are 3 x 64 MiB memtables and a 2 GiB cache each).
ROCKSDB_OPTIONS = {
    "write_buffer_size": 4 * 1024 * 1024,
    "max_write_buffer_number": 2,
    "target_file_size_base": 32 * 1024 * 1024,
    "block_cache_size": 8 * 1024 * 1024,
    "bloom_filter_size": 10,
}


def rocksdb_available() -> bool:
    return importlib.util.find_spec("rocksdict") is not None


def store_url(configured: str) -> str:
    """faust's store URL for the setting; RocksDB without its driver falls back to memory."""
    if configured == "rocksdb":
        if rocksdb_available():
            return "rocksdb://"
        event(
            log,
            "processors_store_fallback",
            logging.WARNING,
            wanted="rocksdb",
            using="memory",
            missing="rocksdict",
        )
    return "memory://"


class LocalStore:
    """The memory store: faust's dict of the table."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self._pass: list[bytes] = []
        self._at = 0  # the next key of the pass to look at

    @property
    def data(self) -> dict[bytes, bytes]:
        return self.table.data.data  # type: ignore[no-any-return]

    def get(self, key: bytes, partition: int | None) -> bytes | None:
        return self.data.get(key)

    def put(self, key: bytes, value: bytes, partition: int) -> None:
        self.data[key] = value

    def delete(self, key: bytes, partition: int | None) -> None:
        self.data.pop(key, None)

    def persisted(self, topic: str, partition: int, offset: int) -> None:
        """Nothing to record: a memory store is rebuilt from the whole changelog."""

    def scan(self, limit: int) -> list[Entry]:
        if self._at >= len(self._pass):
            self._pass = list(self.data)  # one pass: a snapshot of the keys, walked in steps
            self._at = 0
        keys = self._pass[self._at : self._at + limit]  # O(limit): the snapshot is not copied
        self._at += limit
        data = self.data
        return [(key, data[key], None) for key in keys if key in data]


class RocksStore:
    """faust's RocksDB store: one database per partition of the changelog."""

    def __init__(self, table: Any) -> None:
        self.store = table.data
        self._cursor: tuple[int, bytes | None] = (-1, None)  # (partition, last key scanned)

    def _db(self, partition: int) -> Any:
        return self.store._db_for_partition(partition)

    def get(self, key: bytes, partition: int | None) -> bytes | None:
        if partition is not None:
            value: bytes | None = self._db(partition).get(key)
            return value
        return self.store._get(key)  # type: ignore[no-any-return]  # searches open partitions

    def put(self, key: bytes, value: bytes, partition: int) -> None:
        self._db(partition).put(key, value)

    def delete(self, key: bytes, partition: int | None) -> None:
        if partition is None:
            self.store._del(key)
        else:
            self._db(partition).delete(key)

    def persisted(self, topic: str, partition: int, offset: int) -> None:
        self.store.set_persisted_offset(TP(topic, partition), offset)

    def scan(self, limit: int) -> list[Entry]:
        """The next `limit` states after the cursor, across the open (assigned) partitions,
        round and round (after the last partition's last key, the first partition's first)."""
        partitions = sorted(self.store._dbs)
        if not partitions:
            return []
        current, after = self._cursor
        order = [p for p in partitions if p >= current] + [p for p in partitions if p < current]
        found: list[Entry] = []
        skip = self.store.offset_key
        for partition in order:
            it = self.store._dbs[partition].iter()
            if partition == current and after is not None:
                it.seek(after)
                if it.valid() and it.key() == after:
                    it.next()
            else:
                it.seek_to_first()
            while it.valid() and len(found) < limit:
                key = it.key()
                if key != skip:
                    found.append((key, it.value(), partition))
                it.next()
            if len(found) >= limit:
                self._cursor = (partition, found[-1][0])
                return found
        self._cursor = (-1, None)  # a full pass is done: the next one starts over
        return found
