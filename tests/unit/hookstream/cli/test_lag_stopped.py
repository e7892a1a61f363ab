"""Which groups `hookstream lag` calls stopped although the embedded broker lists a member."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hookstream.cli._common import note_runner, runner_file
from hookstream.cli.lag import service_groups, stopped_services
from hookstream.embedded.stack_file import StackFile
from hookstream.runtime.ports import free_port
from hookstream.runtime.settings import KafkaSettings, Settings


def test_a_stack_service_that_does_not_answer_has_a_stopped_group(tmp_path: Path) -> None:
    settings = Settings(kafka=KafkaSettings(topic_prefix="demo."), state_dir=tmp_path)
    assert service_groups(settings) == {
        "demo.processors": "processors",
        "demo.sender": "sender",
        "demo.sink": "sink",
    }
    down = free_port()
    stack = StackFile("b:1", "embedded", False, tmp_path, "chdb:///x", ports={"sender": down})
    assert stopped_services(settings, stack) == {
        "demo.sender": f"the stack's sender does not answer on port {down}"
    }
    assert stopped_services(settings, None) == {}


def test_a_group_whose_reprocess_exited_is_stopped(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
    note_runner(tmp_path, "v2")  # this process: alive
    assert stopped_services(settings, None, ["v2", "other"]) == {}
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    runner_file(tmp_path, "v2").write_text(gone.stdout.strip())
    assert stopped_services(settings, None, ["v2", "other"]) == {
        "v2": "the hookstream command that ran it exited"
    }
    assert int(runner_file(tmp_path, "v2").read_text()) != os.getpid()
