"""`python -m bench.ingress.slow_clients`: the ingress's memory and its latency for normal
webhooks while many slow clients hold connections (issue 11, item 4).

Each slow client declares a 1,000,000-byte body, sends `--sent` bytes of it and stalls; when
the ingress cuts it (408 after the body timeout, 503 when the bytes in flight are capped) it
connects again a second later, so the pressure stays for the whole measurement. The slow
clients run in a process of their own; meanwhile this one posts normal signed webhooks back to
back. Reported: the ingress's RSS idle and at its peak, normal
webhooks' p50/p99 before and during, and how the slow clients were answered.

`--tree DIR` runs the ingress from another checkout (e.g. the code before a change), with the
same broker, the same load and the same measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shlex
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

from bench.ingress.__main__ import SECRET, typical_body, wait_ready
from hookstream.embedded import processes
from hookstream.embedded.tansu import EmbeddedBroker
from hookstream.runtime.kafka import ensure_topics
from hookstream.runtime.settings import Settings
from ingress.signature import sign


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def slow_client(port: int, sent: int, stop: asyncio.Event, answers: Counter[str]) -> None:
    head = (
        b"POST /webhook HTTP/1.1\r\nhost: ingress\r\ncontent-type: application/json\r\n"
        b"content-length: 1000000\r\nx-hub-signature-256: sha256=00\r\n\r\n"
    )
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            answers["connect_failed"] += 1
            await asyncio.sleep(0.1)
            continue
        try:
            writer.write(head + b"x" * sent)
            await writer.drain()
            reader_task = asyncio.ensure_future(reader.read(100))
            stopper = asyncio.ensure_future(stop.wait())
            done, _ = await asyncio.wait(
                {reader_task, stopper}, return_when=asyncio.FIRST_COMPLETED
            )
            stopper.cancel()
            if reader_task in done:
                first = reader_task.result()
                answers[
                    first.split(b" ", 2)[1].decode() if first[:5] == b"HTTP/" else "closed"
                ] += 1
            else:
                reader_task.cancel()
        except OSError:
            answers["reset"] += 1
        finally:
            writer.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)  # a slow client, not a flood


async def normal_latencies(url: str, seconds: float) -> list[float]:
    body = typical_body()
    headers = {"content-type": "application/json", "x-hub-signature-256": sign(body, SECRET)}
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            started = time.perf_counter()
            response = await client.post("/webhook", content=body, headers=headers)
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"a normal webhook got {response.status_code}: {response.text}")
    return latencies


def quantiles(values: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(values, n=100)
    return round(cuts[49], 2), round(cuts[98], 2)


async def slow_clients(port: int, clients: int, sent: int, seconds: float) -> None:
    """The child process's work: hold the slow clients for `seconds`, print the answers."""
    stop, answers = asyncio.Event(), Counter[str]()
    tasks = [asyncio.create_task(slow_client(port, sent, stop, answers)) for _ in range(clients)]
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*tasks)
    print(json.dumps(dict(answers)))


async def measure(args: argparse.Namespace, pid: int, port: int) -> dict[str, object]:
    url = f"http://127.0.0.1:{port}"
    await normal_latencies(url, 2)  # warm-up
    idle = rss_mb(pid)
    before = await normal_latencies(url, args.seconds)
    hold_s = args.seconds + 3
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.ingress.slow_clients",
        "--role",
        "slow",
        "--port",
        str(port),
        "--clients",
        str(args.clients),
        "--sent",
        str(args.sent),
        "--seconds",
        str(hold_s),
        stdout=asyncio.subprocess.PIPE,
    )
    peak = idle
    sampler_done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not sampler_done.is_set():
            peak = max(peak, rss_mb(pid))
            await asyncio.sleep(0.1)

    sampler = asyncio.create_task(sample())
    await asyncio.sleep(2)  # let the slow clients connect and send
    during = await normal_latencies(url, args.seconds)
    output, _ = await child.communicate()
    sampler_done.set()
    await sampler
    return {
        "slow_clients": args.clients,
        "bytes_sent_each": args.sent,
        "rss_idle_mb": round(idle, 1),
        "rss_peak_mb": round(peak, 1),
        "normal_before_p50_p99_ms": quantiles(before),
        "normal_during_p50_p99_ms": quantiles(during),
        "normal_before_requests": len(before),
        "normal_during_requests": len(during),
        "slow_answers": json.loads(output or b"{}"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--sent", type=int, default=900_000, help="body bytes each sends")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--tree", type=Path, default=Path.cwd(), help="checkout to run")
    parser.add_argument("--role", choices=["measure", "slow"], default="measure")
    parser.add_argument("--port", type=int, default=0, help="with --role slow")
    args = parser.parse_args()
    if args.role == "slow":
        asyncio.run(slow_clients(args.port, args.clients, args.sent, args.seconds))
        return
    with (
        tempfile.TemporaryDirectory() as tmp,
        EmbeddedBroker(log_path=Path(tmp) / "b.log") as broker,
    ):
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "KAFKA_ENABLE_IDEMPOTENCE": "false",
            "HOOKSTREAM_APP_SECRETS": SECRET,
            "HOOKSTREAM_VERIFY_TOKEN": "bench",
            "HOOKSTREAM_LOG_LEVEL": "ERROR",
        }
        asyncio.run(ensure_topics(Settings.from_env(env).kafka))
        port = processes.free_port()
        tree = shlex.quote(str(args.tree.resolve()))
        command = f"cd {tree} && exec {shlex.quote(sys.executable)} -m hookstream ingress"
        child = processes.spawn(["/bin/sh", "-c", f"{command} --port {port}"], env=env)
        try:
            wait_ready(f"http://127.0.0.1:{port}/readyz")
            result = asyncio.run(measure(args, child.pid, port))
        finally:
            processes.stop(child)
    result["tree"] = str(args.tree)
    for key, value in result.items():
        print(f"{key:<28} {value}")


if __name__ == "__main__":
    main()
