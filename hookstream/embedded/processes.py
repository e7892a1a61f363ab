"""Child processes that die with their parent (no orphan broker, ever)."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import IO

from hookstream.runtime.ports import free_port, port_open

__all__ = ["free_port", "pause", "port_open", "resume", "spawn", "stop"]

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    stdout: IO[bytes] | int | None = None,
    stderr: IO[bytes] | int | None = None,
    group: bool = False,
) -> subprocess.Popen[bytes]:
    """Start a child that gets SIGTERM if this process dies, even by SIGKILL (Linux). With
    `group`, in a process group of its own: a terminal's Ctrl-C reaches only its parent."""
    preexec = _die_with_parent if sys.platform.startswith("linux") else None
    return subprocess.Popen(  # noqa: S603 - argv is built by us, never from input
        list(argv),
        env=dict(env) if env is not None else None,
        stdout=stdout,
        stderr=stderr,
        preexec_fn=preexec,
        process_group=0 if group else None,
    )


def stop(process: subprocess.Popen[bytes], grace_s: float = 5.0) -> int | None:
    """SIGTERM, wait, then SIGKILL; returns the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def pause(process: subprocess.Popen[bytes]) -> None:
    os.kill(process.pid, signal.SIGSTOP)


def resume(process: subprocess.Popen[bytes]) -> None:
    os.kill(process.pid, signal.SIGCONT)
