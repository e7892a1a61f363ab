"""`hookstream replay`: reprocess a topic range for a consumer group.

hookstream replay --group G --topic inbound --from 2026-11-23T10:00Z [--to ...]   # the plan
hookstream replay ... --execute [--wait]     # apply it (the group must be stopped)
hookstream replay --as NEW --topic inbound --from ... [--execute]   # into a fresh group
hookstream replay --group G --progress       # follow the recorded replay
hookstream replay --group G --finish         # after a failed --execute: commit the recorded plan
hookstream replay --group G --undo           # ... or put the group back where the plan found it
hookstream replay --group G --clear          # forget the group's replay bound

`--execute` is all or nothing: the group is checked, the plan written (state dir, replay-bounds)
before any offset moves; a failure after that says which partitions moved and how to go on.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from hookstream.cli._common import run_ops
from hookstream.ops.errors import OpsError
from hookstream.ops.replay_apply import (
    committed,
    execute,
    finish,
    plan_replay,
    record_plan,
    undo,
)
from hookstream.ops.replay_plan import parse_position, progress, render_bar, render_plan
from hookstream.runtime.kafka import PIPELINE_TOPICS
from hookstream.runtime.replay_bound import load_plan
from hookstream.runtime.settings import KafkaSettings, Settings
from schemas.replay import ReplayPlan


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("replay", help="reprocess a topic range for a consumer group")
    parser.add_argument("--group", help="consumer group to rewind")
    parser.add_argument(
        "--as",
        dest="as_group",
        metavar="NEW_GROUP",
        help="replay into this new group instead (it must have no offsets yet)",
    )
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
    mode.add_argument(
        "--finish", action="store_true", help="commit the recorded plan (after a failed apply)"
    )
    mode.add_argument(
        "--undo",
        action="store_true",
        help="move the group back to where the recorded plan found it",
    )
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


def fresh_group_check(plan: ReplayPlan) -> None:
    """`--as` replays into a new group: one that has committed nothing on the topic yet."""
    used = [p.partition for p in plan.partitions if p.current is not None]
    if used:
        raise OpsError(
            f"group {plan.group} already has committed offsets on {plan.topic} (partitions "
            f"{', '.join(map(str, used))}); --as needs a new group name "
            f"(or remove the old one: `hookstream groups delete {plan.group}`)"
        )


async def plan_from_args(args: argparse.Namespace, kafka: KafkaSettings, group: str) -> ReplayPlan:
    if not args.topic or not args.start:
        raise OpsError("--topic and --from are required to plan a replay")
    stop = parse_position(args.stop) if args.stop else None
    plan = await plan_replay(
        kafka,
        group,
        topic_name(kafka, args.topic),
        parse_position(args.start),
        stop,
        args.partition,
    )
    if args.as_group:
        fresh_group_check(plan)
    return plan


async def recorded_actions(args: argparse.Namespace, kafka: KafkaSettings, group: str) -> int:
    if args.clear:
        await record_plan(kafka, None, group=group)
        print(f"replay bound of group {group} cleared")
        return 0
    if args.finish:
        plan = await finish(kafka, group)
        print(f"finished: group {group} is at the targets of its plan ({plan.records} record(s)")
        print("  to reprocess); start its consumers now")
        return 0
    if args.undo:
        _, fresh = await undo(kafka, group)
        print(f"undone: group {group} is back where the plan found it; its replay bound cleared")
        if fresh:
            print(
                f"  partitions {', '.join(map(str, fresh))} had no offset before: remove the "
                f"group with `hookstream groups delete {group}` if it was new"
            )
        return 0
    recorded = await load_plan(kafka, group)
    if recorded is None:
        raise OpsError(f"no replay recorded for group {group}")
    return 0 if await follow(kafka, recorded, args.timeout) else 1


async def main(args: argparse.Namespace, settings: Settings) -> int:
    kafka = settings.kafka
    group = args.as_group or args.group
    if not group or (args.as_group and args.group):
        raise OpsError("give the group to rewind (--group G) or a new group (--as NEW)")
    if args.clear or args.finish or args.undo or args.progress:
        return await recorded_actions(args, kafka, group)
    plan = await plan_from_args(args, kafka, group)
    print(render_plan(plan))
    if not args.execute:
        print("dry run: nothing changed; add --execute to apply")
        return 0
    await execute(kafka, plan, settings.state_dir)
    print(f"applied: group {plan.group} resumes at the targets; start its consumers now")
    if args.as_group:
        print(
            f"  e.g. `hookstream processors --as {plan.group}` (free port, this stack's "
            "settings and pages), or use `hookstream reprocess`, which does both"
        )
    if args.wait:
        return 0 if await follow(kafka, plan, args.timeout) else 1
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    return run_ops("replay", main(args, settings))
