"""One frozen settings object, built once at start and passed down explicitly.

    settings = Settings.load(os.environ)           # reads `.env` too, if present

Nothing reads the environment at import time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hookstream.runtime.settings.console import ConsoleSettings
from hookstream.runtime.settings.env import Env, Secret, read_dotenv
from hookstream.runtime.settings.ingress import IngressSettings
from hookstream.runtime.settings.kafka import KafkaSettings
from hookstream.runtime.settings.services import (
    OpsSettings,
    ProcessorSettings,
    SenderSettings,
    SinkSettings,
)
from hookstream.runtime.settings.tracing import TracingSettings

__all__ = [
    "ConsoleSettings",
    "Env",
    "IngressSettings",
    "KafkaSettings",
    "OpsSettings",
    "ProcessorSettings",
    "Secret",
    "SenderSettings",
    "Settings",
    "SinkSettings",
    "TracingSettings",
]


def _default_pages_file(env: Env) -> Path | None:
    configured = env.string("HOOKSTREAM_PAGES_FILE")
    if configured:
        return Path(configured)
    return Path("pages.yaml") if Path("pages.yaml").is_file() else None


@dataclass(frozen=True)
class Settings:
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    ingress: IngressSettings = field(default_factory=IngressSettings)
    processors: ProcessorSettings = field(default_factory=ProcessorSettings)
    sender: SenderSettings = field(default_factory=SenderSettings)
    sink: SinkSettings = field(default_factory=SinkSettings)
    ops: OpsSettings = field(default_factory=OpsSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    tracing: TracingSettings = field(default_factory=TracingSettings)
    pages_file: Path | None = None
    log_format: str = "json"
    log_level: str = "INFO"
    state_dir: Path = Path(".hookstream")

    @classmethod
    def from_env(cls, values: Mapping[str, str]) -> Settings:
        env = Env(values)
        return cls(
            kafka=KafkaSettings.from_env(env),
            ingress=IngressSettings.from_env(env),
            processors=ProcessorSettings.from_env(env),
            sender=SenderSettings.from_env(env),
            sink=SinkSettings.from_env(env),
            ops=OpsSettings.from_env(env),
            console=ConsoleSettings.from_env(env),
            tracing=TracingSettings.from_env(env),
            pages_file=_default_pages_file(env),
            log_format=env.choice("HOOKSTREAM_LOG_FORMAT", "json", ("json", "text")),
            log_level=env.string("HOOKSTREAM_LOG_LEVEL", "INFO").upper(),
            state_dir=Path(env.string("HOOKSTREAM_STATE_DIR", ".hookstream")),
        )

    @classmethod
    def load(cls, environ: Mapping[str, str], dotenv: Path = Path(".env")) -> Settings:
        """Environment wins over `.env`, as with docker and most twelve-factor tools."""
        return cls.from_env({**read_dotenv(dotenv), **environ})
