"""The running stack, described in `<state_dir>/stack.json` so that CLI tools find it.

`hookstream up` writes the file once its services listen and removes it when it stops:

    stack_file.write(state_dir, bootstrap_servers="127.0.0.1:9092", broker="embedded",
                     idempotence=False, clickhouse_url=..., topic_prefix="hookstream.",
                     pages_file=Path("deploy/pages.example.yaml"), ports={"ingress": 8000, ...})
    stack_file.remove(state_dir)

A CLI command run without `KAFKA_BOOTSTRAP_SERVERS` calls `find()` and takes its settings from
`StackFile.env()`, under whatever the environment sets explicitly. A file whose `hookstream up`
is no longer alive (killed with -9, machine rebooted) is ignored. No secret is written here.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

FILE_NAME = "stack.json"
DEFAULT_STATE_DIR = Path(".hookstream")
VERSION = 1

BrokerKind = Literal["embedded", "kafka"]


@dataclass(frozen=True)
class StackFile:
    bootstrap_servers: str
    broker: BrokerKind
    idempotence: bool  # False for the embedded Tansu broker (InitProducerId fails)
    state_dir: Path
    clickhouse_url: str
    topic_prefix: str = "hookstream."
    pages_file: Path | None = None
    ports: Mapping[str, int] = field(default_factory=dict)
    pid: int = 0  # of `hookstream up`
    host: str = "127.0.0.1"
    partitions: int = 8
    started_at_ms: int = 0  # when the stack file was written (its services were listening)
    # where the services keep the data that lives and dies with the broker's (the embedded
    # broker: this run's `<state_dir>/run`); the CLI's HOOKSTREAM_STATE_DIR. None: state_dir
    data_dir: Path | None = None

    def url(self, service: str, path: str = "") -> str | None:
        """`http://host:port<path>` of one of the stack's services, None if it has none."""
        port = self.ports.get(service)
        return f"http://{self.host}:{port}{path}" if port else None

    def env(self) -> dict[str, str]:
        """The stack's settings as environment variables, for `Settings.from_env`."""
        values = {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "KAFKA_ENABLE_IDEMPOTENCE": "true" if self.idempotence else "false",
            "HOOKSTREAM_STATE_DIR": str(self.data_dir or self.state_dir),
            "CLICKHOUSE_URL": self.clickhouse_url,
            "HOOKSTREAM_TOPIC_PREFIX": self.topic_prefix,
            "KAFKA_PARTITIONS": str(self.partitions),
        }
        if self.pages_file is not None:
            values["HOOKSTREAM_PAGES_FILE"] = str(self.pages_file)
        sink = self.url("sink")
        if sink:
            values["HOOKSTREAM_SINK_QUERY_URL"] = sink
        sandbox = self.url("sandbox")
        if sandbox:
            values["GRAPH_API_BASE_URL"] = sandbox
            values["HOOKSTREAM_SENDER_INSTAGRAM_API_BASE_URL"] = sandbox
        sender = self.url("sender")
        if sender:
            # `hookstream pages status` reads its /metrics
            values["HOOKSTREAM_OPS_SENDER_URL"] = sender
        return values

    def to_json(self) -> bytes:
        raw = asdict(self)
        raw["state_dir"] = str(self.state_dir)
        raw["data_dir"] = str(self.data_dir) if self.data_dir is not None else None
        raw["pages_file"] = str(self.pages_file) if self.pages_file is not None else None
        raw["ports"] = dict(self.ports)
        return orjson.dumps({"version": VERSION, **raw}, option=orjson.OPT_INDENT_2)

    @classmethod
    def from_json(cls, data: bytes) -> StackFile:
        raw: dict[str, Any] = orjson.loads(data)
        if not isinstance(raw, dict):
            raise ValueError("stack file is not a JSON object")
        broker = raw.get("broker")
        if broker not in ("embedded", "kafka"):
            raise ValueError(f"unknown broker kind {broker!r}")
        ports = raw.get("ports") or {}
        pages = raw.get("pages_file")
        kept_in = raw.get("data_dir")
        return cls(
            bootstrap_servers=str(raw["bootstrap_servers"]),
            broker=broker,
            idempotence=bool(raw["idempotence"]),
            state_dir=Path(str(raw["state_dir"])),
            clickhouse_url=str(raw["clickhouse_url"]),
            topic_prefix=str(raw.get("topic_prefix", "hookstream.")),
            pages_file=Path(str(pages)) if pages else None,
            ports={str(name): int(port) for name, port in dict(ports).items()},
            pid=int(raw.get("pid", 0)),
            host=str(raw.get("host", "127.0.0.1")),
            partitions=int(raw.get("partitions", 8)),
            started_at_ms=int(raw.get("started_at_ms", 0)),
            data_dir=Path(str(kept_in)) if kept_in else None,
        )


