"""`hookstream groups delete GROUP`: remove a finished replay/reprocess group.

Refuses a group that still has members. The group's offsets and replay bound go, so it no
longer shows in `hookstream lag` or the lag exporter.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from hookstream.cli._common import runner_exited, runner_file, stack_of
from hookstream.cli.lag import stack_services
from hookstream.embedded.stack_file import StackFile
from hookstream.ops.errors import OpsError
from hookstream.ops.groups import delete_group
from hookstream.ops.replay_apply import plan_file
from hookstream.runtime.settings import Settings


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("groups", help="manage consumer groups (delete finished ones)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    delete = actions.add_parser("delete", help="delete a consumer group that has no members")
    delete.add_argument("group", nargs="+", help="group id(s)")
    delete.add_argument(
        "--force",
        action="store_true",
        help="delete although members are listed (embedded broker: stale members)",
    )
    parser.set_defaults(run=run)


def running_services(settings: Settings, stack: StackFile | None) -> dict[str, str]:
    """The groups of the stack's services that are running (their port answers)."""
    return {
        group: f"the stack's {service} (running on port {port})"
        for group, (service, port, listening) in stack_services(settings, stack).items()
        if listening
    }


def run(args: argparse.Namespace, settings: Settings) -> int:
    stack = stack_of(args)
    # The embedded broker keeps stopped members listed: check them by joining once.
    probe = (stack is not None and stack.broker == "embedded") or not (
        settings.kafka.enable_idempotence
    )
    running = running_services(settings, stack)
    status = 0
    for group in args.group:
        if group in running:
            print(f"hookstream groups: {group} is the group of {running[group]}; refusing to "
                  "delete it (stop the stack first)", file=sys.stderr)  # fmt: skip
            status = 1
            continue
        try:
            stale = args.force or runner_exited(settings.state_dir, group)
            existed = asyncio.run(
                delete_group(settings.kafka, group, probe=probe, members_stale=stale)
            )
        except OpsError as exc:
            print(f"hookstream groups: {exc}", file=sys.stderr)
            status = 1
            continue
        runner_file(settings.state_dir, group).unlink(missing_ok=True)
        plan_file(settings.state_dir, group).unlink(missing_ok=True)
        print(f"deleted group {group}" if existed else f"no group {group}: nothing to delete")
    return status
