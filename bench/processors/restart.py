"""Restart to first reply: how long a SIGKILLed processors worker takes to answer again.

    .venv/bin/python -m bench.processors.restart                  # Apache Kafka and Tansu
    .venv/bin/python -m bench.processors.restart --broker kafka   # one broker only
    .venv/bin/python -m bench.processors.restart --rounds 3 --membership static dynamic

Per round: a worker (`hookstream processors`, a child process) answers a steady trickle of
messages (one every `--interval` seconds, each from a new conversation); it is SIGKILLed, started
again at once, and the figure is the time from that restart to the first reply (on `outbound`)
to a message sent after the kill. `static` is the default membership (group.instance.id from the
member slot, processors/member.py), `dynamic` sets HOOKSTREAM_PROCESSORS_INSTANCE_ID=off.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import orjson

from hookstream.embedded import processes
from hookstream.runtime.kafka import ensure_topics, new_consumer, new_producer
from hookstream.runtime.settings import KafkaSettings
from ingress.splitter import split

PAGES = 'pages:\n  "1001":\n    fallback: {text: "Thanks!"}\n'


@contextlib.contextmanager
def running_broker(kind: str, root: Path) -> Iterator[tuple[str, bool]]:
    if kind == "kafka":
        from hookstream.embedded.apache_kafka import ApacheKafka

        with ApacheKafka(root / "kafka") as kafka:
            yield kafka.bootstrap_servers, True
    else:
        from hookstream.embedded.tansu import EmbeddedBroker

        with EmbeddedBroker(log_path=root / "tansu.log") as broker:
            yield broker.bootstrap_servers, False


def worker_env(
    kafka: KafkaSettings, root: Path, membership: str, session_timeout_s: float | None
) -> dict[str, str]:
    pages = root / "pages.yaml"
    pages.write_text(PAGES)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOOKSTREAM_", "KAFKA_"))}
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap_servers,
        KAFKA_ENABLE_IDEMPOTENCE="false",
        HOOKSTREAM_TOPIC_PREFIX=kafka.topic_prefix,
        KAFKA_PARTITIONS=str(kafka.partitions),
        HOOKSTREAM_PAGES_FILE=str(pages),
        HOOKSTREAM_STATE_DIR=str(root / "state"),
        HOOKSTREAM_PROCESSORS_RATE_LIMIT_COUNT="1000000",
        HOOKSTREAM_LOG_FORMAT="text",
    )
    if membership == "dynamic":
        env["HOOKSTREAM_PROCESSORS_INSTANCE_ID"] = "off"
    if session_timeout_s is not None:
        env["HOOKSTREAM_PROCESSORS_SESSION_TIMEOUT_S"] = str(session_timeout_s)
    return env


def spawn_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    port = processes.free_port("127.0.0.1")
    argv = [sys.executable, "-m", "hookstream", "processors", "--port", str(port)]
    with log.open("ab") as out:
        return processes.spawn(argv, env=env, stdout=out, stderr=out)


def message(seq: int) -> list[tuple[bytes, bytes]]:
    event = {
        "sender": {"id": f"r{seq}"},
        "recipient": {"id": "1001"},
        "timestamp": int(time.time() * 1000),
        "message": {"mid": f"restart-{seq}", "text": "hello"},
    }
    body = {"object": "page", "entry": [{"id": "1001", "messaging": [event]}]}
    return [(r.key, r.value) for r in split(body, int(time.time() * 1000), "bench")]


class Trickle:
    """One message every `interval_s`; remembers when each was sent."""

    def __init__(self, kafka: KafkaSettings, interval_s: float) -> None:
        self.kafka, self.interval_s = kafka, interval_s
        self.sent: dict[str, float] = {}
        self.seq = 0

    async def run(self, stop: asyncio.Event) -> None:
        producer = new_producer(self.kafka)
        await producer.start()
        try:
            while not stop.is_set():
                self.seq += 1
                for key, value in message(self.seq):
                    await producer.send_and_wait(self.kafka.topic("inbound"), value, key=key)
                self.sent[f"message:restart-{self.seq}"] = time.monotonic()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.interval_s)
        finally:
            await producer.stop()


async def first_reply_after(
    kafka: KafkaSettings, trickle: Trickle, after: float, timeout_s: float
) -> float | None:
    """monotonic time of the first reply (read from the start of `outbound`) to a message sent
    after `after`."""
    consumer = new_consumer(kafka, kafka.topic("outbound"), group_id=None)
    await consumer.start()
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=100)).values():
                for record in records:
                    cause = orjson.loads(record.value).get("cause_event_id", "")
                    if trickle.sent.get(cause, 0.0) > after:
                        return time.monotonic()
    finally:
        await consumer.stop()
    return None


async def one_broker(args: argparse.Namespace, kind: str, root: Path) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {}
    with running_broker(kind, root) as (bootstrap, _idempotent):
        for membership in args.membership:
            for round_ in range(args.rounds):
                kafka = KafkaSettings(
                    bootstrap_servers=bootstrap,
                    topic_prefix=f"restart{round_}{membership[0]}.",
                    partitions=args.partitions,
                    enable_idempotence=False,
                )
                await ensure_topics(kafka)
                state = root / f"{kind}-{membership}-{round_}"
                state.mkdir()
                env = worker_env(kafka, state, membership, args.session_timeout)
                log = state / "worker.log"
                figure = await one_round(args, kafka, env, log)
                label = f"{kind} {membership}"
                shown = "no reply" if figure is None else f"{figure:5.1f} s"
                print(f"{label:16} round {round_ + 1}: restart -> first reply {shown}", flush=True)
                if figure is not None:
                    figures.setdefault(label, []).append(figure)
    return figures


async def one_round(
    args: argparse.Namespace, kafka: KafkaSettings, env: dict[str, str], log: Path
) -> float | None:
    trickle, stop = Trickle(kafka, args.interval), asyncio.Event()
    feeding = asyncio.create_task(trickle.run(stop))
    worker = spawn_worker(env, log)
    try:
        started = time.monotonic()
        if await first_reply_after(kafka, trickle, started, args.timeout) is None:
            return None
        await asyncio.sleep(args.warm)  # serving steadily, offsets committed
        worker.kill()  # SIGKILL: no leave, no commit
        worker.wait()
        killed = time.monotonic()
        worker = spawn_worker(env, log)
        restarted, restarted_at = time.monotonic(), time.time()
        seen = await first_reply_after(kafka, trickle, killed, args.timeout)
        if seen is None:
            return None
        cpu = cpu_seconds(worker.pid)
        up = started_after(log, restarted_at)
        if up is not None:  # where the time went: process start-up vs group and first batch
            print(
                f"    spawn -> processors_started {up - restarted_at:5.1f} s, "
                f"then -> first reply {seen - restarted - (up - restarted_at):5.1f} s; "
                f"the worker's CPU until then {cpu:.1f} s (wall beyond it: waiting for a core "
                "or for the broker)",
                flush=True,
            )
        return seen - restarted
    finally:
        processes.stop(worker)
        stop.set()
        await feeding


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def started_after(log: Path, after: float) -> float | None:
    """Epoch time of the first `processors_started` log line after `after` (text log format)."""
    for line in log.read_text(errors="replace").splitlines():
        if "processors_started" in line:
            stamp = time.mktime(time.strptime(line[:19], "%Y-%m-%d %H:%M:%S"))
            stamp += int(line[20:23]) / 1000
            if stamp >= after:
                return stamp
    return None


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.processors.restart")
    parser.add_argument("--broker", choices=("kafka", "tansu", "both"), default="both")
    parser.add_argument(
        "--membership", nargs="+", choices=("static", "dynamic"), default=["static", "dynamic"]
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between messages")
    parser.add_argument("--warm", type=float, default=5.0, help="seconds served before the kill")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument(
        "--session-timeout", type=float, help="seconds (default: the processors' setting)"
    )
    parser.add_argument("--keep", type=Path, help="keep broker and worker logs in this directory")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    kinds = ("kafka", "tansu") if args.broker == "both" else (args.broker,)
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            root = (args.keep or Path(tmp)) / kind
            root.mkdir()
            results.update(asyncio.run(one_broker(args, kind, root)))
    for label, values in results.items():
        print(
            f"{label:16} restart -> first reply: median {statistics.median(values):.1f} s, "
            f"max {max(values):.1f} s over {len(values)} rounds"
        )


if __name__ == "__main__":
    main()
