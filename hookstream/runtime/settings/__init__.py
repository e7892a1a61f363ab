"""One frozen settings object, built once at start and passed down explicitly.

    settings = Settings.load(os.environ)           # reads `.env` too, if present

Nothing reads the environment at import time. Every variable's name comes from one rule,
`<PREFIX>_<FIELD>` (see rule.py): `HOOKSTREAM_<SECTION>_<FIELD>` for a section of the
object below, `HOOKSTREAM_<FIELD>` for its top-level fields, `KAFKA_<FIELD>` for its Kafka
section; the public contract's names are the declared exceptions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from hookstream.runtime.settings.console import ConsoleSettings
from hookstream.runtime.settings.env import Env, Secret, read_dotenv
from hookstream.runtime.settings.ingress import IngressSettings
from hookstream.runtime.settings.kafka import KafkaSettings
from hookstream.runtime.settings.rule import names, read_section, setting
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
    "current_names",
    "overlay",
]


# Variables that no longer set anything: still accepted, with one line saying so.
RETIRED = {
    "HOOKSTREAM_SINK_DEDUP_LOOKBACK_S": "the sink finds stored facts in its ledger",
}


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
    pages_file: Path | None = None  # unset: `pages.yaml` if the working directory has one
    log_format: str = setting("json", choices=("json", "text"))
    log_level: str = setting("INFO", clean=str.upper)
    state_dir: Path = Path(".hookstream")

    @classmethod
    def from_env(cls, values: Mapping[str, str]) -> Settings:
        env = Env(values)
        settings = read_section(cls, env)
        for name in sorted(RETIRED.keys() & values.keys()):
            env.deprecated(name, f"{name} has no effect and can go: {RETIRED[name]}")
        if settings.pages_file is None and Path("pages.yaml").is_file():
            settings = replace(settings, pages_file=Path("pages.yaml"))
        return settings

    @classmethod
    def load(cls, environ: Mapping[str, str], dotenv: Path = Path(".env")) -> Settings:
        """Environment wins over `.env`, as with docker and most twelve-factor tools."""
        return cls.from_env({**read_dotenv(dotenv), **environ})


def overlay(base: Mapping[str, str], top: Mapping[str, str]) -> dict[str, str]:
    """`top` over `base`, a setting at a time: a setting `top` gives under any of its names
    (current or former) drops that setting from `base`, so a user's former name is not
    overridden by a default `base` gives under the current one."""
    given = set(top)
    merged = dict(base)
    for group in names(Settings):
        if given.intersection(group):
            for name in group:
                merged.pop(name, None)
    return {**merged, **top}


def current_names(values: Mapping[str, str]) -> dict[str, str]:
    """`values` with every former name replaced by its setting's current one (the current one
    wins if both are set), for a child process whose parent has already reported them."""
    renamed = dict(values)
    for current, *former in names(Settings):
        given = [name for name in former if name in renamed]
        for name in given:
            value = renamed.pop(name)
            if current not in values:
                renamed.setdefault(current, value)
    return renamed
