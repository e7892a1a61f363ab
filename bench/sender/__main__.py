"""`python -m bench.sender`: commands/s the sender delivers to the Send API sandbox (1 page and
100 pages), and command -> delivered latency p50/p99 at a steady offered rate, beside the
baselines in the same run: the sender's own HTTP client (GraphClient: httpx.AsyncClient on the
keep-alive transport) posting straight to the same sandbox, no Kafka, no ledger (the ceiling),
and stock httpx (httpcore, 16 pools of 4 connections) for reference.

Every service is its own process (embedded broker, `hookstream sandbox`, `hookstream sender`);
figures come from the sender's DeliveryResult facts on `analytics`; at an offered rate the
sender's CPU use (percent of one core, from /proc) is reported too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson

from hookstream.embedded import processes
from hookstream.embedded.tansu import EmbeddedBroker
from hookstream.runtime.kafka import ensure_topics, new_consumer, new_producer
from hookstream.runtime.settings import KafkaSettings, SenderSettings
from schemas.analytics import DeliveryResult, decode_fact
from schemas.commands import OutboundCommand, command_id_for
from senders.graph import GraphClient, _fast_missing_sniffio

TOKEN = "bench-token"  # noqa: S105 - the sandbox's made-up page token
RESULTS = Path("bench/results/sender.json")


@dataclass(frozen=True)
class Env:
    broker: str
    sandbox_url: str
    pages_file: Path


def kafka_for(env: Env, prefix: str) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=env.broker,
        topic_prefix=prefix,
        partitions=8,
        enable_idempotence=False,
        request_timeout_s=30.0,
    )


def commands(pages: int, count: int, run: str) -> list[OutboundCommand]:
    users = max(1, 64 // pages)
    now = int(time.time() * 1000)
    return [
        OutboundCommand(
            command_id=command_id_for(f"{run}-{i}", 0),
            page_id=str(10_000 + i % pages),
            recipient_id=f"u{(i // pages) % users}",
            created_at_ms=now,
            message={"text": f"m{i}"},
            conversation_id=f"{10_000 + i % pages}:u{(i // pages) % users}",
        )
        for i in range(count)
    ]


async def produce(kafka: KafkaSettings, batch: list[OutboundCommand], rate: float = 0.0) -> None:
    producer = new_producer(kafka, linger_ms=5)
    await producer.start()
    try:
        started, futures = time.monotonic(), []
        for index, c in enumerate(batch):
            if rate:
                ahead = started + index / rate - time.monotonic()
                if ahead > 0:
                    await asyncio.sleep(ahead)
                c = OutboundCommand(
                    **{
                        **{f: getattr(c, f) for f in c.__dataclass_fields__},
                        "created_at_ms": int(time.time() * 1000),
                    }
                )
            futures.append(
                await producer.send(
                    kafka.topic("outbound"), c.encode(), key=c.conversation_id.encode()
                )
            )
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def delivered_facts(
    kafka: KafkaSettings, expected: int, timeout_s: float
) -> list[DeliveryResult]:
    consumer = new_consumer(kafka, kafka.topic("analytics"), group_id=None)
    await consumer.start()
    facts: list[DeliveryResult] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(facts) < expected and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    fact = decode_fact(record.value)
                    if isinstance(fact, DeliveryResult) and fact.status == "delivered":
                        facts.append(fact)
    finally:
        await consumer.stop()
    return facts


def start_sender(env: Env, kafka: KafkaSettings, rate_per_page: float):  # type: ignore[no-untyped-def]
    child_env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": env.broker,
        "HOOKSTREAM_TOPIC_PREFIX": kafka.topic_prefix,
        "KAFKA_ENABLE_IDEMPOTENCE": "false",
        "GRAPH_API_BASE_URL": env.sandbox_url,
        "HOOKSTREAM_PAGES_FILE": str(env.pages_file),
        "HOOKSTREAM_SENDER_PAGE_RATE_PER_S": str(rate_per_page),
        "HOOKSTREAM_LOG_LEVEL": "WARNING",
        "HOOKSTREAM_SENDER_SESSION_TIMEOUT_S": "3",
        "HOOKSTREAM_SENDER_CONSUMER_GROUP": "bench",
    }
    return processes.spawn(
        [sys.executable, "-m", "hookstream", "sender", "--port", str(processes.free_port())],
        env=child_env,
    )


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of processes, from /proc (Linux)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


async def run_case(
    env: Env, pages: int, count: int, rate_per_page: float, offered: float = 0.0, senders: int = 1
) -> dict[str, float]:
    kafka = kafka_for(env, f"b{uuid.uuid4().hex[:8]}.")
    await ensure_topics(kafka)
    batch = commands(pages, count, kafka.topic_prefix)
    if not offered:
        await produce(kafka, batch)  # a backlog: measures how fast the sender drains it
    running = [start_sender(env, kafka, rate_per_page) for _ in range(senders)]
    pids = [process.pid for process in running]
    try:
        if offered:
            await asyncio.sleep(6 * senders)  # let the senders join their group before the load
        started, cpu_before = time.monotonic(), cpu_seconds(pids)
        if offered:
            await produce(kafka, batch, offered)
        facts = await delivered_facts(kafka, count, timeout_s=20 + count / 100)
        cpu_pct = 100 * (cpu_seconds(pids) - cpu_before) / (time.monotonic() - started)
    finally:
        for process in running:
            processes.stop(process)
    finished = sorted(f.finished_at_ms for f in facts)
    span_s = max(0.001, (finished[-1] - finished[0]) / 1000) if finished else 1.0
    latencies = sorted(f.latency_ms for f in facts)
    figures = {
        "delivered": len(facts),
        "per_s": round(len(facts) / span_s, 1),
        "p50_ms": _pct(latencies, 50),
        "p99_ms": _pct(latencies, 99),
    }
    if offered:  # a backlog's CPU would count the wait for the group join
        figures["sender_cpu_pct"] = round(cpu_pct, 1)
    return figures


def _pct(values: list[int], pct: int) -> float:
    if not values:
        return float("nan")
    return float(statistics.quantiles(values, n=100)[pct - 1]) if len(values) > 1 else values[0]


BODY = {"recipient": {"id": "u1"}, "messaging_type": "RESPONSE", "message": {"text": "hello"}}


async def closed_loop(
    post: Callable[[int], Awaitable[object]], count: int, concurrency: int = 64
) -> dict[str, float]:
    """`count` calls, `concurrency` at a time: calls/s and this process's CPU per call (the
    sandbox runs in its own process)."""
    queue = list(range(count))

    async def worker() -> None:
        while queue:
            await post(queue.pop())

    started, cpu_before = time.monotonic(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed, cpu_s = time.monotonic() - started, time.process_time() - cpu_before
    return {
        "delivered": count,
        "per_s": round(count / elapsed, 1),
        "client_cpu_us_per_call": round(1e6 * cpu_s / count, 1),
    }


async def graph_baseline(url: str, count: int) -> dict[str, float]:
    """The sender's HTTP client alone (GraphClient, keep-alive transport), 100 pages."""
    client = GraphClient(SenderSettings(graph_api_base_url=url))
    try:
        return await closed_loop(lambda i: client.send(str(10_000 + i % 100), TOKEN, BODY), count)
    finally:
        await client.close()


