"""`python -m bench.sender.outage`: a long Send API outage (2 minutes by default) under a steady
stream of replies, with the sender's DEFAULT retry settings, optionally a kill -9 of the sender
in the middle of it. Counts what matters: every reply delivered after the outage, once, in
order per conversation; nothing dead-lettered; how long the backlog took to drain.

The broker is a local Apache Kafka (the default, needs Java 17 and Maven) or the embedded Tansu
broker (`--broker embedded`); the Send API is the sandbox (in this process, real HTTP), whose
fault injection fails every call while the outage lasts (503 with HTML, Meta error 2, calls
hung for 2 s); the sender is `hookstream sender`, a child process.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from hookstream.embedded import processes
from hookstream.embedded.apache_kafka import ApacheKafka
from hookstream.embedded.tansu import EmbeddedBroker
from hookstream.runtime.kafka import ensure_topics, new_consumer, new_producer
from hookstream.runtime.settings import KafkaSettings
from hookstream.sandbox.app import Sandbox, sandbox_tokens
from hookstream.sandbox.faults import parse_faults
from hookstream.sandbox.server import serving
from schemas.commands import OutboundCommand, command_id_for
from schemas.dlq import decode_dead_letter

RESULTS = Path("bench/results/sender_outage.json")
OUTAGE = [{"status": 503, "rate": 0.4}, {"code": 2, "timeout_s": 2, "rate": 0.1}, {"code": 2}]


@contextlib.contextmanager
def broker(kind: str, root: Path) -> Iterator[tuple[str, bool]]:
    """(bootstrap servers, idempotent producer possible)."""
    if kind == "embedded":
        with EmbeddedBroker(log_path=root / "broker.log") as tansu:
            yield tansu.bootstrap_servers, False
        return
    with ApacheKafka(root / "kafka") as kafka:
        yield kafka.bootstrap_servers, True


class Sender:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log, self.port = env, log, processes.free_port()
        self.process: Any = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = processes.spawn(
                [sys.executable, "-m", "hookstream", "sender", "--port", str(self.port)],
                env=self.env,
                stdout=out,
                stderr=out,
            )

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None:
            processes.stop(self.process)

    async def serving(self, timeout_s: float = 120.0) -> None:
        """Wait until it serves its metrics; stop the run if it exited instead."""
        deadline = time.monotonic() + timeout_s
        while await self.gauge("hookstream_sender_in_flight") < 0:
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = self.log.read_text(errors="replace")[-2000:]
                raise SystemExit(f"the sender did not start:\n{tail}")
            await asyncio.sleep(0.5)

    async def gauge(self, name: str) -> float:
        with contextlib.suppress(httpx.HTTPError):
            async with httpx.AsyncClient(timeout=2.0) as client:
                text = (await client.get(f"http://127.0.0.1:{self.port}/metrics")).text
            for line in text.splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[-1])
        return -1.0


def command(page: str, user: str, index: int, run: str) -> OutboundCommand:
    return OutboundCommand(
        command_id=command_id_for(f"{run}-{page}-{user}-{index}", 0),
        page_id=page,
        recipient_id=user,
        conversation_id=f"{page}:{user}",
        created_at_ms=int(time.time() * 1000),
        message={"text": f"{user} #{index}"},
    )


async def produce_steadily(
    kafka: KafkaSettings, rate: float, seconds: float, pages: list[str], users: int, run: str
) -> list[OutboundCommand]:
    producer = new_producer(kafka, linger_ms=5)
    await producer.start()
    sent: list[OutboundCommand] = []
    counters: collections.Counter[str] = collections.Counter()
    started = time.monotonic()
    try:
        for i in range(int(rate * seconds)):
            ahead = started + i / rate - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(ahead)
            page, user = pages[i % len(pages)], f"u{(i // len(pages)) % users}"
            c = command(page, user, counters[f"{page}:{user}"], run)
            counters[c.conversation_id] += 1
            await producer.send(kafka.topic("outbound"), c.encode(), key=c.conversation_id.encode())
            sent.append(c)
        await producer.flush()
    finally:
        await producer.stop()
    return sent


async def dead_letter_reasons(kafka: KafkaSettings) -> dict[str, int]:
    consumer = new_consumer(kafka, kafka.topic("dlq"), group_id=None)
    await consumer.start()
    reasons: collections.Counter[str] = collections.Counter()
    try:
        idle = 0
        while idle < 3:
            batch = await consumer.getmany(timeout_ms=500)
            idle = 0 if batch else idle + 1
            for records in batch.values():
                for record in records:
                    reasons[decode_dead_letter(record.value).reason] += 1
    finally:
        await consumer.stop()
    return dict(reasons)


def _pct(values: list[float], pct: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return round(statistics.quantiles(values, n=100)[pct - 1], 1)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-outage-"))
    pages = [str(20_000 + i) for i in range(args.pages)]
    pages_file = work / "pages.yaml"
    pages_file.write_text(
        "pages:\n" + "".join(f'  "{p}": {{access_token: token-{p}}}\n' for p in pages)
    )
    sandbox = Sandbox(sandbox_tokens({p: f"token-{p}" for p in pages}, ()))
    with broker(args.broker, work) as (bootstrap, idempotent):
        kafka = KafkaSettings(
            bootstrap_servers=bootstrap,
            topic_prefix=f"o{uuid.uuid4().hex[:8]}.",
            partitions=8,
            enable_idempotence=idempotent,
            request_timeout_s=30.0,
        )
        await ensure_topics(kafka)
        async with serving(sandbox) as url:
            env = {
                **{
                    k: v
                    for k, v in os.environ.items()
                    if not k.startswith(("HOOKSTREAM_", "KAFKA_"))
                },
                "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                "HOOKSTREAM_TOPIC_PREFIX": kafka.topic_prefix,
                "KAFKA_PARTITIONS": "8",
                "KAFKA_ENABLE_IDEMPOTENCE": "true" if idempotent else "false",
                "GRAPH_API_BASE_URL": url,
                "HOOKSTREAM_PAGES_FILE": str(pages_file),
                "HOOKSTREAM_LOG_LEVEL": "WARNING",
                "HOOKSTREAM_SENDER_SESSION_TIMEOUT_S": "6",
            }  # the retry settings are the defaults: that is what this run shows
            sender = Sender(env, work / "sender.log")
            sender.start()
            try:
                return await _scenario(args, kafka, sandbox, sender, pages, work)
            finally:
                sender.stop()


async def _scenario(
    args: argparse.Namespace,
    kafka: KafkaSettings,
    sandbox: Sandbox,
    sender: Sender,
    pages: list[str],
    work: Path,
) -> dict[str, Any]:
    await sender.serving()
    await asyncio.sleep(5)  # the group join
    total_s = args.before_s + args.outage_s + args.after_s
    run_id = uuid.uuid4().hex[:6]
    production = asyncio.create_task(
        produce_steadily(kafka, args.rate, total_s, pages, args.users, run_id)
    )
    began = time.monotonic()
    peak_retrying, killed_at = 0.0, None
    await asyncio.sleep(args.before_s)
    sandbox.faults = parse_faults(json.dumps(OUTAGE))
    outage_began, outage_began_ms = time.monotonic(), int(time.time() * 1000)
    while time.monotonic() - outage_began < args.outage_s:
        peak_retrying = max(peak_retrying, await sender.gauge("hookstream_sender_retrying"))
        if (
            args.kill_at_s
            and killed_at is None
            and time.monotonic() - outage_began >= args.kill_at_s
        ):
            sender.kill()
            killed_at = round(time.monotonic() - outage_began, 1)
            sender.start()
            await sender.serving()
        await asyncio.sleep(1.0)
    rejected_in_outage = sandbox.store.counts["rejected"]
    sandbox.faults = []
    outage_ended, outage_ended_ms = time.monotonic(), int(time.time() * 1000)
    commands = await production
    production_ended = time.monotonic()
    wanted = {c.command_id for c in commands}
    deadline = time.monotonic() + args.drain_timeout_s
    drained_at = None
    while time.monotonic() < deadline:
        got = {m["metadata"].split(":")[1] for m in sandbox.store.messages if m.get("metadata")}
        if got >= wanted:
            drained_at = time.monotonic()
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(3)  # anything sent twice would arrive now
    messages = [m for m in sandbox.store.messages if m.get("metadata")]
    ids = [m["metadata"].split(":")[1] for m in messages]
    counts = collections.Counter(ids)
    planned: dict[str, list[str]] = collections.defaultdict(list)
    for c in commands:
        planned[c.conversation_id].append(c.command_id)
    seen: dict[str, list[str]] = collections.defaultdict(list)
    for cid, m in zip(ids, messages, strict=True):
        key = f"{m['page_id']}:{m['recipient_id']}"
        if cid not in seen[key]:
            seen[key].append(cid)
    created = {c.command_id: c.created_at_ms for c in commands}
    first_receipt: dict[str, int] = {}
    for cid, m in zip(ids, messages, strict=True):
        first_receipt.setdefault(cid, m["received_at_ms"])
    in_outage = [
        (first_receipt[cid] - created[cid]) / 1000
        for cid in wanted & first_receipt.keys()
        if outage_began_ms <= created[cid] < outage_ended_ms
    ]
    after = sorted(t - outage_ended_ms for t in first_receipt.values() if t >= outage_ended_ms)
    timeline = collections.Counter(int(t // 5000) * 5 for t in after)
    return {
        "broker": args.broker,
        "outage_s": args.outage_s,
        "offered_per_s": args.rate,
        "conversations": len(planned),
        "replies_planned": len(commands),
        "replies_delivered": len(wanted & counts.keys()),
        "lost": len(wanted - counts.keys()),
        "sent_twice": sum(1 for n in counts.values() if n > 1),
        "conversations_out_of_order": sum(1 for k, v in planned.items() if seen.get(k) != v),
        "dead_letters": await dead_letter_reasons(kafka),
        "calls_failed_in_outage": rejected_in_outage,
        "peak_commands_retrying": peak_retrying,
        "sender_killed_at_s_into_outage": killed_at,
        "drained_s_after_outage": round(drained_at - outage_ended, 1) if drained_at else None,
        "production_ended_s_after_outage": round(production_ended - outage_ended, 1),
        "first_delivery_s_after_outage": round(after[0] / 1000, 2) if after else None,
        "first_deliveries_per_5_s_after_outage": dict(sorted(timeline.items())),
        "planned_in_outage_delivered_after_s": {
            "p50": _pct(in_outage, 50),
            "p99": _pct(in_outage, 99),
            "max": round(max(in_outage), 1) if in_outage else None,
        },
        "run_s": round(time.monotonic() - began, 1),
        "work_dir": str(work),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.sender.outage")
    parser.add_argument("--broker", choices=("kafka", "embedded"), default="kafka")
    parser.add_argument("--outage-s", type=float, default=120.0)
    parser.add_argument("--before-s", type=float, default=15.0)
    parser.add_argument("--after-s", type=float, default=15.0)
    parser.add_argument("--rate", type=float, default=50.0, help="replies/s offered throughout")
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--users", type=int, default=20, help="per page")
    parser.add_argument("--kill-at-s", type=float, default=60.0, help="0: no kill -9")
    parser.add_argument("--drain-timeout-s", type=float, default=300.0)
    figures = asyncio.run(run(parser.parse_args()))
    print(json.dumps(figures, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
