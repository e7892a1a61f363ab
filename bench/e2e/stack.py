"""The stack under test: `hookstream up`'s Stack (real Apache Kafka or the embedded Tansu
broker, every service as a child process), on free ports and a temporary state dir, with a pages
file whose rules reply on every simulated page; and the `hookstream` commands the bench runs
against it."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import orjson

from hookstream.embedded import kafka_maven, processes
from hookstream.embedded.apache_kafka import ApacheKafka
from hookstream.embedded.stack import DEV_DEFAULTS, SERVICES, Stack
from hookstream.embedded.tansu import EmbeddedBroker
from hookstream.runtime.errors import ConfigError
from ingress.signature import sign

PAGE_TEMPLATE = """\
  "{page}":
    platform: messenger
    access_token: "bench-token-{page}"
    responder: rules
    rules:
      - name: pricing
        match: {{keywords: [price, cost, pricing]}}
        reply: {{text: "Plans start at 9 EUR.", quick_replies: [{{title: Buy, payload: BUY}}]}}
      - name: get-started
        match: {{payload: GET_STARTED}}
        reply: {{text: "Welcome! Ask me about prices or opening hours."}}
      - name: hours
        match: {{regex: "\\\\b(open|hours?)\\\\b"}}
        reply: {{text: "We are open 9:00-18:00, Monday to Friday."}}
    fallback: {{text: "Thanks! We will get back to you soon."}}
"""


def pages_yaml(page_ids: Sequence[str]) -> str:
    """Every page replies: rules as in deploy/pages.example.yaml, and a fallback."""
    return "pages:\n" + "".join(PAGE_TEMPLATE.format(page=page) for page in page_ids)


def kafka_available() -> str | None:
    """Why the local Apache Kafka cannot run here (None: it can: Java 17+, and the jars cached
    or Maven to resolve them)."""
    try:
        kafka_maven.java_binary()
        version = kafka_maven.kafka_version()
    except ConfigError as exc:
        return str(exc)
    if kafka_maven.missing_jars(kafka_maven.cache_dir(version), version) and not shutil.which(
        "mvn"
    ):
        return "the Kafka jars are not cached and Maven (mvn) is not installed"
    return None


def bench_stack(
    state_dir: Path,
    page_ids: Sequence[str],
    partitions: int,
    broker: str = "kafka",
    without: frozenset[str] = frozenset(),
) -> Stack:
    """`without`: services not started by the stack (the scale-out bench runs its own
    processors workers)."""
    services = tuple(
        replace(spec, port=processes.free_port()) for spec in SERVICES if spec.name not in without
    )
    ports = {spec.name: spec.port for spec in services}
    pages_file = state_dir / "pages.yaml"
    pages_file.write_text(pages_yaml(page_ids))
    env = {
        **os.environ,
        "HOOKSTREAM_STATE_DIR": str(state_dir),
        "HOOKSTREAM_PAGES_FILE": str(pages_file),
        "CLICKHOUSE_URL": f"chdb://{state_dir / 'analytics'}",
        "GRAPH_API_BASE_URL": f"http://127.0.0.1:{ports['sandbox']}",
        "HOOKSTREAM_SINK_QUERY_URL": f"http://127.0.0.1:{ports['sink']}",
    }
    return Stack(
        settings_env=env,
        partitions=partitions,
        state_dir=state_dir,
        services=services,
        broker=(ApacheKafka(state_dir / "kafka") if broker == "kafka" else EmbeddedBroker(port=0)),
    )


def url(stack: Stack, service: str, path: str) -> str:
    port = next(spec.port for spec in stack.services if spec.name == service)
    return f"http://{stack.host}:{port}{path}"


@contextlib.contextmanager
def output_to(log: Path) -> Iterator[None]:
    """Children started inside inherit stdout/stderr pointing at `log` (services log at INFO,
    as under `hookstream up`), and the bench's own output stays readable."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with log.open("ab") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


def child_pids(stack: Stack) -> dict[str, int]:
    if isinstance(stack.broker, ApacheKafka):
        broker = stack.broker.node(stack.broker.node_ids[0]).process
    else:
        broker = stack.broker._process
    pids = {"broker": broker.pid} if broker is not None else {}
    return {**pids, **{name: child.pid for name, child in stack.children.items()}}


def hookstream(stack: Stack, *argv: str) -> subprocess.Popen[bytes]:
    """`python -m hookstream <argv>` with the stack's environment; stdout piped."""
    env = {**stack.child_env(), "HOOKSTREAM_LOG_LEVEL": "WARNING"}
    return processes.spawn(
        [sys.executable, "-m", "hookstream", *argv], env=env, stdout=subprocess.PIPE
    )


def hookstream_json(stack: Stack, *argv: str, timeout_s: float = 120.0) -> Any:
    child = hookstream(stack, *argv)
    out, _ = child.communicate(timeout=timeout_s)
    if child.returncode != 0:
        raise RuntimeError(f"hookstream {argv[0]} exited with {child.returncode}")
    return orjson.loads(out.splitlines()[0]) if argv[0] == "lag" else orjson.loads(out)


def warm_up(stack: Stack, timeout_s: float = 120.0) -> float:
    """One signed webhook whose reply must reach the sandbox: every consumer group has joined.
    Returns the seconds it took."""
    now = int(time.time() * 1000)
    event = {
        "sender": {"id": "warm-up"},
        "recipient": {"id": "1001"},
        "timestamp": now,
        "message": {"mid": f"m_warm_up_{now}", "text": "what is the price?"},
    }
    body = orjson.dumps(
        {"object": "page", "entry": [{"id": "1001", "time": now, "messaging": [event]}]}
    )
    headers = {
        "content-type": "application/json",
        "x-hub-signature-256": sign(body, DEV_DEFAULTS["HOOKSTREAM_APP_SECRETS"]),
    }
    started = time.monotonic()
    _until(lambda: httpx.get(url(stack, "ingress", "/readyz")).status_code == 200, timeout_s)
    httpx.post(url(stack, "ingress", "/webhook"), content=body, headers=headers).raise_for_status()
    _until(lambda: (sandbox_accepted(stack) or 0) >= 1, timeout_s)
    return time.monotonic() - started


def sandbox_accepted(stack: Stack) -> int | None:
    """Messages the Send API sandbox accepted so far (None if it did not answer)."""
    try:
        counts = httpx.get(url(stack, "sandbox", "/sandbox/stats"), timeout=5.0).json()
    except httpx.HTTPError:
        return None
    return int(counts.get("accepted", 0))


def _until(condition: Any, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if condition():
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the stack did not become ready (see the services log)")
        time.sleep(0.5)


def spawn_service(stack: Stack, name: str, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    """One more `hookstream <name>` worker beside the stack's (same environment, own port)."""
    port = processes.free_port()
    argv = [sys.executable, "-m", "hookstream", name, "--host", stack.host, "--port", str(port)]
    with log.open("ab") as sink:
        child = processes.spawn(argv, env=stack.child_env(), stdout=sink, stderr=sink, group=True)
    return child, port


def load_average() -> list[float]:
    """The machine's 1, 5 and 15 minute load averages."""
    return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]
