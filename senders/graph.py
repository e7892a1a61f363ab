"""The Send API over HTTP (httpx, pooled connections, timeouts). The only network code here."""

from __future__ import annotations

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


class GraphClient:
    def __init__(self, settings: SenderSettings, transport: httpx.AsyncBaseTransport | None = None
                 ) -> None:
        limits = httpx.Limits(max_connections=max(10, settings.concurrency),
                              max_keepalive_connections=max(10, settings.concurrency))
        timeout = httpx.Timeout(settings.http_timeout_s, connect=min(5.0, settings.http_timeout_s))
        self._client = httpx.AsyncClient(base_url=settings.graph_api_base_url, limits=limits,
                                         timeout=timeout, transport=transport)
        self._version = settings.graph_api_version

    async def close(self) -> None:
        await self._client.aclose()

    def path(self, page_id: str) -> str:
        return f"/{self._version}/{page_id}/messages"

    async def send(self, page_id: str, token: str, body: dict[str, Any]) -> Answer:
        """POST one call; return the success or raise a classified SendError."""
        try:
            response = await self._client.post(
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
