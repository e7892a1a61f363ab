"""`python -m bench.sink`: rows/s into the embedded engine (chDB) through the sink versus a bare
clickhouse-connect insert of the same rows, side by side in one run; then the whole sink
(embedded broker -> consumer group -> ClickHouse, offsets committed) draining a backlog.

Targets (issue 5): sink / bare >= 0.7; the sink sustains 10x the pipeline's target event rate
(1,000 events/s -> 10,000 rows/s).

- bare: rows already built, one `client.insert` per table per 10,000 rows (what a hand-written
  loader does), into the same schema (so the rollup views run for both).
- sink path: the same records as Kafka bytes -> decode -> row mapping -> batching -> writer
  (drop already-stored facts, insert with deduplication tokens), batches of 10,000.
- end to end: records produced to the embedded broker first, then `AnalyticsSink` drains them.
- `--prefill N` (issue 14): the sink path into tables already holding N facts (one INSERT ...
  SELECT from numbers() per table, straight into the tables: 2 messages : 1 reply : 1 delivery,
  the same pages, times just before the measured facts) versus into empty tables, side by side
  in rotating rounds; target: the prefilled rate within 10% of the empty one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from aiokafka import TopicPartition
from clickhouse_connect.driver.client import Client

from bench.sink.facts import BASE_MS, encoded_facts
from hookstream.embedded.tansu import EmbeddedBroker
from hookstream.runtime.clickhouse import connect, parse_clickhouse_url
from hookstream.runtime.kafka import ensure_topics, new_producer
from hookstream.runtime.metrics import new_registry
from hookstream.runtime.settings import KafkaSettings, Settings, SinkSettings
from schemas.analytics import decode_fact
from schemas.clickhouse import TABLE_COLUMNS, apply_migrations
from sinks.decode import LAYOUTS
from sinks.rows import row_for
from sinks.service import AnalyticsSink
from sinks.tuning import tune_gc

TARGET_RATIO = 0.7
TARGET_ROWS_PER_S = 10_000
BATCH = 10_000


@dataclass
class Rec:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def prebuilt(values: list[tuple[bytes, bytes]]) -> dict[str, list[tuple[Any, ...]]]:
    tables: dict[str, list[tuple[Any, ...]]] = {}
    for _, value in values:
        row = row_for(decode_fact(value))
        tables.setdefault(row.table, []).append(row.values)
    return tables


def insert_only(client: Client, db: str, values: list[tuple[bytes, bytes]]) -> float:
    """Rows built up front (not timed), then one insert per table per 10,000 rows (timed)."""
    tables = prebuilt(values)
    started = time.perf_counter()
    for table, rows in tables.items():
        for i in range(0, len(rows), BATCH):
            client.insert(
                f"{db}.{table}", rows[i : i + BATCH], column_names=list(TABLE_COLUMNS[table])
            )
    return time.perf_counter() - started


def bare_loader(client: Client, db: str, values: list[tuple[bytes, bytes]]) -> float:
    """The least any loader does with the same Kafka values: parse, pull the fields and map
    them to the same rows (the sink's own mapping, sinks/rows.py), one insert per table per
    10,000 records. No validation, no dedup, no tokens, no dlq, no offsets."""
    started = time.perf_counter()
    for i in range(0, len(values), BATCH):
        tables: dict[str, list[tuple[Any, ...]]] = {}
        for _, value in values[i : i + BATCH]:
            data = orjson.loads(value)
            layout = LAYOUTS[data["fact"]]
            tables.setdefault(layout.table, []).append(layout.mapper(layout.fields(data)))
        for table, rows in tables.items():
            client.insert(f"{db}.{table}", rows, column_names=list(TABLE_COLUMNS[table]))
    return time.perf_counter() - started


class MemoryConsumer:
    """Hands out the records per partition like `getmany` does (chunks cut before timing) and
    takes commits; stops when all are committed."""

    def __init__(self, records: list[Rec], stop: asyncio.Event, chunk: int = 2000) -> None:
        self.stop, self.ends = stop, {(r.topic, r.partition): r.offset + 1 for r in records}
        self.chunks: list[dict[TopicPartition, list[Rec]]] = []
        for start in range(0, len(records), chunk):
            parts: dict[TopicPartition, list[Rec]] = {}
            for r in records[start : start + chunk]:
                parts.setdefault(TopicPartition(r.topic, r.partition), []).append(r)
            self.chunks.append(parts)
        self.chunks.reverse()
        self.committed: dict[tuple[str, int], int] = {}

    async def getmany(
        self, timeout_ms: int = 0, max_records: int = 0
    ) -> dict[TopicPartition, list[Rec]]:
        if not self.chunks:  # drained: wait for more like Kafka would, unless stopped
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), timeout_ms / 1000)
            return {}
        return self.chunks.pop()

    async def commit(self, offsets: dict[Any, int]) -> None:
        self.committed.update({(tp.topic, tp.partition): o for tp, o in offsets.items()})
        if self.committed == self.ends:
            self.stop.set()


def sink_path(
    client: Client, db: str, values: list[tuple[bytes, bytes]], checker: Client | None = None
) -> float:
    """The sink's own loop (AnalyticsSink.consume: decode, validate, batch, drop stored facts,
    insert with tokens, commit), fed from memory instead of Kafka; timed until all committed."""
    records = [Rec("bench.analytics", i % 8, i // 8, k, v) for i, (k, v) in enumerate(values)]
    settings = Settings(sink=SinkSettings(batch_rows=BATCH))
    sink = AnalyticsSink(settings, new_registry())
    sink.client, sink.checker = client, checker
    sink.target = replace(sink.target, database=db)

    async def go() -> float:
        stop = asyncio.Event()
        consumer = MemoryConsumer(records, stop)
        started = time.perf_counter()
        await sink.consume(consumer, stop)
        return time.perf_counter() - started

    return asyncio.run(go())


def count(client: Client, db: str) -> int:
    return int(client.query(f"SELECT count() FROM {db}.messages").result_rows[0][0])  # noqa: S608


def settle(client: Client, limit_s: float = 20.0) -> None:
    """Wait for the engine's background merges to finish, so no measurement pays for the
    previous one's parts."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if not int(client.query("SELECT count() FROM system.merges").result_rows[0][0]):
            return
        time.sleep(0.05)


