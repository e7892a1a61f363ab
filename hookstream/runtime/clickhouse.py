"""ClickHouse client factory: one `CLICKHOUSE_URL` names a server or the embedded engine.

    http(s)://user:pass@host:8123/db   a ClickHouse server (clickhouse-connect over HTTP)
    chdb:///abs/path                   the embedded engine (chDB) on disk at /abs/path
    chdb://./relative                  the embedded engine at a path relative to the cwd

`describe()` never shows the password. One process at a time can open a chDB path, and one
process can host only one chDB path at a time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from hookstream.runtime.errors import ConfigError, HookstreamError
from hookstream.runtime.settings.env import Secret

DEFAULT_DATABASE = "hookstream"


class ClickHouseUnavailable(HookstreamError):
    """ClickHouse could not be reached or opened; try again later."""

    retriable = True
    retry_after = 2.0


@dataclass(frozen=True)
class ClickHouseTarget:
    kind: str  # "chdb" | "http"
    database: str = DEFAULT_DATABASE
    path: str = ""  # chdb only
    host: str = ""
    port: int = 8123
    secure: bool = False
    username: str = "default"
    password: Secret = field(default_factory=lambda: Secret(""))

    @property
    def embedded(self) -> bool:
        return self.kind == "chdb"

    def describe(self) -> str:
        """Where this points, safe for logs (no password)."""
        if self.embedded:
            return f"chdb://{self.path} (database {self.database})"
        scheme = "https" if self.secure else "http"
        return f"{scheme}://{self.username}@{self.host}:{self.port}/{self.database}"


def parse_clickhouse_url(url: str) -> ClickHouseTarget:
    url = url.strip()
    if url.startswith("chdb:"):
        return _parse_chdb(url)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError("CLICKHOUSE_URL must be http(s)://user:pass@host:8123/db or chdb:///path")
    try:
        port = parts.port or (8443 if parts.scheme == "https" else 8123)
    except ValueError:
        raise ConfigError("CLICKHOUSE_URL has an invalid port") from None
    database = unquote(parts.path.strip("/").split("/")[0]) or DEFAULT_DATABASE
    return ClickHouseTarget(
        kind="http",
        database=database,
        host=parts.hostname,
        port=port,
        secure=parts.scheme == "https",
        username=unquote(parts.username or "default"),
        password=Secret(unquote(parts.password or "")),
    )


def _parse_chdb(url: str) -> ClickHouseTarget:
    rest = url.removeprefix("chdb:").removeprefix("//")
    path, _, database = rest.partition("?database=")
    if not path or path in ("memory", ":memory:"):
        raise ConfigError("CLICKHOUSE_URL chdb:// needs a path (chdb:///abs or chdb://./rel)")
    resolved = Path(path).expanduser()
    return ClickHouseTarget(
        kind="chdb", path=str(resolved.resolve()), database=database or DEFAULT_DATABASE
    )


def quiet_client_logs() -> None:
    """clickhouse-connect (and urllib3 under it) log every retry and every value they cannot
    serialize, with tracebacks; our callers report those failures themselves, in one line."""
    for name in ("clickhouse_connect", "urllib3.connectionpool"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def connect(target: ClickHouseTarget, **settings: Any) -> Client:
    """A clickhouse-connect client for the target, connected to the server's default database
    (the schema module creates ours). Raises ClickHouseUnavailable if it cannot be opened."""
    quiet_client_logs()
    try:
        if target.embedded:
            Path(target.path).mkdir(parents=True, exist_ok=True)
            return clickhouse_connect.get_client(
                interface="chdb", path=target.path, settings=settings or None
            )
        return clickhouse_connect.get_client(
            host=target.host,
            port=target.port,
            username=target.username,
            password=target.password.reveal(),
            secure=target.secure,
            settings=settings or None,
            connect_timeout=5,
            send_receive_timeout=60,
        )
    except Exception as exc:  # noqa: BLE001 - any failure to open is "unavailable"
        raise ClickHouseUnavailable(
            f"cannot open ClickHouse at {target.describe()}: {_short(exc)}"
        ) from None


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300]
