"""Processors throughput per worker beside a pass-through faust agent, same broker, same run.

    .venv/bin/python -m bench.processors                   # 20k envelopes (short)
    .venv/bin/python -m bench.processors --events 200000   # the full run (5k conversations)

Both read the same preloaded `inbound` topic (own consumer group each), one after the other in
this process on one embedded broker, in `--rounds` interleaved pairs (the median ratio is the
figure: one pair alone swings by half on a shared machine); each figure counts from its first
event to its last.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bench.processors.runs import Clock, passthrough_rate, preload, processors_rate
from hookstream.embedded.tansu import EmbeddedBroker
from hookstream.runtime.kafka import ensure_topics
from hookstream.runtime.settings import KafkaSettings, ProcessorSettings, Settings


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.processors")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument(
        "--conversations", type=int, default=0, help="default: events / 40 (5k for 200k)"
    )
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--batch", type=int, default=1000, help="take_events batch size")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved pairs of runs")
    return parser.parse_args()


async def bench(args: argparse.Namespace, bootstrap: str, state_dir: Path) -> None:
    kafka = KafkaSettings(
        bootstrap_servers=bootstrap,
        topic_prefix="bench.",
        partitions=args.partitions,
        enable_idempotence=False,
    )
    await ensure_topics(kafka)
    conversations = args.conversations or max(1, args.events // 40)
    pages = state_dir / "pages.yaml"
    pages.write_text(
        'pages:\n  "1001":\n    rules:\n      - name: pricing\n'
        '        match: {keywords: [price]}\n        reply: {text: "9 EUR"}\n'
        '    fallback: {text: "Thanks!"}\n'
    )
    settings = Settings(
        kafka=kafka,
        pages_file=pages,
        state_dir=state_dir,
        processors=ProcessorSettings(batch_size=args.batch),
    )
    started = time.perf_counter()
    await preload(kafka, args.events, conversations)
    print(
        f"preloaded {args.events} envelopes ({conversations} conversations, "
        f"{args.partitions} partitions) in {time.perf_counter() - started:.1f}s",
        flush=True,
    )
    ratios, cpu_ratios = [], []
    for round_ in range(args.rounds):  # interleaved: a shared machine's load drifts
        base = await passthrough_rate(settings, args.events, round_)
        show(round_, "pass-through faust agent", base)
        run = await processors_rate(settings, args.events, round_)
        show(round_, "processors (one worker)", run)
        ratios.append(run.rate / base.rate)
        cpu_ratios.append(run.cpu_rate / base.cpu_rate)
        print(f"round {round_ + 1} ratio: {ratios[-1]:.2f} (by CPU {cpu_ratios[-1]:.2f})")
    print(
        f"ratio processors / pass-through: median {statistics.median(ratios):.2f} "
        f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)}; target >= 0.8); by CPU "
        f"median {statistics.median(cpu_ratios):.2f} ({', '.join(f'{r:.2f}' for r in cpu_ratios)})"
    )


def show(round_: int, what: str, clock: Clock) -> None:
    print(
        f"round {round_ + 1} {what:25}: {clock.rate:8.0f} events/s "
        f"({clock.cpu_rate:8.0f} per CPU second)",
        flush=True,
    )


def main() -> None:
    args = parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        EmbeddedBroker(log_path=Path(tmp) / "broker.log") as broker,
    ):
        asyncio.run(bench(args, broker.bootstrap_servers, Path(tmp)))


if __name__ == "__main__":
    main()
