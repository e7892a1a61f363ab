"""`hookstream reprocess --as NEW --from T [--to T]`: reprocess inbound into a new group.

The supported way to run a new version (new rules, a fixed responder) over past events without
touching the live processors: plans a bounded replay of `inbound` for the new group (up to --to,
else up to the end as it is now), applies it (all or nothing, see `hookstream replay`), then runs
the processors as that group in this process until every partition reached its stop, and exits.
Beside `hookstream up` it takes the stack's settings and pages file. Replies it plans carry the
same deterministic command ids as the first time, so the sender does not send them twice.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys

from hookstream.cli._common import note_runner, run_ops
from hookstream.cli.processors import warn_if_no_pages, with_group
from hookstream.cli.replay import fresh_group_check, topic_name
from hookstream.ops.replay_apply import committed, execute, plan_replay
from hookstream.ops.replay_plan import Position, parse_position, progress, render_bar, render_plan
from hookstream.runtime.settings import Settings
from schemas.replay import ReplayPlan

TO_THE_END = Position(offset=2**62)  # clamped to each partition's end when planned


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "reprocess", help="reprocess inbound into a new consumer group, then exit"
    )
    parser.add_argument("--as", dest="as_group", required=True, metavar="NEW_GROUP")
    parser.add_argument("--from", dest="start", required=True, help="ISO time, offset, earliest")
    parser.add_argument("--to", dest="stop", help="end (exclusive); default: the end as of now")
    parser.add_argument("--topic", default="inbound", help=argparse.SUPPRESS)
    parser.add_argument("--partition", type=int, action="append", default=[])
    parser.add_argument("--dry-run", action="store_true", help="print the plan only")
    parser.add_argument(
        "--timeout", type=float, default=0.0, help="give up after SECONDS (0: until done)"
    )
    parser.set_defaults(run=run)


async def watch(
    settings: Settings, plan: ReplayPlan, stop: asyncio.Event, timeout_s: float
) -> bool:
    """Set `stop` once the group's commits reached the plan's stops (or the timeout passed)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s if timeout_s > 0 else None
    try:
        while not stop.is_set():
            done, total = progress(plan, await committed(settings.kafka, plan))
            sys.stderr.write(f"\rreprocess {plan.group}: {render_bar(done, total)}")
            sys.stderr.flush()
            if done >= total:
                return True
            if deadline is not None and loop.time() > deadline:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
        return False
    finally:
        sys.stderr.write("\n")
        stop.set()


async def run_processors(settings: Settings, plan: ReplayPlan, timeout_s: float) -> bool:
    from processors.runner import ProcessorsService  # faust is heavy: import only when used

    service = ProcessorsService(with_group(settings, plan.group), os.environ)
    warn_if_no_pages(settings, len(service.pages.current().pages))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C: stop the processors, then say so
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    watcher = asyncio.create_task(watch(settings, plan, stop, timeout_s))
    try:
        await service.run(stop)
    finally:
        stop.set()
    return await watcher


async def main(args: argparse.Namespace, settings: Settings) -> int:
    kafka = settings.kafka
    plan = await plan_replay(
        kafka,
        args.as_group,
        topic_name(kafka, args.topic),
        parse_position(args.start),
        parse_position(args.stop) if args.stop else TO_THE_END,
        args.partition,
    )
    fresh_group_check(plan)
    print(render_plan(plan))
    if args.dry_run:
        print("dry run: nothing changed")
        return 0
    if plan.records == 0:
        print("nothing to reprocess in that range")
        return 0
    await execute(kafka, plan, settings.state_dir)
    note_runner(settings.state_dir, plan.group)
    print(f"reprocessing {plan.records} record(s) as group {plan.group} (Ctrl-C stops)")
    finished = await run_processors(settings, plan, args.timeout)
    if not finished:
        print(
            f"stopped before the end: `hookstream reprocess` cannot resume; "
            f"`hookstream processors --as {plan.group}` carries on where it stopped"
        )
        return 1
    print(
        f"done: {plan.records} record(s) reprocessed as group {plan.group}; remove the group "
        f"when you no longer need it: `hookstream groups delete {plan.group}`"
    )
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    return run_ops("reprocess", main(args, settings))
