"""`hookstream up`: the whole pipeline on one machine, no container engine.

Checks every port first, starts the broker (the embedded Tansu broker, or with `--broker kafka` a
durable local Apache Kafka whose log lives in `<state_dir>/kafka/`), creates the topics, then each
service as a child process of this one (`python -m hookstream <service>`), all pointed at the
broker, their output in `<state_dir>/logs/<service>.log`. Once they listen, `<state_dir>/stack.json`
describes the stack for the CLI tools run beside it.

The engine's data (chDB analytics, the processors' tables) lives and dies with the broker's: with
the memory-only embedded broker every start gets a fresh `<state_dir>/run/` (the previous run's is
moved to `<state_dir>/previous-run/`, an older one removed), so `stats` and `trace` never show
events the broker no longer has; with `--broker kafka` it stays in the state dir beside the
durable Kafka log, kept across restarts like the topics.

Ctrl-C, SIGTERM, a failing child or a failing start stop everything: services first, then the
broker, then one final line. Children are in their own process group (a terminal's Ctrl-C reaches
only this process, which stops them in order) and die with this process even if it is killed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from hookstream.embedded import processes, stack_file
from hookstream.embedded.apache_kafka import ApacheKafka
from hookstream.embedded.tansu import EmbeddedBroker
from hookstream.runtime.errors import HookstreamError
from hookstream.runtime.kafka import ensure_topics
from hookstream.runtime.logging import event, get_logger
from hookstream.runtime.services_table import port_of
from hookstream.runtime.settings import Settings, current_names

log = get_logger("up")

# The demo pages file of this checkout: found wherever `hookstream up` is started from.
_DEMO_PAGES = Path(__file__).resolve().parents[2] / "deploy" / "pages.example.yaml"

# Development defaults, used only by `hookstream up` and only where the environment sets nothing.
DEV_DEFAULTS = {
    "HOOKSTREAM_APP_SECRETS": "dev-app-secret",
    "HOOKSTREAM_VERIFY_TOKEN": "dev-verify-token",
    "HOOKSTREAM_API_KEY": "dev-api-key",
    "KAFKA_ENABLE_IDEMPOTENCE": "false",
    # The demo pages file and its tokens, known to both the sandbox and the sender.
    "HOOKSTREAM_PAGES_FILE": str(
        _DEMO_PAGES if _DEMO_PAGES.exists() else "deploy/pages.example.yaml"
    ),
    "PAGE_1001_TOKEN": "dev-page-1001-token",
    "PAGE_IG_TOKEN": "dev-page-ig-token",
}


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    port: int
    what: str
    paths: tuple[str, ...] = ("/healthz", "/metrics")


DEFAULT_KAFKA_PORT = 9092

# The services `up` starts, in start order. Add one line per service.
SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        "ingress", port_of("ingress"), "webhooks", ("/webhook", "/healthz", "/readyz", "/metrics")
    ),
    ServiceSpec("sandbox", port_of("sandbox"), "Send API sandbox", ("/", "/sandbox/messages")),
    ServiceSpec("sender", port_of("sender"), "Send API delivery", ("/healthz", "/metrics")),
    ServiceSpec(
        "sink", port_of("sink"), "analytics -> ClickHouse", ("/healthz", "/metrics", "/api/stats")
    ),
    ServiceSpec(
        "processors", port_of("processors"), "faust processors", ("/healthz", "/readyz", "/metrics")
    ),
    ServiceSpec("lag-exporter", port_of("lag-exporter"), "consumer lag", ("/healthz", "/metrics")),
)


class StackError(HookstreamError):
    """`hookstream up` cannot start or keep running; one line for the user."""


RUN_DIR = "run"  # the embedded broker's run: the engine's data, fresh at every start
PREVIOUS_RUN_DIR = "previous-run"  # the run before, kept until the next start


def fresh_run_dir(state_dir: Path) -> Path:
    """A new, empty `<state_dir>/run/`; the one there before becomes `previous-run/`."""
    run, previous = state_dir / RUN_DIR, state_dir / PREVIOUS_RUN_DIR
    if run.exists():
        shutil.rmtree(previous, ignore_errors=True)
        run.rename(previous)
    run.mkdir(parents=True)
    return run


@dataclass
class Stack:
    settings_env: Mapping[str, str]
    host: str = "127.0.0.1"
    partitions: int = 8
    state_dir: Path = Path(".hookstream")
    services: tuple[ServiceSpec, ...] = SERVICES
    broker: EmbeddedBroker | ApacheKafka = field(default_factory=EmbeddedBroker)
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    log_to_files: bool = True  # the services' output in <state_dir>/logs/, not the terminal

    def port(self, service: str) -> int:
        for spec in self.services:
            if spec.name == service:
                return spec.port
        return port_of(service)

    @property
    def durable(self) -> bool:
        """The broker keeps its log across restarts (the local Apache Kafka)."""
        return isinstance(self.broker, ApacheKafka)

    @property
    def run_dir(self) -> Path:
        """Where the services keep their data (HOOKSTREAM_STATE_DIR of the children): the state
        dir beside a durable broker's log, else this run's own directory."""
        return self.state_dir if self.durable else self.state_dir / RUN_DIR

    @property
    def broker_log(self) -> Path:
        if isinstance(self.broker, ApacheKafka):
            return self.broker.log_paths[0]
        return self.state_dir / "broker.log"

    def child_env(self) -> dict[str, str]:
        # former names renamed (this process has said they are deprecated): the defaults below
        # then apply only where the user set nothing under either name
        env = {**DEV_DEFAULTS, **current_names(self.settings_env)}
        env["KAFKA_BOOTSTRAP_SERVERS"] = self.broker.bootstrap_servers
        env["KAFKA_ENABLE_IDEMPOTENCE"] = "true" if self.broker.idempotence else "false"
        env["KAFKA_PARTITIONS"] = str(self.partitions)
        base = f"http://{self.host}"
        env.setdefault("GRAPH_API_BASE_URL", f"{base}:{self.port('sandbox')}")
        env.setdefault("HOOKSTREAM_SENDER_INSTAGRAM_API_BASE_URL", f"{base}:{self.port('sandbox')}")
        env.setdefault("HOOKSTREAM_SINK_QUERY_URL", f"{base}:{self.port('sink')}")
        env.setdefault("HOOKSTREAM_OPS_SENDER_URL", f"{base}:{self.port('sender')}")
        env.setdefault("HOOKSTREAM_CONSOLE_SENDER_URL", f"{base}:{self.port('sender')}")
        # the engine's data beside the broker's: kept together, or fresh together
        env["HOOKSTREAM_STATE_DIR"] = str(self.run_dir)
        env.setdefault("CLICKHOUSE_URL", f"chdb://{self.run_dir.resolve() / 'analytics'}")
        return env

    def check_ports(self) -> None:
        """Every service port free before anything starts (else one line, nothing started)."""
        taken = [
            f"{s.port} ({s.name})" for s in self.services if processes.port_open(self.host, s.port)
        ]
        if taken:
            raise StackError(
                f"port{'s' if len(taken) > 1 else ''} {', '.join(taken)} already in use on "
                f"{self.host}: stop what listens there, or move every port with --port-offset N"
            )

    def check_state_dir(self) -> None:
        """No other live `hookstream up` on this state dir (its data would be moved under it)."""
        other = stack_file.read(stack_file.path_in(self.state_dir))
        if other is not None and other.pid != os.getpid() and stack_file.pid_alive(other.pid):
            raise StackError(
                f"another hookstream up (pid {other.pid}) runs on {self.state_dir}/: stop it, "
                "or give this one its own HOOKSTREAM_STATE_DIR"
            )

    def start(self) -> None:
        self.check_ports()
        self.check_state_dir()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if not self.durable:
            fresh_run_dir(self.state_dir)
        if isinstance(self.broker, EmbeddedBroker):
            self.broker.log_path = self.state_dir / "broker.log"
        self.broker.start()
        env = self.child_env()
        settings = Settings.from_env(env)
        asyncio.run(ensure_topics(settings.kafka))
        logs = self.state_dir / "logs"
        logs.mkdir(exist_ok=True)
        for spec in self.services:
            argv = [sys.executable, "-m", "hookstream", spec.name]
            argv += ["--host", self.host, "--port", str(spec.port)]
            if self.log_to_files:
                with (logs / f"{spec.name}.log").open("ab") as sink:
                    child = processes.spawn(argv, env=env, stdout=sink, stderr=sink, group=True)
            else:
                child = processes.spawn(argv, env=env, group=True)
            self.children[spec.name] = child
        self._wait_listening()
        self._write_stack_file(settings)

    def _write_stack_file(self, settings: Settings) -> None:
        stack_file.write(
            self.state_dir,
            bootstrap_servers=self.broker.bootstrap_servers,
            broker="kafka" if isinstance(self.broker, ApacheKafka) else "embedded",
            idempotence=self.broker.idempotence,
            clickhouse_url=settings.sink.clickhouse_url,
            topic_prefix=settings.kafka.topic_prefix,
            pages_file=settings.pages_file,
            ports={spec.name: spec.port for spec in self.services},
            host=self.host,
            partitions=self.partitions,
            data_dir=self.run_dir,
        )

    def _wait_listening(self, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        pending = {spec.name: spec.port for spec in self.services}
        while pending:
            self.check_children()
            for name, port in list(pending.items()):
                if processes.port_open(self.host, port):
                    del pending[name]
            if time.monotonic() > deadline:
                raise StackError(
                    f"services did not start listening in {timeout_s:.0f}s: {', '.join(pending)}"
                    f" (see {self.state_dir / 'logs'}/)"
                )
            time.sleep(0.1)

    def check_children(self) -> None:
        for name, child in self.children.items():
            if child.poll() is not None:
                where = f"; see {self.state_dir / 'logs' / name}.log" if self.log_to_files else ""
                raise StackError(f"service {name} exited with code {child.returncode}{where}")

    def stop(self, grace_s: float = 10.0) -> None:
        """Services first (all at once, SIGTERM then SIGKILL), then the broker."""
        stack_file.remove(self.state_dir, pid=os.getpid())
        alive = [child for child in self.children.values() if child.poll() is None]
        for child in alive:
            child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for child in alive:
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self.children.clear()
        self.broker.stop()

    def banner(self) -> str:
        if isinstance(self.broker, ApacheKafka):
            what = f"Apache Kafka, log in {self.broker.root}/"
            data = f"analytics and processors state kept in {self.run_dir}/ with the log"
        else:
            what = "embedded broker, in memory"
            previous = self.state_dir / PREVIOUS_RUN_DIR
            data = f"analytics and processors state fresh in {self.run_dir}/, like the broker"
            if previous.exists():
                data += f" (the previous run's in {previous}/ until the next start)"
        lines = [
            f"hookstream is up (broker {self.broker.bootstrap_servers}: {what}; "
            f"{self.partitions} partitions, state in {self.state_dir}/)",
            f"  data: {data}",
        ]
        for spec in self.services:
            urls = " ".join(f"http://{self.host}:{spec.port}{path}" for path in spec.paths)
            lines.append(f"  {spec.name:<13} {spec.what:<22} {urls}")
        lines.append(
            "  dev secrets: app secret 'dev-app-secret', verify token 'dev-verify-token',"
            " API key 'dev-api-key' (override with HOOKSTREAM_* variables)"
        )
        if self.log_to_files:
            lines.append(
                f"  logs: {self.state_dir / 'logs'}/<service>.log, broker {self.broker_log}"
            )
        lines.append(
            f"  try: .venv/bin/hookstream simulate --url "
            f"http://{self.host}:{self.port('ingress')}/webhook --duration 10"
            "   (25 requests/s, ~100 events/s, by default)"
        )
        lines.append("Ctrl-C stops everything.")
        return "\n".join(lines)


def run_stack(stack: Stack) -> int:
    def _terminate(*_: object) -> None:
        raise KeyboardInterrupt

    # This process's own info lines (topics created...) would only interleave with the banner.
    logging.getLogger("hookstream").setLevel(logging.WARNING)
    # Explicit for SIGINT too: a stack started in the background inherits SIGINT ignored.
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    code = 0
    try:
        stack.start()
        print(stack.banner(), flush=True)
        while True:
            stack.check_children()
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("stopping: services, then the broker...", flush=True)
    except (HookstreamError, OSError) as exc:
        event(log, "stack_failed", error=str(exc))
        print(f"hookstream up failed: {exc}", file=sys.stderr, flush=True)
        code = 1
    finally:
        # a second Ctrl-C while stopping must not leave a half-stopped stack behind
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
    kept = (
        f"its log and analytics are kept in {stack.state_dir}/"
        if isinstance(stack.broker, ApacheKafka)
        else "the embedded broker's topics are gone; the next start begins fresh analytics too"
    )
    print(f"hookstream stopped ({kept}).", flush=True)
    return code


def stack_from_environment(
    settings: Settings,
    partitions: int,
    host: str,
    broker: str = "embedded",
    port_offset: int = 0,
) -> Stack:
    """`hookstream up`'s stack: every port moved by `port_offset`; `broker` embedded or kafka."""
    services = tuple(replace(spec, port=spec.port + port_offset) for spec in SERVICES)
    kafka_port = preferred_port(host, DEFAULT_KAFKA_PORT + port_offset)
    chosen: EmbeddedBroker | ApacheKafka
    if broker == "kafka":
        chosen = ApacheKafka(settings.state_dir / "kafka", host=host, ports=(kafka_port,))
    else:
        chosen = EmbeddedBroker(host=host, port=kafka_port)
    return Stack(
        settings_env=dict(os.environ),
        partitions=partitions,
        host=host,
        state_dir=settings.state_dir,
        services=services,
        broker=chosen,
    )


def preferred_port(host: str, port: int = DEFAULT_KAFKA_PORT) -> int:
    """Kafka's usual port (moved by --port-offset) when it is free; else any free port. The CLI
    tools find the broker either way, through `<state_dir>/stack.json`."""
    return port if not processes.port_open(host, port) else 0
