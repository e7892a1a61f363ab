"""A thin synchronous Graph API client for `hookstream pages` (httpx): one method per call the
command makes, each answering a `GraphAnswer` (Meta's JSON, or Meta's error as a value). It adds
`appsecret_proof` to every call whose secret is known; it never logs or returns a token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from hookstream.runtime.pages import appsecret_proof

FACEBOOK, INSTAGRAM = "facebook", "instagram"


@dataclass(frozen=True)
class GraphError:
    """Meta's `error` object (code 0: the Graph API could not be reached or answered no JSON)."""

    code: int
    subcode: int
    message: str
    status: int = 0
    type: str = ""


@dataclass(frozen=True)
class GraphAnswer:
    data: dict[str, Any]
    error: GraphError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def answer_of(status: int, body: Any) -> GraphAnswer:
    """Meta's answer as a value: its data, or its error (also for non-JSON and 5xx answers)."""
    if not isinstance(body, dict):
        return GraphAnswer(
            {}, GraphError(0, 0, f"the Graph API answered {status} without JSON", status)
        )
    error = body.get("error")
    if isinstance(error, dict):
        return GraphAnswer(
            {},
            GraphError(
                _int(error.get("code")),
                _int(error.get("error_subcode")),
                str(error.get("message", ""))[:300],
                status,
                str(error.get("type", "")),
            ),
        )
    if status >= 400:
        return GraphAnswer({}, GraphError(0, 0, f"the Graph API answered {status}", status))
    return GraphAnswer(body)


class GraphApi:
    def __init__(
        self,
        base_url: str,
        version: str,
        instagram_base_url: str = "https://graph.instagram.com",
        timeout_s: float = 15.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._hosts = {FACEBOOK: base_url.rstrip("/"), INSTAGRAM: instagram_base_url.rstrip("/")}
        self.version = version
        self._client = httpx.Client(timeout=timeout_s, transport=transport)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> GraphApi:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def call(
        self,
        method: str,
        path: str,
        token: str,
        secret: str = "",
        params: dict[str, str] | None = None,
        host: str = FACEBOOK,
    ) -> GraphAnswer:
        query = {**(params or {}), "access_token": token}
        if secret and token:
            query["appsecret_proof"] = appsecret_proof(secret, token)
        url = f"{self._hosts[host]}/{self.version}/{path.lstrip('/')}"
        try:
            response = self._client.request(method, url, params=query)
        except httpx.HTTPError as exc:
            where = self._hosts[host]
            return GraphAnswer({}, GraphError(0, 0, f"{where} unreachable: {type(exc).__name__}"))
        try:
            body = response.json()
        except ValueError:
            body = None
        return answer_of(response.status_code, body)

    def subscribed_apps(
        self, node: str, token: str, secret: str = "", host: str = FACEBOOK
    ) -> GraphAnswer:
        return self.call("GET", f"{node}/subscribed_apps", token, secret, host=host)

    def subscribe(
        self, node: str, token: str, fields: tuple[str, ...], secret: str = "", host: str = FACEBOOK
    ) -> GraphAnswer:
        params = {"subscribed_fields": ",".join(fields)}
        return self.call("POST", f"{node}/subscribed_apps", token, secret, params, host)

    def debug_token(self, input_token: str, access_token: str, secret: str = "") -> GraphAnswer:
        return self.call("GET", "debug_token", access_token, secret, {"input_token": input_token})

    def node(
        self, node: str, token: str, fields: str = "id,name", secret: str = "", host: str = FACEBOOK
    ) -> GraphAnswer:
        return self.call("GET", node, token, secret, {"fields": fields}, host)
