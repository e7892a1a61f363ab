"""The sender ledger's local copy: bytes per entry and lookup cost, memory vs RocksDB.

    .venv/bin/python -m bench.sender.ledger [--entries 1000000] [--json bench/results/ledger.json]

No broker: the entries are put as the tail puts them (batches of 10,000 with their offsets), with
real command ids (`command_id_for`) and part keys. Measured:

- the old dict (`dict[str, str]`, the key as the topic gives it, status parsed per entry): its
  tracemalloc bytes per entry, the baseline;
- `MemoryBook`: tracemalloc bytes per entry;
- `RocksBook`: bytes on disk per entry after a flush and a full compaction, and the process's
  RSS growth per entry (both should be small and the RSS bounded by the caches);
- lookups per second of each (misses, as new commands are, and hits).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import shutil
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from bench.output import emit
from schemas.commands import command_id_for
from senders.ledger import part_key
from senders.ledger_store import HORIZON_S, MemoryBook, RocksBook, Spans, encode_key

BATCH = 10_000


def keys(n: int, salt: str = "") -> list[str]:
    """Command ids, one in ten with a part key too (split messages)."""
    out: list[str] = []
    for i in range(n):
        cid = command_id_for(f"message:m_{salt}{i:012d}" + "x" * 80, 0)
        out.append(part_key(cid, 0) if i % 10 == 9 else cid)
    return out


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def traced(build: Any) -> tuple[Any, int]:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    made = build()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return made, after - before


def lookups(get: Any, probe: list[Any]) -> float:
    started = time.perf_counter()
    for key in probe:
        get(key)
    return len(probe) / (time.perf_counter() - started)


def bench_dict(ids: list[str], probe_miss: list[str]) -> dict[str, float]:
    status = b'{"status":"delivered"}'

    def build() -> dict[str, str]:
        known: dict[str, str] = {}
        for key in ids:
            known[key.encode().decode()] = json.loads(status)["status"]  # as the rebuild did
        return known

    known, size = traced(build)
    return {
        "bytes_per_entry": size / len(ids),
        "misses_per_s": lookups(known.get, probe_miss),
        "hits_per_s": lookups(known.get, ids[: len(probe_miss)]),
    }


def fill(book: Any, ids: list[str], now: int) -> None:
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        book.put([(encode_key(k), "delivered", now) for k in chunk], {0: start + len(chunk)})


def bench_memory(ids: list[str], probe_miss: list[str], now: int) -> dict[str, float]:
    def build() -> MemoryBook:
        book = MemoryBook(Spans(HORIZON_S))
        fill(book, ids, now)
        return book

    book, size = traced(build)
    return {
        "bytes_per_entry": size / len(ids),
        "misses_per_s": lookups(lambda k: book.get(encode_key(k)), probe_miss),
        "hits_per_s": lookups(lambda k: book.get(encode_key(k)), ids[: len(probe_miss)]),
    }


def bench_rocks(ids: list[str], probe_miss: list[str], now: int) -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix="ledger-bench-"))
    try:
        gc.collect()
        rss0 = rss_bytes()
        book = RocksBook.open_slot(root, Spans(HORIZON_S))
        started = time.perf_counter()
        fill(book, ids, now)
        put_s = time.perf_counter() - started
        rss_filled = rss_bytes()
        book.db.flush()
        for gen in book._gens.values():
            gen.compact_range(None, None)
        disk = sum(f.stat().st_size for f in book.path.glob("*.sst"))
        misses = lookups(lambda k: book.get(encode_key(k)), probe_miss)
        hits = lookups(lambda k: book.get(encode_key(k)), ids[: len(probe_miss)])
        rss_end = rss_bytes()
        book.close()
        return {
            "disk_bytes_per_entry": disk / len(ids),
            "rss_growth_mb_filled": (rss_filled - rss0) / 1e6,
            "rss_growth_mb_after_lookups": (rss_end - rss0) / 1e6,
            "puts_per_s": len(ids) / put_s,
            "misses_per_s": misses,
            "hits_per_s": hits,
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--probes", type=int, default=100_000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    now = int(time.time() * 1000)
    ids = keys(args.entries)
    miss = keys(args.probes, salt="miss")
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "entries": args.entries,
        "load_average": os.getloadavg(),
        "rocksdb": bench_rocks(ids, miss, now),
        "memory_book": bench_memory(ids, miss, now),
        "old_dict": bench_dict(ids, miss),
    }
    results["load_average_end"] = os.getloadavg()
    emit(results, args.json)


if __name__ == "__main__":
    main()
