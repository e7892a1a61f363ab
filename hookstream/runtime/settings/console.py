"""Settings of `hookstream console` (its key is HOOKSTREAM_API_KEY, in the ingress settings)."""

from __future__ import annotations

from dataclasses import dataclass

from hookstream.runtime.services_table import port_of
from hookstream.runtime.settings.env import Env


@dataclass(frozen=True)
class ConsoleSettings:
    sender_url: str = f"http://127.0.0.1:{port_of('sender')}"  # its /metrics: pages it holds
    window_minutes: int = 10  # the overview's rates are over this many recent minutes
    refresh_s: int = 10  # pages that show live figures reload themselves this often
    lookback_days: int = 7  # how far back search looks

    @classmethod
    def from_env(cls, env: Env) -> ConsoleSettings:
        return cls(
            sender_url=env.string("HOOKSTREAM_CONSOLE_SENDER_URL", cls.sender_url).rstrip("/"),
            window_minutes=env.integer("HOOKSTREAM_CONSOLE_WINDOW_MINUTES", cls.window_minutes),
            refresh_s=env.integer("HOOKSTREAM_CONSOLE_REFRESH_S", cls.refresh_s),
            lookback_days=env.integer("HOOKSTREAM_CONSOLE_LOOKBACK_DAYS", cls.lookback_days),
        )
