"""Settings of `hookstream console`: `HOOKSTREAM_CONSOLE_<FIELD>` (its key is HOOKSTREAM_API_KEY,
in the ingress settings)."""

from __future__ import annotations

from dataclasses import dataclass

from hookstream.runtime.services_table import port_of
from hookstream.runtime.settings.rule import no_trailing_slash, setting


@dataclass(frozen=True)
class ConsoleSettings:
    # its /metrics: pages it holds
    sender_url: str = setting(f"http://127.0.0.1:{port_of('sender')}", clean=no_trailing_slash)
    window_minutes: int = 10  # the overview's rates are over this many recent minutes
    refresh_s: int = 10  # pages that show live figures reload themselves this often
    lookback_days: int = 7  # how far back search looks
