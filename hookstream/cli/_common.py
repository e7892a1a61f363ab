"""Options and start-up shared by the commands.

Settings: a command run without KAFKA_BOOTSTRAP_SERVERS (in the environment or `.env`) beside a
running `hookstream up` takes the stack's settings from its stack file; whatever the environment
sets explicitly wins. Logging: long-running services log JSON at INFO, as the containers do;
every other command is a tool whose human output goes to stdout, with only warnings and errors
logged, as text, to stderr (HOOKSTREAM_LOG_LEVEL / HOOKSTREAM_LOG_FORMAT still apply).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import Any

from hookstream.embedded import stack_file
from hookstream.ops.errors import OpsError
from hookstream.runtime.logging import configure_logging
from hookstream.runtime.settings import Settings, overlay
from hookstream.runtime.settings.env import read_dotenv

SERVICE_COMMANDS = frozenset(
    {"up", "ingress", "processors", "sender", "sink", "lag-exporter", "sandbox", "console"}
)


def add_listen_options(parser: argparse.ArgumentParser, port: int) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=port, help=f"port (default {port})")


def add_sink_url_option(parser: argparse.ArgumentParser) -> None:
    """`--sink-url`: the running sink that `stats` and `trace` ask while it holds the engine."""
    parser.add_argument(
        "--sink-url",
        default="",
        help="a running sink to ask (default HOOKSTREAM_SINK_QUERY_URL or :9102)",
    )


def explicit_environment() -> dict[str, str]:
    """The environment over `.env` (the environment wins, as in `Settings.load`)."""
    return {**read_dotenv(Path(".env")), **os.environ}


def stack_for(command: str, explicit: Mapping[str, str]) -> stack_file.StackFile | None:
    """The running `hookstream up` stack, for a command run without KAFKA_BOOTSTRAP_SERVERS."""
    if command == "up" or "KAFKA_BOOTSTRAP_SERVERS" in explicit:
        return None
    return stack_file.find(explicit)


def load_settings(command: str) -> tuple[Settings, stack_file.StackFile | None]:
    """The command's settings and the stack they came from (None: environment only)."""
    explicit = explicit_environment()
    stack = stack_for(command, explicit)
    values = overlay(stack.env(), explicit) if stack is not None else dict(explicit)
    if command not in SERVICE_COMMANDS:
        values.setdefault("HOOKSTREAM_LOG_LEVEL", "WARNING")
        values.setdefault("HOOKSTREAM_LOG_FORMAT", "text")
    return Settings.from_env(values), stack


def start_command(command: str) -> tuple[Settings, stack_file.StackFile | None]:
    settings, stack = load_settings(command)
    configure_logging(settings.log_format, settings.log_level)
    if command not in SERVICE_COMMANDS:
        # A tool says what failed itself; the Kafka client's own error lines only repeat it.
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    return settings, stack


def stack_of(args: argparse.Namespace) -> stack_file.StackFile | None:
    """The stack the command runs beside (set by `hookstream.cli.main`)."""
    found = getattr(args, "stack", None)
    return found if isinstance(found, stack_file.StackFile) else None


def run_ops(command: str, work: Coroutine[Any, Any, int]) -> int:
    """Run an operator tool's coroutine; an OpsError is its one-line answer (exit 1)."""
    try:
        return asyncio.run(work)
    except OpsError as exc:
        print(f"hookstream {command}: {exc}", file=sys.stderr)
        return 1


def runner_file(state_dir: Path, group: str) -> Path:
    """Where a consumer group run by this CLI (`reprocess`, `processors --as`) notes its pid."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in group)
    return Path(state_dir) / "runners" / f"{safe}.pid"


def note_runner(state_dir: Path, group: str) -> None:
    path = runner_file(state_dir, group)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(str(os.getpid()))


def runner_exited(state_dir: Path, group: str) -> bool:
    """True if this CLI ran the group and that process is gone: its members are stale (the
    embedded broker keeps a stopped member listed)."""
    try:
        pid = int(runner_file(state_dir, group).read_text().strip())
    except (OSError, ValueError):
        return False
    return not stack_file.pid_alive(pid)
