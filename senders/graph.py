"""The Send API over HTTP (httpx, pooled keep-alive connections, timeouts). The only network code
here besides the transport (senders/transport.py)."""

from __future__ import annotations

import importlib.util
import logging
import sys
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from hookstream.runtime.logging import event, get_logger
from hookstream.runtime.pages import PagesConfig, app_secret_for, appsecret_proof
from hookstream.runtime.settings import SenderSettings, Settings
from hookstream.runtime.settings.graph_versions import version_warning
from senders.classify import (
    SendSuccess,
    classify_answer,
    usage_headers,
    usage_percent,
    wait_asked,
)
from senders.errors import SendError, TemporarySendError
from senders.http_transport import KeepAliveTransport

JSON_HEADERS = {"content-type": "application/json"}
MAX_CACHED_URLS = 10_000
log = get_logger("sender")


@dataclass(frozen=True, slots=True)
class PageRoute:
    """Where a page's calls go and what signs them: the versioned base URL (graph.facebook.com,
    or graph.instagram.com for an Instagram Login account) and its app secret ("" = no proof)."""

    base: str
    secret: str = ""


def page_routes(pages: PagesConfig, settings: Settings) -> dict[str, PageRoute]:
    """Each configured page's route, decided once at start (never per call)."""
    sender = settings.sender
    routes = {}
    for page_id, page in pages.pages.items():
        host = sender.graph_api_base_url
        if page.platform == "instagram" and page.login == "instagram":
            host = sender.instagram_api_base_url
        secret = app_secret_for(pages, page, settings.ingress.app_secrets)
        routes[page_id] = PageRoute(
            f"{host}/{sender.graph_api_version}", secret.reveal() if secret else ""
        )
    return routes


class NoCookies(httpx.Cookies):
    """The Send API sets no cookie the sender needs; httpx would run every answer through
    http.cookiejar (measured: ~9 % of the sender's CPU at 1,000 calls/s)."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


@dataclass(frozen=True, slots=True)
class Answer:
    success: SendSuccess
    usage_percent: float


def _fast_missing_sniffio() -> None:
    """httpcore runs `import sniffio` on every pooled request; when sniffio is not installed each
    attempt searches sys.path again (measured: ~40 % of the sender's CPU). Recording the module
    as missing makes the import fail at once, with the same outcome (httpcore assumes asyncio)."""
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


def _proxied(base_url: str) -> bool:
    """Whether HTTP(S)_PROXY applies to the Send API (then httpx's own transport is used)."""
    url = httpx.URL(base_url)
    return url.scheme in urllib.request.getproxies() and not urllib.request.proxy_bypass(url.host)


def default_transport(settings: SenderSettings) -> httpx.AsyncBaseTransport | None:
    """The lean keep-alive transport (~3x less CPU per call than httpcore, measured by
    bench/sender), or None (httpx's default, honouring a proxy) when a proxy is configured."""
    if _proxied(settings.graph_api_base_url):
        _fast_missing_sniffio()
        return None
    return KeepAliveTransport(max_connections=settings.concurrency)


class GraphClient:
    def __init__(
        self,
        settings: SenderSettings,
        transport: httpx.AsyncBaseTransport | None = None,
        routes: Mapping[str, PageRoute] | None = None,
    ) -> None:
        timeout = httpx.Timeout(settings.http_timeout_s, connect=min(5.0, settings.http_timeout_s))
        limits = httpx.Limits(max_connections=settings.concurrency)
        self._client = httpx.AsyncClient(
            timeout=timeout,
            limits=limits,
            headers=JSON_HEADERS,
            transport=transport or default_transport(settings),
        )
        self._client._cookies = NoCookies()  # httpx has no switch for its cookie persistence
        self._base = f"{settings.graph_api_base_url}/{settings.graph_api_version}"
        self._routes: Mapping[str, PageRoute] = routes or {}
        self._urls: dict[tuple[str, str], httpx.URL] = {}
        warning = version_warning(settings.graph_api_version, datetime.now(UTC).date())
        if warning:
            event(log, "graph_version_warning", logging.WARNING, problem=warning)

    async def close(self) -> None:
        await self._client.aclose()

    def url(self, page_id: str, token: str) -> httpx.URL:
        """The page's endpoint with its token and appsecret_proof, built once per page and token
        (httpx's URL building and the HMAC stay off the per-call path)."""
        key = (page_id, token)
        url = self._urls.get(key)
        if url is None:
            if len(self._urls) >= MAX_CACHED_URLS:
                self._urls.clear()
            route = self._routes.get(page_id)
            params = {"access_token": token}
            if route is not None and route.secret:
                params["appsecret_proof"] = appsecret_proof(route.secret, token)
            base = route.base if route is not None else self._base
            url = self._urls[key] = httpx.URL(f"{base}/{page_id}/messages", params=params)
        return url

    async def send(self, page_id: str, token: str, body: dict[str, Any]) -> Answer:
        """POST one call; return the success or raise a classified SendError."""
        try:
            response = await self._client.post(self.url(page_id, token), content=orjson.dumps(body))
        except httpx.TimeoutException:
            raise TemporarySendError("Send API timed out") from None
        except httpx.HTTPError as exc:
            raise TemporarySendError(f"Send API unreachable: {type(exc).__name__}") from None
        headers = usage_headers(response.headers.raw)
        usage = usage_percent(headers)
        try:
            return Answer(classify_answer(response.status_code, response.content), usage)
        except SendError as exc:
            exc.usage = usage
            exc.retry_after = exc.retry_after or wait_asked(headers) or None
            raise