async def stock_httpx_baseline(url: str, count: int, pools: int = 16) -> dict[str, float]:
    """httpx on its default transport (httpcore): `pools` clients sharing 64 connections."""
    _fast_missing_sniffio()
    body = orjson.dumps(BODY)
    limits = httpx.Limits(max_connections=64 // pools)
    clients = [httpx.AsyncClient(base_url=url, limits=limits) for _ in range(pools)]
    try:
        return await closed_loop(
            lambda i: clients[i % pools].post(
                f"/v24.0/{10_000}/messages", params={"access_token": TOKEN}, content=body
            ),
            count,
        )
    finally:
        for client in clients:
            await client.aclose()


async def main(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    work = Path(tempfile.mkdtemp(prefix="bench-sender-"))
    pages_file = work / "pages.yaml"
    pages_file.write_text(
        "pages:\n" + "".join(f'  "{10_000 + i}": {{access_token: {TOKEN}}}\n' for i in range(100))
    )
    sandbox_port = processes.free_port()
    with EmbeddedBroker(log_path=work / "broker.log") as broker:
        sandbox = processes.spawn(
            [sys.executable, "-m", "hookstream", "sandbox", "--port", str(sandbox_port)],
            env={
                **os.environ,
                "HOOKSTREAM_PAGES_FILE": str(pages_file),
                "HOOKSTREAM_LOG_LEVEL": "WARNING",
            },
        )
        try:
            url = f"http://127.0.0.1:{sandbox_port}"
            await wait_port(sandbox_port)
            env = Env(broker.bootstrap_servers, url, pages_file)
            n = args.commands
            results = {
                "graph_client_only": await graph_baseline(url, n * 2),
                "stock_httpx_16_pools_of_4": await stock_httpx_baseline(url, n),
            }
            results["sender_1_page_default_250_per_s"] = await run_case(env, 1, n // 8, 250.0)
            results["sender_1_page_unlimited"] = await run_case(env, 1, n, 1e6)
            results["sender_100_pages"] = await run_case(env, 100, n, 250.0)
            for rate in (args.rate // 2, args.rate):
                results[f"sender_100_pages_offered_{rate}_per_s"] = await run_case(
                    env, 100, int(rate * args.seconds), 250.0, offered=rate
                )
            if args.scale_out:
                results[f"2_senders_100_pages_offered_{args.rate}_per_s"] = await run_case(
                    env, 100, int(args.rate * args.seconds), 250.0, offered=args.rate, senders=2
                )
        finally:
            processes.stop(sandbox)
    return results


async def wait_port(port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not processes.port_open("127.0.0.1", port):
        if time.monotonic() > deadline:
            raise SystemExit(f"the sandbox did not listen on {port}")
        await asyncio.sleep(0.1)


def report(results: dict[str, dict[str, float]]) -> None:
    base = results["graph_client_only"]["per_s"]
    print(
        f"{'case':<40} {'delivered':>9} {'per s':>9} {'vs client':>9} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'CPU %':>6}"
    )
    nan = float("nan")
    for name, figures in results.items():
        print(
            f"{name:<40} {figures['delivered']:>9.0f} {figures['per_s']:>9.1f} "
            f"{figures['per_s'] / base:>9.2f} {figures.get('p50_ms', nan):>8.1f} "
            f"{figures.get('p99_ms', nan):>8.1f} {figures.get('sender_cpu_pct', nan):>6.1f}"
        )
    for name, figures in results.items():
        if "client_cpu_us_per_call" in figures:
            print(f"{name}: {figures['client_cpu_us_per_call']:.0f} us of client CPU per call")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.sender")
    parser.add_argument("--commands", type=int, default=6000, help="backlog size per case")
    parser.add_argument("--rate", type=int, default=1000, help="offered commands/s")
    parser.add_argument("--seconds", type=float, default=8.0, help="duration at --rate")
    parser.add_argument(
        "--scale-out", action="store_true", help="also two sender processes in one group at --rate"
    )
    arguments = parser.parse_args()
    outcome = asyncio.run(main(arguments))
    report(outcome)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(outcome, indent=2) + "\n")
