"""Samples, every few seconds in a thread, the resident memory and CPU time of each service
(a process and its descendants, from /proc; Linux), the machine's busy share, and a counter
(replies the sandbox accepted) so that delivery can be followed while the load runs."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.e2e.figures import Sample

_TICK = os.sysconf("SC_CLK_TCK")
_PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 1024 / 1024


def _stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name (which may hold spaces): [state, ppid, ...]."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def parents() -> dict[int, int]:
    """pid -> parent pid of every process."""
    found: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                found[int(entry)] = int(_stat_fields(int(entry))[1])
            except (OSError, IndexError, ValueError):
                continue  # gone between listdir and read
    return found


def tree(root: int, parent_of: dict[int, int]) -> list[int]:
    """root and all its descendants."""
    members, frontier = [root], [root]
    while frontier:
        children = [pid for pid, ppid in parent_of.items() if ppid in frontier]
        members += children
        frontier = children
    return members


def usage(pids: list[int]) -> tuple[float, float]:
    """(resident MB, CPU seconds) summed over processes that still exist."""
    rss = cpu = 0.0
    for pid in pids:
        try:
            fields = _stat_fields(pid)
            resident = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        cpu += (int(fields[11]) + int(fields[12])) / _TICK
        rss += resident * _PAGE_MB
    return rss, cpu


def machine_busy_s() -> tuple[float, float]:
    """(busy CPU seconds, total CPU seconds) of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / _TICK, sum(values) / _TICK


@dataclass
class Periodic:
    """`tick` every interval_s in a thread: once at start, once more at stop."""

    interval_s: float
    _stop: threading.Event = field(default_factory=threading.Event, kw_only=True)
    _thread: threading.Thread | None = field(default=None, kw_only=True)

    def tick(self) -> None:
        raise NotImplementedError

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.tick()

    def start(self) -> Periodic:
        self.tick()
        self._thread = threading.Thread(target=self._loop, name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops after one last tick; a second call does nothing."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        self.tick()


@dataclass
class Sampler(Periodic):
    counter: Callable[[], int | None] = lambda: None
    roots: dict[str, int] = field(default_factory=dict)
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    machine: list[tuple[float, float, float]] = field(default_factory=list)  # t, busy, total
    counted: list[tuple[float, int]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def now(self) -> float:
        return time.monotonic() - self.started

    def watch(self, name: str, pid: int) -> None:
        self.roots = {**self.roots, name: pid}  # replaced whole: the thread reads a snapshot

    def sample_once(self) -> None:
        t, parent_of = self.now(), parents()
        for name, root in self.roots.items():
            rss, cpu = usage(tree(root, parent_of))
            if rss:
                self.samples.setdefault(name, []).append(Sample(t, rss, cpu))
        self.machine.append((t, *machine_busy_s()))
        count = self.counter()
        if count is not None:
            self.counted.append((t, count))

    def tick(self) -> None:
        self.sample_once()
