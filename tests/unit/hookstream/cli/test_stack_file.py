"""The stack file `hookstream up` writes and the CLI tools read."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hookstream.embedded import stack_file


def write_demo(state_dir: Path, pid: int | None = None) -> stack_file.StackFile:
    return stack_file.write(
        state_dir,
        bootstrap_servers="127.0.0.1:19092",
        broker="embedded",
        idempotence=False,
        clickhouse_url="chdb://./.hookstream/analytics",
        topic_prefix="demo.",
        pages_file=Path("deploy/pages.example.yaml"),
        ports={"ingress": 8000, "sink": 9102, "sandbox": 8081},
        pid=pid,
    )


def test_written_file_is_found_with_absolute_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    written = write_demo(Path(".hookstream"))
    found = stack_file.find({})
    assert found == written
    assert found.pid == os.getpid()
    assert found.state_dir == tmp_path / ".hookstream"
    assert found.pages_file == tmp_path / "deploy/pages.example.yaml"
    assert found.clickhouse_url == f"chdb://{tmp_path}/.hookstream/analytics"
    env = found.env()
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:19092"
    assert env["KAFKA_ENABLE_IDEMPOTENCE"] == "false"
    assert env["HOOKSTREAM_TOPIC_PREFIX"] == "demo."
    assert env["HOOKSTREAM_SINK_QUERY_URL"] == "http://127.0.0.1:9102"
    assert env["GRAPH_API_BASE_URL"] == "http://127.0.0.1:8081"
    assert env["HOOKSTREAM_PAGES_FILE"] == str(tmp_path / "deploy/pages.example.yaml")


def test_state_dir_from_environment(tmp_path: Path) -> None:
    write_demo(tmp_path / "elsewhere")
    assert stack_file.find({"HOOKSTREAM_STATE_DIR": str(tmp_path / "elsewhere")}) is not None
    assert stack_file.find({"HOOKSTREAM_STATE_DIR": str(tmp_path / "nothing")}) is None


def test_file_of_a_dead_process_is_ignored(tmp_path: Path) -> None:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    write_demo(tmp_path, pid=int(child.stdout))
    assert stack_file.read(stack_file.path_in(tmp_path)) is not None
    assert stack_file.find({"HOOKSTREAM_STATE_DIR": str(tmp_path)}) is None


def test_unreadable_file_is_ignored(tmp_path: Path) -> None:
    stack_file.path_in(tmp_path).write_text("{not json")
    assert stack_file.find({"HOOKSTREAM_STATE_DIR": str(tmp_path)}) is None
    stack_file.path_in(tmp_path).write_text('{"broker": "zookeeper"}')
    assert stack_file.find({"HOOKSTREAM_STATE_DIR": str(tmp_path)}) is None


def test_remove_only_own_file(tmp_path: Path) -> None:
    write_demo(tmp_path)
    stack_file.remove(tmp_path, pid=os.getpid() + 1)
    assert stack_file.path_in(tmp_path).exists()
    stack_file.remove(tmp_path, pid=os.getpid())
    assert not stack_file.path_in(tmp_path).exists()
    stack_file.remove(tmp_path)  # already gone: fine


def test_found_from_a_subdirectory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_demo(tmp_path / ".hookstream")
    deeper = tmp_path / "docs" / "notes"
    deeper.mkdir(parents=True)
    monkeypatch.chdir(deeper)
    found = stack_file.find({})
    assert found is not None and found.state_dir == tmp_path / ".hookstream"


def test_the_data_dir_is_the_tools_state_dir(tmp_path: Path) -> None:
    """Beside the embedded broker the tools keep their state (replay plans, runners) in the
    run's directory, which dies with the broker's topics."""
    written = stack_file.write(
        tmp_path,
        bootstrap_servers="127.0.0.1:19092",
        broker="embedded",
        idempotence=False,
        clickhouse_url=f"chdb://{tmp_path}/run/analytics",
        data_dir=tmp_path / "run",
    )
    found = stack_file.find({"HOOKSTREAM_STATE_DIR": str(tmp_path)})
    assert found == written and found.data_dir == tmp_path / "run"
    assert found.env()["HOOKSTREAM_STATE_DIR"] == str(tmp_path / "run")
    assert write_demo(tmp_path).env()["HOOKSTREAM_STATE_DIR"] == str(tmp_path)
