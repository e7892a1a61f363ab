"""`hookstream up`: the whole pipeline on one machine (embedded broker, or `--broker kafka`)."""

from __future__ import annotations

import argparse

from hookstream.embedded.stack import run_stack, stack_from_environment
from hookstream.runtime.settings import Settings


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "up",
        help="run the whole pipeline on embedded defaults",
        description="The whole pipeline on one machine: the broker, ClickHouse (chDB), the Send "
        "API sandbox and every service; Ctrl-C stops it all.",
    )
    parser.add_argument("--partitions", type=int, default=8, help="partitions per topic")
    parser.add_argument("--host", default="127.0.0.1", help="address the services listen on")
    parser.add_argument(
        "--broker",
        choices=("embedded", "kafka"),
        default="embedded",
        help="embedded: the in-memory Tansu broker, no Java (default); kafka: a durable local "
        "Apache Kafka (needs Java 17+ and, on first use, Maven) whose log lives in the state "
        "dir, so a restart keeps every topic",
    )
    parser.add_argument(
        "--port-offset",
        type=int,
        default=0,
        metavar="N",
        help="add N to every port (services and broker), e.g. 100 for 8100, 9192, ...",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    stack = stack_from_environment(
        settings, args.partitions, args.host, broker=args.broker, port_offset=args.port_offset
    )
    return run_stack(stack)
