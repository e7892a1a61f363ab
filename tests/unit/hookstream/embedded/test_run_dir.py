"""The embedded broker's run: the engine's data fresh at every start, the previous run's kept
once; beside a durable Kafka the data stays where it was."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hookstream.embedded import stack_file
from hookstream.embedded.apache_kafka import ApacheKafka
from hookstream.embedded.stack import ServiceSpec, Stack, StackError, fresh_run_dir

SERVICES = (ServiceSpec("sink", 9102, "analytics"),)


def test_each_start_gets_an_empty_run_and_keeps_one_previous(tmp_path: Path) -> None:
    first = fresh_run_dir(tmp_path)
    (first / "analytics").mkdir()
    (first / "analytics" / "one").write_text("first run")
    second = fresh_run_dir(tmp_path)
    assert second == tmp_path / "run" and list(second.iterdir()) == []
    assert (tmp_path / "previous-run" / "analytics" / "one").read_text() == "first run"
    (second / "two").write_text("second run")
    fresh_run_dir(tmp_path)
    assert [p.name for p in (tmp_path / "previous-run").iterdir()] == ["two"]


def test_the_embedded_stacks_services_keep_their_data_in_the_run(tmp_path: Path) -> None:
    stack = Stack(settings_env={"HOOKSTREAM_STATE_DIR": str(tmp_path)}, state_dir=tmp_path)
    env = stack.child_env()
    assert env["HOOKSTREAM_STATE_DIR"] == str(tmp_path / "run")
    assert env["CLICKHOUSE_URL"] == f"chdb://{tmp_path.resolve() / 'run' / 'analytics'}"
    assert "fresh in" in stack.banner() and "previous run" not in stack.banner()
    (tmp_path / "previous-run").mkdir()
    assert f"the previous run's in {tmp_path / 'previous-run'}/" in stack.banner()


def test_the_kafka_stacks_services_keep_their_data_beside_the_log(tmp_path: Path) -> None:
    stack = Stack(
        settings_env={}, state_dir=tmp_path, broker=ApacheKafka(tmp_path / "kafka", ports=(1,))
    )
    env = stack.child_env()
    assert env["HOOKSTREAM_STATE_DIR"] == str(tmp_path)
    assert env["CLICKHOUSE_URL"] == f"chdb://{tmp_path.resolve() / 'analytics'}"
    assert "kept in" in stack.banner()


def test_a_server_clickhouse_url_is_left_alone(tmp_path: Path) -> None:
    url = "http://default:pw@clickhouse:8123/hookstream"
    stack = Stack(settings_env={"CLICKHOUSE_URL": url}, state_dir=tmp_path)
    assert stack.child_env()["CLICKHOUSE_URL"] == url


def test_a_second_stack_on_a_live_stacks_state_dir_is_refused(tmp_path: Path) -> None:
    parent = os.getppid()  # alive, and not this process
    stack_file.write(
        tmp_path,
        bootstrap_servers="127.0.0.1:1",
        broker="embedded",
        idempotence=False,
        clickhouse_url="chdb:///x",
        pid=parent,
    )
    stack = Stack(settings_env={}, state_dir=tmp_path, services=SERVICES)
    with pytest.raises(StackError, match=f"another hookstream up \\(pid {parent}\\)"):
        stack.check_state_dir()
    stack_file.remove(tmp_path)
    stack.check_state_dir()  # no stack file: fine
