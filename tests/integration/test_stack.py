"""`hookstream up`'s stack: starts the broker and services, stops them all, leaves no orphans."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from hookstream.embedded import stack_file
from hookstream.embedded.processes import free_port, port_open
from hookstream.embedded.stack import DEV_DEFAULTS, ServiceSpec, Stack, StackError
from ingress.signature import sign
from tests.support.meta_samples import one_message_body
from tests.support.stack_rig import send_message, sink_stack, traced, wait_stored

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.embedded_default]

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
        described = stack_file.read(tmp_path / "stack.json")
        assert described is not None
        assert (described.broker, described.idempotence) == ("embedded", False)
        assert described.bootstrap_servers == stack.broker.bootstrap_servers
        assert described.ports == {"ingress": port}
    finally:
        stack.stop()
    assert wait_dead(pids) == []
    assert not (tmp_path / "stack.json").exists()


def test_ports_are_checked_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        stack = Stack(
            settings_env={},
            state_dir=tmp_path,
            services=(ServiceSpec("ingress", port, "webhooks"),),
        )
        with pytest.raises(StackError) as caught:
            stack.start()
    assert f"{port} (ingress) already in use" in str(caught.value)
    assert "--port-offset" in str(caught.value)
    assert not stack.broker.running and not stack.children


def _up(tmp_path: Path, offset: int) -> subprocess.Popen[str]:
    env = {**os.environ, "HOOKSTREAM_STATE_DIR": str(tmp_path / "state")}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hookstream",
            "up",
            "--partitions",
            "2",
            "--port-offset",
            str(offset),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )


def _free_offset() -> int:
    """A --port-offset under which every service port and the broker's are free."""
    from hookstream.embedded.stack import DEFAULT_KAFKA_PORT, SERVICES

    for offset in range(1000, 20000, 137):
        ports = [spec.port + offset for spec in SERVICES] + [DEFAULT_KAFKA_PORT + offset]
        if all(p < 65536 and not port_open("127.0.0.1", p) for p in ports):
            return offset
    raise AssertionError("no free port offset")


def _children_of(pid: int) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(proc.name))
    return found


def test_ctrl_c_during_start_up_stops_quietly(tmp_path: Path) -> None:
    proc = _up(tmp_path, _free_offset())
    deadline = time.monotonic() + 60
    while not _children_of(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)  # the broker is starting
    children = _children_of(proc.pid)
    time.sleep(0.5)
    children += _children_of(proc.pid)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert out.strip().splitlines()[-1].startswith("hookstream stopped"), out
    assert wait_dead(children) == []


def test_up_then_ctrl_c_stops_services_then_broker_with_one_final_line(tmp_path: Path) -> None:
    proc = _up(tmp_path, _free_offset())
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("Ctrl-C stops everything"):
            break
    assert any("hookstream is up" in line for line in lines), lines
    assert (tmp_path / "state" / "stack.json").exists()
    children = _children_of(proc.pid)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err
    tail = out.strip().splitlines()
    assert tail[-1] == (
        "hookstream stopped (the embedded broker's topics are gone; "
        "the next start begins fresh analytics too)."
    ), out
    assert len(tail) == 2, out  # "stopping: ..." and the final line, no service output
    assert err.strip() == "", err
    assert wait_dead(children) == []
    assert not (tmp_path / "state" / "stack.json").exists()


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


def test_a_restarted_embedded_stack_starts_its_analytics_fresh_too(tmp_path: Path) -> None:
    """The embedded broker forgets every topic on restart, so the engine's data goes with it:
    stats and trace after a restart show only what the new run saw."""
    first = sink_stack(tmp_path)
    first.start()
    try:
        before = send_message(first, 0)
        assert wait_stored(tmp_path, 1)["events"] == 1
        assert traced(tmp_path, before)
    finally:
        first.stop()
    second = sink_stack(tmp_path)
    second.start()
    try:
        assert (tmp_path / "previous-run" / "analytics").is_dir()  # moved aside, not reused
        after = send_message(second, 1)
        assert after != before
        assert wait_stored(tmp_path, 1)["events"] == 1  # this run's message only
        assert traced(tmp_path, after)
        assert not traced(tmp_path, before)
    finally:
        second.stop()
