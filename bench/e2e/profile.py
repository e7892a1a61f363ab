"""Where a service's CPU goes: py-spy (`pip install py-spy`) samples it for a while during the
load (`--profile S`), in raw collapsed-stack form; `top` reads that into the functions that cost
the most (self time: the frame on top of the stack; inclusive: anywhere on it), in percent of the
samples."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def py_spy() -> str | None:
    found = Path(sys.executable).with_name("py-spy")
    return str(found) if found.exists() else shutil.which("py-spy")


def record(pid: int, seconds: float, out: Path, rate: int = 50) -> subprocess.Popen[bytes] | None:
    """Start sampling `pid` (its threads, native frames off) into `out`; None without py-spy."""
    binary = py_spy()
    if binary is None:
        return None
    argv = [binary, "record", "--nonblocking", "-r", str(rate), "-d", str(int(seconds))]
    argv += ["-f", "raw", "-o", str(out), "--pid", str(pid)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _frame(text: str) -> str:
    """`func (path/to/module.py:12)` -> `func (module.py)`: lines merged per function."""
    name, _, where = text.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = path.split("/")
    short = "/".join(parts[-2:]) if len(parts) > 1 else path
    return f"{name} ({short})"


def top(lines: Iterable[str], n: int = 15) -> dict[str, Any]:
    """Self and inclusive share of samples per function from collapsed stacks (pure)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in lines:
        stack, _, count_text = line.rstrip().rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(f) for f in stack.split(";") if f and not f.startswith("process ")]
        frames = [f for f in frames if not f.startswith("thread (")]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(f, round(100 * c / total, 1)) for f, c in counter.most_common(n)]

    ours = Counter({f: c for f, c in inclusive.items() if _ours(f)})
    return {
        "samples": total,
        "self_pct": share(own),
        "inclusive_pct": share(inclusive),
        "inclusive_project_pct": share(ours),
    }


PROJECT = ("ingress", "processors", "senders", "sinks", "schemas", "runtime")


def _ours(frame: str) -> bool:
    """A frame of the project's own code (`name (package/module.py)`)."""
    where = frame.rpartition(" (")[2]
    return where.split("/", 1)[0] in PROJECT