PATHS = ("insert", "bare", "sink")
TARGET_PREFILLED_RATIO = 0.9

_PREFILL = {
    "messages": (
        "SELECT concat('msg:pre-', toString(number)), {ts} AS t, concat('pre-', toString(number)),"
        " t, t + toIntervalMillisecond(35), 35, 'messenger', toString(1000 + number % 20),"
        " concat(toString(1000 + number % 20), ':u', toString(number % 5000)),"
        " concat('u', toString(number % 5000)), 'in', if(number % 8 = 0, 'postback', 'message'),"
        " number % 300, [], false, false FROM numbers({n})"
    ),
    "replies": (
        "SELECT concat('plan:cpre-', toString(number)), {ts} AS t, t + toIntervalMillisecond(30),"
        " 30, concat('cpre-', toString(number)), concat('pre-', toString(number)),"
        " toString(1000 + number % 20),"
        " concat(toString(1000 + number % 20), ':u', toString(number % 5000)),"
        " 'rules', 'pricing', 'RESPONSE' FROM numbers({n})"
    ),
    "deliveries": (
        "SELECT concat('dlv:cpre-', toString(number), ':delivered:1'), {ts} AS t,"
        " t - toIntervalMillisecond(150), concat('cpre-', toString(number)),"
        " toString(1000 + number % 20),"
        " concat(toString(1000 + number % 20), ':u', toString(number % 5000)), 'delivered', 1,"
        " 150, 180, true, false, 0, 0, '', concat('m', toString(number)) FROM numbers({n})"
    ),
}


