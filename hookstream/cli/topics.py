"""`hookstream topics`: create the pipeline's topics (idempotent), before any worker starts.

Workers must not auto-create their source topics: a broker default partition count would break
the co-partitioning of `inbound`, `outbound` and `analytics` by conversation.
"""

from __future__ import annotations

import argparse
import asyncio

from hookstream.runtime.kafka import PIPELINE_TOPICS, ensure_topics, wait_for_broker
from hookstream.runtime.settings import Settings


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("topics", help="create the pipeline's topics (idempotent)")
    parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for Kafka")
    parser.set_defaults(run=run)


async def _create(settings: Settings, wait_s: float) -> list[str]:
    await wait_for_broker(settings.kafka, wait_s)
    return await ensure_topics(settings.kafka)


def run(args: argparse.Namespace, settings: Settings) -> int:
    created = asyncio.run(_create(settings, args.wait))
    for spec in PIPELINE_TOPICS:
        name = settings.kafka.topic(spec.name)
        state = "created" if name in created else "exists"
        print(f"{name:<40} {state} ({settings.kafka.partitions} partitions)")
    return 0
