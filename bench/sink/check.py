"""The sink's "already stored" check on fresh facts: both lookups vs the ledger alone.

    .venv/bin/python -m bench.sink.check [--stored 200000] [--batches 10] [--rounds 3]

chDB in a temporary directory: `--stored` facts first written through the writer itself (so the
fact tables, their projections and the ledger hold them, in as many parts as the sink makes),
then, per round and side by side (order alternating), `check` of the same fresh 10,000-fact
batches: with every record suspect (what the writer does without `Fresh`: a ledger lookup, then
a fact-table lookup by the sorting key for what the ledger lacks) and with the records fresh
(their partition's `Fresh` offset below theirs: the ledger lookup only). Also a batch of facts
already stored, checked both ways, to show both find them all.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.output import emit
from bench.sink.facts import encoded_facts
from hookstream.runtime.clickhouse import connect, parse_clickhouse_url
from hookstream.runtime.consumer import Consumed
from schemas.clickhouse import apply_migrations
from sinks.batch import Batch
from sinks.decode import add_records
from sinks.tuning import tune_gc
from sinks.writer import ClickHouseWriter, Fresh

TOPIC = "bench.analytics"
BATCH = 10_000
PARTITIONS = 8


def batch_of(values: list[tuple[bytes, bytes]], first_offset: int) -> Batch:
    batch = Batch()
    per: dict[int, list[Consumed]] = {}
    for i, (key, value) in enumerate(values):
        n = first_offset + i
        per.setdefault(n % PARTITIONS, []).append(
            Consumed(TOPIC, n % PARTITIONS, n // PARTITIONS, key, value)
        )
    now = time.monotonic()
    for records in per.values():
        add_records(batch, records, now)
    return batch


def timed(writer: ClickHouseWriter, batch: Batch) -> tuple[float, int]:
    started = time.perf_counter()
    checked = writer.check(batch)
    took = time.perf_counter() - started
    return took, sum(len(v) for v in checked.stored.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stored", type=int, default=200_000)
    parser.add_argument("--batches", type=int, default=10, help="fresh batches per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    tune_gc()
    path = Path(tempfile.mkdtemp(prefix="check-bench-"))
    client = connect(parse_clickhouse_url(f"chdb://{path}"))
    db = "bench"
    apply_migrations(client, db, 3650)
    load0 = os.getloadavg()
    writer = ClickHouseWriter(client, db)
    for start in range(0, args.stored, BATCH):  # stored facts, written as the sink writes them
        writer.write(batch_of(encoded_facts(BATCH, f"s{start}"), start))
    offset = args.stored
    fresh = Fresh()
    fresh.assigned({(TOPIC, p): offset // PARTITIONS for p in range(PARTITIONS)})
    both, ledger_only = ClickHouseWriter(client, db), ClickHouseWriter(client, db, fresh=fresh)
    times: dict[str, list[float]] = {"both_lookups": [], "ledger_only": []}
    for r in range(args.rounds):
        for b in range(args.batches):
            batch = batch_of(encoded_facts(BATCH, f"r{r}b{b}"), offset + (r * 100 + b) * BATCH)
            order = [("both_lookups", both), ("ledger_only", ledger_only)]
            for name, w in order if (r + b) % 2 == 0 else order[::-1]:
                took, found = timed(w, batch)
                assert found == 0, (name, found)  # fresh facts: none stored
                times[name].append(took)
    stored_again = batch_of(encoded_facts(BATCH, "s0"), 0)  # the first stored batch, re-read
    stored_found = {
        name: timed(w, stored_again)[1] for name, w in (("both", both), ("ledger", ledger_only))
    }
    median = {name: statistics.median(t) for name, t in times.items()}
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "stored_facts": args.stored,
        "batch_rows": BATCH,
        "checks_per_side": len(times["both_lookups"]),
        "ms_per_check_median": {k: round(1000 * v, 1) for k, v in median.items()},
        "ratio_ledger_only_to_both": round(median["ledger_only"] / median["both_lookups"], 3),
        "stored_batch_found": stored_found,
        "load_average": [load0, os.getloadavg()],
    }
    emit(results, args.json)


if __name__ == "__main__":
    main()
