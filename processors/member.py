"""Which member of the consumer group this worker is: a slot held under the state dir.

A worker claims the lowest free slot (`member-0`, `member-1`, ...) of its group's directory with
an exclusive lock that the kernel releases when the process ends, however it ends. So a worker
restarted after a crash or a kill -9 takes the slot it had, and with it

- its static group membership (`group.instance.id` = host, state dir and slot): the broker hands
  the restarted member its partitions back at once instead of waiting for the dead member's
  session to time out and rebalancing the group (~60 s without; see bench/processors/restart.py);
- its crash marker (processors/quarantine.py).

Two workers sharing one state dir get different slots, so they never fence each other.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import socket
from dataclasses import dataclass
from pathlib import Path

MAX_SLOTS = 256
DISABLED = ("off", "none", "false", "0")


@dataclass
class MemberSlot:
    index: int
    path: Path  # this member's own directory
    fd: int

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing drops the lock
            self.fd = -1


def claim_slot(group_dir: Path) -> MemberSlot:
    group_dir.mkdir(parents=True, exist_ok=True)
    for index in range(MAX_SLOTS):
        path = group_dir / f"member-{index}"
        fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        path.mkdir(exist_ok=True)
        return MemberSlot(index, path, fd)
    raise RuntimeError(f"{MAX_SLOTS} workers already hold slots under {group_dir}")


def instance_id(configured: str, group_dir: Path, slot: int) -> str | None:
    """The static member id: the configured one (`off` for dynamic membership), else one that
    is stable for this host, state dir and slot, and unique among them."""
    if configured.strip().lower() in DISABLED:
        return None
    if configured:
        return configured if slot == 0 else f"{configured}-{slot}"
    where = hashlib.blake2b(str(group_dir.resolve()).encode(), digest_size=4).hexdigest()
    return f"{socket.gethostname()}-{where}-{slot}"
