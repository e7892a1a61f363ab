"""The processors' conversation table: memory and restart time against the audience's size.

    .venv/bin/python -m bench.processors.state                          # rocksdb and memory
    .venv/bin/python -m bench.processors.state --stores rocksdb --sizes 10000 500000

Per store, on one Apache Kafka broker (a topic prefix each): a worker (`hookstream processors`,
a child process) is started on an empty table; then, for each size in `--sizes` (cumulative),
it is SIGKILLed, the state of that many distinct conversations (one message and its reply
each) is written straight to the table's changelog (the fastest way to create it: processing
runs at ~100-500 events/s on this loaded machine), and it is started again: it recovers them,
and once it replied to a message sent at its start, its RSS is read (/proc). Last, it is
SIGKILLed and started again on the same state dir with everything in its state: the figure
is the time from that start to its reply to a message sent at once (it serves again). On
RocksDB it reads its local store and the changelog's tail, in memory the whole changelog. The
load average is printed with each figure (the machine is shared)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

from bench.processors.restart import cpu_seconds, running_broker, worker_env
from hookstream.embedded import processes
from hookstream.runtime.kafka import ensure_topics, new_consumer, new_producer
from hookstream.runtime.settings import KafkaSettings
from ingress.splitter import split
from processors.state import ConversationState

PER_BODY = 100


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def records(first: int, count: int, tag: str) -> list[tuple[bytes, bytes]]:
    """One message from each of the users first..first+count-1, as the ingress would split."""
    now = int(time.time() * 1000)
    out: list[tuple[bytes, bytes]] = []
    for start in range(first, first + count, PER_BODY):
        items = [
            {
                "sender": {"id": f"{tag}{i}"},
                "recipient": {"id": "1001"},
                "timestamp": now,
                "message": {"mid": f"{tag}m{i}", "text": "hello"},
            }
            for i in range(start, min(start + PER_BODY, first + count))
        ]
        body = {"object": "page", "entry": [{"id": "1001", "messaging": items}]}
        out += [(r.key, r.value) for r in split(body, now, "bench")]
    return out


async def produce(kafka: KafkaSettings, batch: list[tuple[bytes, bytes]], topic: str = "") -> None:
    producer = new_producer(kafka, linger_ms=50)
    await producer.start()
    try:
        topic, pending = topic or kafka.topic("inbound"), []
        for key, value in batch:
            pending.append(await producer.send(topic, value, key=key))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


class Worker:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.port = processes.free_port("127.0.0.1")
        argv = ["-m", "hookstream", "processors", "--host", "127.0.0.1", "--port"]
        with log.open("ab") as out:
            self.process = processes.spawn(
                [sys.executable, *argv, str(self.port)], env=env, stdout=out, stderr=out
            )

    async def events(self) -> float:
        """Events processed since this start (the sum of the per-kind counter)."""
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                text = (await client.get(f"http://127.0.0.1:{self.port}/metrics")).text
        except httpx.HTTPError:
            return 0.0
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("hookstream_processor_events_total{")
        )

    async def until_processed(self, total: int, timeout_s: float) -> float:
        started = time.monotonic()
        while (done := await self.events()) < total:
            if self.process.poll() is not None:
                raise SystemExit(f"worker exited: {self.log.read_text()[-2000:]}")
            if time.monotonic() - started > timeout_s:
                raise SystemExit(f"only {done:.0f} of {total} processed in {timeout_s} s")
            await asyncio.sleep(1.0)
        return time.monotonic() - started


def state_records(first: int, count: int, tag: str) -> list[tuple[bytes, bytes]]:
    """The stored state of users first..first+count-1 after one message and its reply."""
    now = int(time.time() * 1000)
    out = []
    for i in range(first, first + count):
        mid = f"message:{tag}m{i}"
        state = ConversationState(
            history=(
                {
                    "event_id": mid,
                    "kind": "message",
                    "direction": "in",
                    "text": "hello",
                    "time_ms": now,
                },
            ),
            last_inbound_ms=now,
            seen={mid: now},
            recent_replies_ms=(now,),
        )
        out.append((f"1001:{tag}{i}".encode(), state.encode()))
    return out


async def time_to_serve(
    kafka: KafkaSettings, env: dict[str, str], log: Path, probe: int, label: str
) -> Worker:
    """Start a worker, send one new message at once; seconds until its reply is on outbound."""
    consumer = new_consumer(kafka, kafka.topic("outbound"), group_id=None)
    await consumer.start()
    cause = f"message:probe{probe}m0"
    try:
        await consumer.seek_to_end()
        started = time.monotonic()
        worker = Worker(env, log)
        await produce(kafka, records(0, 1, f"probe{probe}"))
        while time.monotonic() - started < 1800:
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                for record in batch:
                    if orjson.loads(record.value).get("cause_event_id") == cause:
                        seconds = time.monotonic() - started
                        cpu = cpu_seconds(worker.process.pid)
                        print(
                            f"  {label}: start -> serving {seconds:6.1f} s (worker CPU"
                            f" {cpu:.1f} s; load {load()})",
                            flush=True,
                        )
                        return worker
        raise SystemExit("no reply within 30 min")
    finally:
        await consumer.stop()


def kill(worker: Worker) -> None:
    worker.process.kill()  # SIGKILL: no goodbye
    worker.process.wait()


async def one_store(args: argparse.Namespace, bootstrap: str, store: str, root: Path) -> None:
    """The state is created the fastest way: its records written straight to the table's
    changelog while the worker is down (what processing one message from each user leaves
    there); the next start recovers them (the RSS figure is read after that)."""
    kafka = KafkaSettings(
        bootstrap_servers=bootstrap,
        topic_prefix=f"state-{store}.",
        partitions=args.partitions,
        enable_idempotence=False,
    )
    await ensure_topics(kafka)
    base = root / store
    base.mkdir()
    env = {**worker_env(kafka, base, "static", None), "HOOKSTREAM_PROCESSORS_STORE": store}
    log = base / "worker.log"
    changelog = f"{kafka.topic('processors')}-conversations-changelog"
    print(f"{store}: {args.partitions} partitions, state dir {base / 'state'}", flush=True)
    worker = await time_to_serve(kafka, env, log, 0, "empty table")  # declares the changelog
    done, probe = 0, 1
    try:
        for size in args.sizes:
            kill(worker)
            batch = state_records(done, size - done, "u")
            started = time.monotonic()
            await produce(kafka, batch, changelog)
            produced = time.monotonic() - started
            worker = await time_to_serve(kafka, env, log, probe, f"{size - done} states added")
            done, probe = size, probe + 1
            await asyncio.sleep(args.settle)
            print(
                f"  {size:>7} conversations: RSS {rss_mb(worker.process.pid):6.0f} MB "
                f"(states produced in {produced:.0f} s; load {load()})",
                flush=True,
            )
        kill(worker)
        worker = await time_to_serve(kafka, env, log, probe, f"restart with {done} in state")
        print(f"  after the restart: RSS {rss_mb(worker.process.pid):.0f} MB", flush=True)
    finally:
        processes.stop(worker.process)
    tables = base / "state" / "faust"
    disk = sum(p.stat().st_size for p in tables.rglob("*") if p.is_file()) / 1e6
    print(f"  on disk under state/faust: {disk:.0f} MB", flush=True)


async def bench(args: argparse.Namespace, bootstrap: str, root: Path) -> None:
    for store in args.stores:
        await one_store(args, bootstrap, store, root)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.processors.state")
    parser.add_argument("--stores", nargs="+", choices=("rocksdb", "memory"), default=None)
    parser.add_argument("--sizes", nargs="+", type=int, default=[10_000, 200_000])
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--settle", type=float, default=5.0)
    args = parser.parse_args()
    args.stores = args.stores or ["rocksdb", "memory"]
    return args


def main() -> None:
    args = parse_args()
    logging.getLogger("aiokafka").setLevel(logging.ERROR)  # fresh topics: leader retries
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
        f"load {load()}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench-state-") as tmp:
        with running_broker("kafka", Path(tmp)) as (bootstrap, _idempotent):
            asyncio.run(bench(args, bootstrap, Path(tmp)))


if __name__ == "__main__":
    main()
