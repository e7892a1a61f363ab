"""The Send API over HTTP (httpx, pooled connections, timeouts). The only network code here."""

from __future__ import annotations

import importlib.util
import itertools
import sys
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from hookstream.settings import SenderSettings
from senders.classify import SendSuccess, classify_answer, usage_percent
from senders.errors import SendError, TemporarySendError


@dataclass(frozen=True, slots=True)
class Answer:
    success: SendSuccess
    usage_percent: float


# httpx's connection pool slows down as it grows (measured here: one client with 64 connections
# ~210 calls/s, 16 clients of 4 connections ~750 calls/s), so calls spread over small pools.
CONNECTIONS_PER_POOL = 4


def _fast_missing_sniffio() -> None:
    """httpcore runs `import sniffio` on every pooled request; when sniffio is not installed each
    attempt searches sys.path again (measured: ~40 % of the sender's CPU). Recording the module
    as missing makes the import fail at once, with the same outcome (httpcore assumes asyncio)."""
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


class GraphClient:
    def __init__(self, settings: SenderSettings, transport: httpx.AsyncBaseTransport | None = None
                 ) -> None:
        _fast_missing_sniffio()
        pools = max(1, -(-settings.concurrency // CONNECTIONS_PER_POOL))
        limits = httpx.Limits(max_connections=CONNECTIONS_PER_POOL,
                              max_keepalive_connections=CONNECTIONS_PER_POOL)
        timeout = httpx.Timeout(settings.http_timeout_s, connect=min(5.0, settings.http_timeout_s))
        self._clients = [httpx.AsyncClient(base_url=settings.graph_api_base_url, limits=limits,
                                           timeout=timeout, transport=transport)
                         for _ in range(pools)]
        self._turn = itertools.cycle(self._clients)
        self._version = settings.graph_api_version

    async def close(self) -> None:
        for client in self._clients:
            await client.aclose()

    def path(self, page_id: str) -> str:
        return f"/{self._version}/{page_id}/messages"

    async def send(self, page_id: str, token: str, body: dict[str, Any]) -> Answer:
        """POST one call; return the success or raise a classified SendError."""
        try:
            response = await next(self._turn).post(
                self.path(page_id), params={"access_token": token}, content=orjson.dumps(body),
                headers={"content-type": "application/json"},
            )
        except httpx.TimeoutException:
            raise TemporarySendError("Send API timed out") from None
        except httpx.HTTPError as exc:
            raise TemporarySendError(f"Send API unreachable: {type(exc).__name__}") from None
        usage = usage_percent(response.headers)
        try:
            return Answer(classify_answer(response.status_code, response.content), usage)
        except SendError as exc:
            exc.usage = usage
            raise
