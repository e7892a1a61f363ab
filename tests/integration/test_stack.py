"""`hookstream up`'s stack: starts the broker and services, stops them all, leaves no orphans."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from hookstream.embedded.processes import free_port
from hookstream.embedded.stack import DEV_DEFAULTS, ServiceSpec, Stack
from ingress.signature import sign
from tests.support.meta_samples import one_message_body

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STACK_SCRIPT = """
import sys, time
from pathlib import Path
from hookstream.embedded.stack import ServiceSpec, Stack
stack = Stack(settings_env={}, partitions=2, state_dir=Path(sys.argv[2]),
              services=(ServiceSpec("ingress", int(sys.argv[1]), "webhooks"),))
stack.start()
print(stack.broker._process.pid, *(c.pid for c in stack.children.values()), flush=True)
time.sleep(600)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is dead for our purpose
        return stat.read().split()[2] != "Z"


def wait_dead(pids: list[int], timeout_s: float = 15.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if alive(p)]


def test_stack_serves_webhooks_and_stops_everything(tmp_path: Path) -> None:
    port = free_port()
    stack = Stack(
        settings_env={},
        partitions=2,
        state_dir=tmp_path,
        services=(ServiceSpec("ingress", port, "webhooks"),),
    )
    stack.start()
    try:
        pids = [stack.broker._process.pid, *(c.pid for c in stack.children.values())]  # type: ignore[union-attr]
        body = one_message_body("m-stack")
        headers = {
            "content-type": "application/json",
            "x-hub-signature-256": sign(body, DEV_DEFAULTS["HOOKSTREAM_APP_SECRETS"]),
        }
        deadline = time.monotonic() + 20
        while httpx.get(f"http://127.0.0.1:{port}/readyz").status_code != 200:
            assert time.monotonic() < deadline, "ingress never became ready"
            time.sleep(0.2)
        response = httpx.post(f"http://127.0.0.1:{port}/webhook", content=body, headers=headers)
        assert response.status_code == 200 and response.json()["accepted"] == 1
        assert "hookstream is up" in stack.banner()
    finally:
        stack.stop()
    assert wait_dead(pids) == []


def test_children_die_when_the_stack_process_is_killed(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", STACK_SCRIPT, str(free_port()), str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        pids = [int(p) for p in line.split()]
        assert len(pids) == 2 and all(alive(p) for p in pids), line
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]
    assert wait_dead(pids) == [], "orphans left behind after SIGKILL of the stack"