def path_in(state_dir: Path) -> Path:
    return Path(state_dir) / FILE_NAME


def _absolute_chdb(url: str) -> str:
    """`chdb://./x` is relative to where `up` ran; a tool may run elsewhere."""
    prefix = "chdb://"
    if url.startswith(prefix) and not url.startswith(prefix + "/"):
        return prefix + str(Path(url[len(prefix) :]).resolve())
    return url


def write(
    state_dir: Path,
    *,
    bootstrap_servers: str,
    broker: BrokerKind,
    idempotence: bool,
    clickhouse_url: str,
    topic_prefix: str = "hookstream.",
    pages_file: Path | None = None,
    ports: Mapping[str, int] | None = None,
    pid: int | None = None,
    host: str = "127.0.0.1",
    partitions: int = 8,
    started_at_ms: int | None = None,
    data_dir: Path | None = None,
) -> StackFile:
    """Write `<state_dir>/stack.json` atomically (paths made absolute); pid defaults to ours."""
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    stack = StackFile(
        bootstrap_servers=bootstrap_servers,
        broker=broker,
        idempotence=idempotence,
        state_dir=state_dir.resolve(),
        clickhouse_url=_absolute_chdb(clickhouse_url),
        topic_prefix=topic_prefix,
        pages_file=Path(pages_file).resolve() if pages_file is not None else None,
        ports=dict(ports or {}),
        pid=os.getpid() if pid is None else pid,
        host=host,
        partitions=partitions,
        started_at_ms=int(time.time() * 1000) if started_at_ms is None else started_at_ms,
        data_dir=Path(data_dir).resolve() if data_dir is not None else None,
    )
    target = path_in(state_dir)
    temporary = target.with_name(f".{FILE_NAME}.{os.getpid()}.tmp")
    temporary.write_bytes(stack.to_json())
    temporary.replace(target)
    return stack


def remove(state_dir: Path, pid: int | None = None) -> None:
    """Remove the stack file; with `pid`, only if that process wrote it (not a newer stack's)."""
    target = path_in(state_dir)
    if pid is not None:
        current = read(target)
        if current is not None and current.pid != pid:
            return
    with contextlib.suppress(FileNotFoundError):
        target.unlink()


def read(path: Path) -> StackFile | None:
    """The stack file at `path`, None if missing or unreadable (a half-written or old file)."""
    try:
        return StackFile.from_json(Path(path).read_bytes())
    except (OSError, ValueError, KeyError, TypeError):
        return None


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def candidates(environ: Mapping[str, str], cwd: Path) -> list[Path]:
    """Where to look: HOOKSTREAM_STATE_DIR, else `.hookstream` in the cwd and its parents (a
    tool run from a subdirectory of where `hookstream up` runs finds it too)."""
    configured = environ.get("HOOKSTREAM_STATE_DIR", "").strip()
    if configured:
        return [path_in(Path(configured))]
    return [path_in(folder / DEFAULT_STATE_DIR) for folder in (cwd, *cwd.parents)]


def find(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> StackFile | None:
    """The live stack: the first `stack.json` found (see `candidates`) whose `hookstream up`
    is still alive; None if there is none."""
    values = os.environ if environ is None else environ
    for path in candidates(values, Path.cwd() if cwd is None else cwd):
        stack = read(path)
        if stack is not None and pid_alive(stack.pid):
            return stack
    return None
