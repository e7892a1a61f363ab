"""`hookstream up`: the whole pipeline on the embedded defaults."""

from __future__ import annotations

import argparse

from hookstream.embedded.stack import run_stack, stack_from_environment
from hookstream.runtime.settings import Settings


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("up", help="run the whole pipeline on embedded defaults")
    parser.add_argument("--partitions", type=int, default=8, help="partitions per topic")
    parser.add_argument("--host", default="127.0.0.1", help="address the services listen on")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    return run_stack(stack_from_environment(settings, args.partitions, args.host))