def prefill(client: Client, db: str, n: int) -> float:
    """n facts straight into the tables (their rollups and the ledger filled as on any insert),
    in the sink's mix, ending 10 ms apart just before the measured facts' times."""
    started = time.perf_counter()
    shares = {"messages": n // 2, "replies": n // 4, "deliveries": n - n // 2 - n // 4}
    for table, rows in shares.items():
        ts = f"fromUnixTimestamp64Milli(toInt64({BASE_MS} - ({n} - number) * 10), 'UTC')"
        select = _PREFILL[table].format(ts=ts, n=rows)
        columns = ", ".join(TABLE_COLUMNS[table])
        client.command(
            f"INSERT INTO {db}.{table} ({columns}) {select}",
            settings={"max_insert_block_size": 1_000_000},
        )
    return time.perf_counter() - started


def stored(client: Client, db: str) -> int:
    return sum(
        int(client.query(f"SELECT count() FROM {db}.{t}").result_rows[0][0])  # noqa: S608
        for t in TABLE_COLUMNS
    )


def prefilled(path: Path, n: int, facts: int, rounds: int) -> dict[str, Any]:
    """The sink path into empty tables and into tables holding `facts` facts, rotating."""
    client, checker = (connect(parse_clickhouse_url(f"chdb://{path}")) for _ in range(2))
    try:
        apply_migrations(client, "full", 3650)
        fill_s = prefill(client, "full", facts)
        settle(client, 600.0)
        before = stored(client, "full")
        times: dict[str, list[float]] = {"empty": [], "prefilled": []}
        for r in range(rounds):
            values = encoded_facts(n, f"p{r}")
            for name in ("empty", "prefilled") if r % 2 == 0 else ("prefilled", "empty"):
                db = "full" if name == "prefilled" else f"empty{r}"
                apply_migrations(client, db, 3650)
                settle(client, 120.0)
                times[name].append(sink_path(client, db, values, checker))
            assert count(client, f"empty{r}") == n // 2
            client.command(f"DROP DATABASE empty{r} SYNC")
        after = stored(client, "full")
        client.command("DROP DATABASE full SYNC")
    finally:
        client.close()
        checker.close()
    rate = {name: n / min(seconds) for name, seconds in times.items()}
    return {
        "rows": n,
        "rounds": rounds,
        "prefilled_facts": facts,
        "prefill_seconds": round(fill_s, 1),
        "stored_before": before,
        "stored_after": after,
        "empty_rows_per_s": round(rate["empty"]),
        "prefilled_rows_per_s": round(rate["prefilled"]),
        "ratio": round(rate["prefilled"] / rate["empty"], 3),
        "target_ratio": TARGET_PREFILLED_RATIO,
        "rounds_rows_per_s": {name: [round(n / t) for t in ts] for name, ts in times.items()},
    }


def side_by_side(path: Path, n: int, rounds: int) -> dict[str, Any]:
    """Each round: the three paths on the same fresh records, each into its own fresh database,
    in a rotating order, each starting on a quiet engine. Best round per path, and the median
    of the per-round sink/bare ratios."""
    client, checker = (connect(parse_clickhouse_url(f"chdb://{path}")) for _ in range(2))
    run: dict[str, Callable[[Client, str, list[tuple[bytes, bytes]]], float]] = {
        "insert": insert_only,
        "bare": bare_loader,
        "sink": partial(sink_path, checker=checker),
    }
    times: dict[str, list[float]] = {name: [] for name in PATHS}
    try:
        for r in range(rounds):
            values = encoded_facts(n, f"r{r}")
            order = PATHS[r % 3 :] + PATHS[: r % 3]
            for name in order:
                apply_migrations(client, f"{name}{r}", 3650)
                settle(client)
                times[name].append(run[name](client, f"{name}{r}", values))
            assert count(client, f"sink{r}") == count(client, f"bare{r}") == n // 2
            for name in PATHS:
                client.command(f"DROP DATABASE {name}{r} SYNC")
    finally:
        client.close()
        checker.close()
    rate = {name: n / min(seconds) for name, seconds in times.items()}
    ratios = sorted(b / s for b, s in zip(times["bare"], times["sink"], strict=True))
    return {
        "rows": n,
        "rounds": rounds,
        "insert_only_rows_per_s": round(rate["insert"]),
        "bare_rows_per_s": round(rate["bare"]),
        "sink_rows_per_s": round(rate["sink"]),
        "ratio": round(rate["sink"] / rate["bare"], 3),
        "ratio_median_of_rounds": round(ratios[len(ratios) // 2], 3),
        "ratio_vs_insert_only": round(rate["sink"] / rate["insert"], 3),
        "rounds_rows_per_s": {name: [round(n / t) for t in ts] for name, ts in times.items()},
    }


async def produce(kafka: KafkaSettings, values: list[tuple[bytes, bytes]]) -> None:
    producer = new_producer(kafka, linger_ms=20)
    await producer.start()
    try:
        for i in range(0, len(values), 5000):
            sends = [
                await producer.send(kafka.topic("analytics"), value=v, key=k)
                for k, v in values[i : i + 5000]
            ]
            await asyncio.gather(*sends)
    finally:
        await producer.stop()


async def end_to_end(path: Path, n: int) -> dict[str, Any]:
    with EmbeddedBroker(log_path=path.parent / "broker.log") as broker:
        kafka = KafkaSettings(
            bootstrap_servers=broker.bootstrap_servers,
            topic_prefix="bench.",
            partitions=8,
            enable_idempotence=False,
        )
        await ensure_topics(kafka)
        await produce(kafka, encoded_facts(n, "e2e"))
        settings = Settings(kafka=kafka, sink=SinkSettings(clickhouse_url=f"chdb://{path}"))
        sink = AnalyticsSink(settings, new_registry())
        stop = asyncio.Event()
        task = asyncio.create_task(sink.run(stop))
        while not sink.ready():  # noqa: ASYNC110 - a plain flag, polled
            await asyncio.sleep(0.01)
        started = time.perf_counter()
        while (sink.registry.get_sample_value("hookstream_sink_rows_inserted_total") or 0) < n:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - started
        stop.set()
        await task
    rate = n / elapsed
    return {
        "rows": n,
        "seconds": round(elapsed, 2),
        "rows_per_s": round(rate),
        "target_rows_per_s": TARGET_ROWS_PER_S,
        "x_target": round(rate / TARGET_ROWS_PER_S, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sink")
    parser.add_argument("--rows", type=int, default=100_000, help="rows per side-by-side round")
    parser.add_argument("--rounds", type=int, default=3, help="side-by-side rounds (best taken)")
    parser.add_argument("--e2e-rows", type=int, default=100_000, help="backlog for end to end")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--prefill",
        type=int,
        default=0,
        help="instead: the sink into tables already holding this many facts vs empty tables",
    )
    args = parser.parse_args()
    tune_gc()  # the sink process's GC policy, for every path measured here
    if args.prefill:
        with tempfile.TemporaryDirectory(prefix="bench-sink-") as tmp:
            pre = prefilled(Path(tmp) / "p", args.rows, args.prefill, args.rounds)
        print(
            f"prefill: {pre['prefilled_facts']:,} facts in {pre['prefill_seconds']} s "
            f"({pre['stored_before']:,} rows stored before, {pre['stored_after']:,} after)"
        )
        print(f"sink into empty tables:      {pre['empty_rows_per_s']:>9,} rows/s")
        print(
            f"sink into prefilled tables:  {pre['prefilled_rows_per_s']:>9,} rows/s   "
            f"ratio {pre['ratio']:.3f} (target >= {TARGET_PREFILLED_RATIO}); "
            f"rounds {pre['rounds_rows_per_s']}"
        )
        if args.json:
            args.json.write_text(json.dumps({"prefilled": pre}, indent=2))
        return
    with tempfile.TemporaryDirectory(prefix="bench-sink-") as tmp:
        figures = {"side_by_side": side_by_side(Path(tmp) / "a", args.rows, args.rounds)}
        figures["end_to_end"] = asyncio.run(end_to_end(Path(tmp) / "b", args.e2e_rows))
    sbs, e2e = figures["side_by_side"], figures["end_to_end"]
    print(f"insert only (rows pre-built):    {sbs['insert_only_rows_per_s']:>9,} rows/s")
    print(f"bare loader (parse+map+insert):  {sbs['bare_rows_per_s']:>9,} rows/s")
    print(
        f"through the sink (same records): {sbs['sink_rows_per_s']:>9,} rows/s   "
        f"ratio {sbs['ratio']:.2f} vs bare loader (target >= {TARGET_RATIO}; median of "
        f"rounds {sbs['ratio_median_of_rounds']:.2f}), "
        f"{sbs['ratio_vs_insert_only']:.2f} vs insert only"
    )
    print(
        f"end to end (broker -> sink -> chDB, {e2e['rows']:,} rows): "
        f"{e2e['rows_per_s']:,} rows/s = {e2e['x_target']}x the 10,000 rows/s target"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
