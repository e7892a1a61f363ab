"""`hookstream replay`: reprocess a topic range for a consumer group.

hookstream replay --group G --topic inbound --from 2026-11-23T10:00Z [--to ...]   # the plan
hookstream replay ... --execute [--wait]     # apply it (the group must be stopped)
hookstream replay --group G --progress       # follow the recorded replay
hookstream replay --group G --clear          # forget the group's replay bound
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from hookstream.ops.errors import OpsError
from hookstream.ops.replay_apply import committed, execute, plan_replay, record_plan
from hookstream.ops.replay_plan import parse_position, progress, render_bar, render_plan
from hookstream.runtime.kafka import PIPELINE_TOPICS
from hookstream.runtime.replay_bound import load_plan
from hookstream.runtime.settings import KafkaSettings, Settings
from schemas.replay import ReplayPlan


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("replay", help="reprocess a topic range for a consumer group")
    parser.add_argument("--group", required=True, help="consumer group to rewind")
    parser.add_argument("--topic", help="topic (a pipeline name like inbound, or a full name)")
    parser.add_argument("--from", dest="start", help="ISO 8601 time, offset or 'earliest'")
    parser.add_argument("--to", dest="stop", help="end of the range (exclusive): time or offset")
    parser.add_argument(
        "--partition",
        type=int,
        action="append",
        default=[],
        help="only this partition (repeatable)",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="print the plan only (default)")
    mode.add_argument("--execute", action="store_true", help="apply the plan")
    mode.add_argument("--progress", action="store_true", help="follow the recorded replay")
    mode.add_argument("--clear", action="store_true", help="remove the group's replay bound")
    parser.add_argument("--wait", action="store_true", help="with --execute: follow progress")
    parser.add_argument(
        "--timeout",
        type=float,
        default=0.0,
        help="stop following after SECONDS (0: until done or Ctrl-C)",
    )
    parser.set_defaults(run=run)


def topic_name(settings: KafkaSettings, topic: str) -> str:
    pipeline = {spec.name for spec in PIPELINE_TOPICS}
    return settings.topic(topic) if topic in pipeline else topic


async def follow(settings: KafkaSettings, plan: ReplayPlan, timeout_s: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s if timeout_s > 0 else None
    while True:
        done, total = progress(plan, await committed(settings, plan))
        sys.stderr.write(f"\rreplay {plan.group}: {render_bar(done, total)}")
        sys.stderr.flush()
        if done >= total:
            sys.stderr.write("\n")
            return True
        if deadline is not None and loop.time() > deadline:
            sys.stderr.write("\n")
            return False
        await asyncio.sleep(1.0)


async def main(args: argparse.Namespace, settings: Settings) -> int:
    kafka = settings.kafka
    if args.clear:
        await record_plan(kafka, None, group=args.group)
        print(f"replay bound of group {args.group} cleared")
        return 0
    if args.progress:
        recorded = await load_plan(kafka, args.group)
        if recorded is None:
            raise OpsError(f"no replay recorded for group {args.group}")
        return 0 if await follow(kafka, recorded, args.timeout) else 1
    if not args.topic or not args.start:
        raise OpsError("--topic and --from are required to plan a replay")
    stop = parse_position(args.stop) if args.stop else None
    plan = await plan_replay(
        kafka,
        args.group,
        topic_name(kafka, args.topic),
        parse_position(args.start),
        stop,
        args.partition,
    )
    print(render_plan(plan))
    if not args.execute:
        print("dry run: nothing changed; add --execute to apply")
        return 0
    await execute(kafka, plan)
    print(f"applied: group {plan.group} resumes at the targets; start its consumers now")
    if args.wait:
        return 0 if await follow(kafka, plan, args.timeout) else 1
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        return asyncio.run(main(args, settings))
    except OpsError as exc:
        print(f"hookstream replay: {exc}", file=sys.stderr)
        return 1
