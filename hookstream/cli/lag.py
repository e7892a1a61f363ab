"""`hookstream lag`: consumer lag per group/topic/partition, in messages and seconds."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from collections.abc import Iterable

from hookstream.cli._common import runner_exited, stack_of
from hookstream.embedded.stack_file import StackFile
from hookstream.ops.collect import LagCollector
from hookstream.ops.table import as_json, as_text
from hookstream.ops.tracker import StatusTracker
from hookstream.runtime.ports import port_open
from hookstream.runtime.settings import Settings


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("lag", help="consumer lag per group/topic/partition")
    parser.add_argument(
        "--group",
        action="append",
        default=[],
        help="only this group (repeatable); default: every pipeline group",
    )
    parser.add_argument("--json", action="store_true", help="one JSON document per refresh")
    parser.add_argument(
        "--watch",
        type=float,
        nargs="?",
        const=2.0,
        default=None,
        metavar="SECONDS",
        help="refresh every SECONDS (default 2) until Ctrl-C",
    )
    parser.set_defaults(run=run)


def service_groups(settings: Settings) -> dict[str, str]:
    """The consumer group of each stack service that consumes (group -> service)."""
    kafka = settings.kafka
    return {
        settings.processors.group(kafka): "processors",
        settings.sender.group(kafka): "sender",
        settings.sink.group(kafka): "sink",
    }


def stopped_services(
    settings: Settings, stack: StackFile | None, groups: Iterable[str] = ()
) -> dict[str, str]:
    """Groups known to have no consumer: the stack's services that do not listen any more,
    and groups run by `hookstream reprocess` / `processors --as` whose process exited. The
    embedded broker keeps a stopped member listed for good, so they would read as running."""
    stopped = {
        group: "the hookstream command that ran it exited"
        for group in groups
        if runner_exited(settings.state_dir, group)
    }
    for group, (service, port, listening) in stack_services(settings, stack).items():
        if not listening:
            stopped[group] = f"the stack's {service} does not answer on port {port}"
    return stopped


def stack_services(settings: Settings, stack: StackFile | None) -> dict[str, tuple[str, int, bool]]:
    """group -> (the stack service consuming it, its port, whether it listens)."""
    if stack is None:
        return {}
    found = {}
    for group, service in service_groups(settings).items():
        port = stack.ports.get(service)
        if port:
            found[group] = (service, port, port_open(stack.host, port))
    return found


async def show(args: argparse.Namespace, settings: Settings) -> None:
    ops = settings.ops
    collector = LagCollector(settings.kafka, ops.lag_topics, (*ops.extra_groups, *args.group))
    tracker = StatusTracker(ops.status_window_s)
    await collector.start()
    try:
        while True:
            snapshot = await collector.collect()
            if args.group:
                keep = set(args.group)
                snapshot = dataclasses.replace(
                    snapshot,
                    rows=tuple(r for r in snapshot.rows if r.group in keep),
                    groups=tuple(g for g in snapshot.groups if g.group in keep),
                )
            statuses = tracker.observe(snapshot)
            if args.json:
                sys.stdout.buffer.write(as_json(snapshot, statuses) + b"\n")
            else:
                prefix = "\x1b[2J\x1b[H" if args.watch is not None and sys.stdout.isatty() else ""
                seen = {g.group for g in snapshot.groups}
                stopped = stopped_services(settings, stack_of(args), seen)
                sys.stdout.write(prefix + as_text(snapshot, statuses, stopped) + "\n")
            sys.stdout.flush()
            if args.watch is None:
                return
            await asyncio.sleep(args.watch)
    finally:
        await collector.close()


def run(args: argparse.Namespace, settings: Settings) -> int:
    asyncio.run(show(args, settings))
    return 0
