"""`hookstream up`: the whole pipeline on one machine, no container engine.

Starts the embedded broker, creates the topics, then each service as a child process of this one
(`python -m hookstream <service>`), all pointed at the broker. Ctrl-C, SIGTERM, a failing child or
a failing start stop everything; children die with this process even if it is killed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hookstream.embedded import processes
from hookstream.embedded.tansu import EmbeddedBroker
from hookstream.runtime.kafka import ensure_topics
from hookstream.runtime.logging import event, get_logger
from hookstream.runtime.services_table import port_of
from hookstream.runtime.settings import Settings

log = get_logger("up")

# Development defaults, used only by `hookstream up` and only where the environment sets nothing.
DEV_DEFAULTS = {
    "HOOKSTREAM_APP_SECRETS": "dev-app-secret",
    "HOOKSTREAM_VERIFY_TOKEN": "dev-verify-token",
    "HOOKSTREAM_API_KEY": "dev-api-key",
    "KAFKA_ENABLE_IDEMPOTENCE": "false",
    # The demo pages file and its tokens, known to both the sandbox and the sender.
    "HOOKSTREAM_PAGES_FILE": "deploy/pages.example.yaml",
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


@dataclass
class Stack:
    settings_env: Mapping[str, str]
    host: str = "127.0.0.1"
    partitions: int = 8
    state_dir: Path = Path(".hookstream")
    services: tuple[ServiceSpec, ...] = SERVICES
    broker: EmbeddedBroker = field(default_factory=EmbeddedBroker)
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def child_env(self) -> dict[str, str]:
        env = {**DEV_DEFAULTS, **self.settings_env}
        env["KAFKA_BOOTSTRAP_SERVERS"] = self.broker.bootstrap_servers
        env["KAFKA_ENABLE_IDEMPOTENCE"] = "false"
        env["HOOKSTREAM_PARTITIONS"] = str(self.partitions)
        env.setdefault("GRAPH_API_BASE_URL", f"http://{self.host}:{port_of('sandbox')}")
        env.setdefault("HOOKSTREAM_STATE_DIR", str(self.state_dir))
        return env

    def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.broker.log_path = self.state_dir / "broker.log"
        self.broker.start()
        env = self.child_env()
        settings = Settings.from_env(env)
        asyncio.run(ensure_topics(settings.kafka))
        for spec in self.services:
            argv = [
                sys.executable,
                "-m",
                "hookstream",
                spec.name,
                "--host",
                self.host,
                "--port",
                str(spec.port),
            ]
            self.children[spec.name] = processes.spawn(argv, env=env)
        self._wait_healthy()

    def _wait_healthy(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        pending = {spec.name: spec.port for spec in self.services}
        while pending:
            self.check_children()
            for name, port in list(pending.items()):
                if processes.port_open(self.host, port):
                    del pending[name]
            if time.monotonic() > deadline:
                raise RuntimeError(f"services did not start listening: {', '.join(pending)}")
            time.sleep(0.1)

    def check_children(self) -> None:
        for name, child in self.children.items():
            if child.poll() is not None:
                raise RuntimeError(f"service {name} exited with code {child.returncode}")

    def stop(self) -> None:
        for child in reversed(list(self.children.values())):
            processes.stop(child)
        self.children.clear()
        self.broker.stop()

    def banner(self) -> str:
        lines = [
            f"hookstream is up (broker {self.broker.bootstrap_servers}, "
            f"{self.partitions} partitions, state in {self.state_dir}/)"
        ]
        for spec in self.services:
            urls = " ".join(f"http://{self.host}:{spec.port}{path}" for path in spec.paths)
            lines.append(f"  {spec.name:<13} {spec.what:<22} {urls}")
        lines.append(
            "  dev secrets: app secret 'dev-app-secret', verify token 'dev-verify-token',"
            " API key 'dev-api-key' (override with HOOKSTREAM_* variables)"
        )
        lines.append(
            f"  try: hookstream simulate --url http://{self.host}:{port_of('ingress')}/webhook "
            "--rate 200 --duration 10"
        )
        if self.broker.port != DEFAULT_KAFKA_PORT:
            lines.append(
                f"  port {DEFAULT_KAFKA_PORT} was taken: for the CLI tools, export "
                f"KAFKA_BOOTSTRAP_SERVERS={self.broker.bootstrap_servers}"
            )
        lines.append("Ctrl-C stops everything.")
        return "\n".join(lines)


def run_stack(stack: Stack) -> int:
    def _terminate(*_: object) -> None:
        raise KeyboardInterrupt

    # Explicit for SIGINT too: a stack started in the background inherits SIGINT ignored.
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    try:
        stack.start()
        print(stack.banner(), flush=True)
        while True:
            stack.check_children()
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("stopping...", flush=True)
        return 0
    except (RuntimeError, OSError) as exc:
        event(log, "stack_failed", error=str(exc))
        print(f"hookstream up failed: {exc}", file=sys.stderr)
        return 1
    finally:
        stack.stop()


def stack_from_environment(settings: Settings, partitions: int, host: str) -> Stack:
    return Stack(
        settings_env=dict(os.environ),
        partitions=partitions,
        host=host,
        state_dir=settings.state_dir,
        broker=EmbeddedBroker(port=preferred_port(host)),
    )


def preferred_port(host: str) -> int:
    """Kafka's usual port when it is free, so that `hookstream lag`, `replay`, `dlq` and the
    rest find the embedded broker with their defaults; else any free port (see the banner)."""
    return DEFAULT_KAFKA_PORT if not processes.port_open(host, DEFAULT_KAFKA_PORT) else 0
