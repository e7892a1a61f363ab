"""The `hookstream` command. Each module in this package adds one subcommand:

    def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        parser = commands.add_parser("name", help="...")
        parser.set_defaults(run=run)          # run(args, settings) -> int

so a new command is a new file, not an edit of a shared one.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence

from aiokafka.errors import KafkaConnectionError, KafkaError

from hookstream import __version__
from hookstream.cli._common import start_command
from hookstream.runtime.errors import ConfigError
from hookstream.runtime.settings import Settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hookstream", description="Meta webhooks into Kafka.")
    parser.add_argument("--version", action="version", version=f"hookstream {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}").register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings()
    try:
        settings, args.stack = start_command(args.command)  # the stack file, if no Kafka set
        return int(args.run(args, settings) or 0)
    except ConfigError as exc:
        print(f"hookstream {args.command}: configuration error: {exc}", file=sys.stderr)
        return 2
    except KafkaError as exc:
        hint = " (is `hookstream up` running? else set KAFKA_BOOTSTRAP_SERVERS)"
        print(
            f"hookstream {args.command}: Kafka at {settings.kafka.bootstrap_servers} failed: "
            f"{type(exc).__name__}: {exc}{hint if isinstance(exc, KafkaConnectionError) else ''}",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `hookstream dlq list | head`: the reader left, no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
