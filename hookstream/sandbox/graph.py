"""The Graph endpoints around the Send API that `hookstream pages` calls, as Meta answers them:

GET    /{version}/debug_token?input_token=...        token inspection (validity, expiry, scopes)
GET    /{version}/me?fields=id,name                  the page (or Instagram account) of a token
GET    /{version}/{node}?fields=id,name              a page or Instagram account
GET    /{version}/{node}/subscribed_apps             the apps subscribed to a page, with fields
POST   /{version}/{node}/subscribed_apps?subscribed_fields=a,b    subscribe ({"success": true})
DELETE /{version}/{node}/subscribed_apps             unsubscribe
GET/PUT /sandbox/graph     what the sandbox pretends (JSON, see `GraphState.configure`):
    {"require_appsecret_proof": true, "app_secrets": ["..."],
     "tokens": {"<token>": {"expired": true, "scopes": ["pages_messaging"], "expires_at": 0}},
     "subscriptions": {"1001": ["messages"]}}

Errors are Meta's: an unknown token 190, an expired one 190 with subcode 463, a missing
permission 200 (subscriptions) or 10 (Send API), a call without the appsecret_proof an app
requires 100 ("API calls from the server require an appsecret_proof argument"). The decisions
here are pure; `GraphFront` (plain ASGI) applies the appsecret_proof rule to every Graph call,
the Send API's included.
"""

from __future__ import annotations

import hmac
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from hookstream.runtime.pages import PagesConfig, appsecret_proof
from hookstream.runtime.settings import Settings
from hookstream.sandbox.meta import MetaError, meta_error

APP_ID = "100000000000001"
APP_NAME = "hookstream sandbox app"
DEFAULT_SCOPES = (
    "pages_messaging",
    "pages_manage_metadata",
    "pages_show_list",
    "pages_read_engagement",
    "instagram_basic",
    "instagram_manage_messages",
    "instagram_business_basic",
    "instagram_business_manage_messages",
)
# The webhook fields a page (object `page`) or an Instagram account can be subscribed to.
PAGE_FIELDS = frozenset(
    {
        "messages",
        "messaging_postbacks",
        "message_echoes",
        "message_deliveries",
        "message_reads",
        "message_reactions",
        "message_edits",
        "messaging_referrals",
        "messaging_optins",
        "messaging_handovers",
        "messaging_policy_enforcement",
        "messaging_account_linking",
        "standby",
        "feed",
        "mention",
    }
)
INSTAGRAM_FIELDS = frozenset(
    {
        "messages",
        "messaging_postbacks",
        "messaging_seen",
        "message_reactions",
        "messaging_referral",
        "messaging_handover",
        "standby",
        "comments",
        "mentions",
        "live_comments",
        "story_insights",
    }
)
PROOF_MISSING = "API calls from the server require an appsecret_proof argument"
PROOF_INVALID = "Invalid appsecret_proof provided in the API argument"


class GraphConfigError(ValueError):
    pass


@dataclass
class TokenInfo:
    expired: bool = False
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    expires_at: int = 0  # 0: never (a long-lived page token)


@dataclass
class GraphState:
    require_proof: bool = False
    app_secrets: tuple[str, ...] = ()
    tokens: dict[str, TokenInfo] = field(default_factory=dict)  # what differs from a good token
    subscriptions: dict[str, tuple[str, ...]] = field(default_factory=dict)  # page -> fields
    calls: int = 0

    def info(self, token: str) -> TokenInfo:
        return self.tokens.get(token) or TokenInfo()

    def configure(self, data: Any) -> None:
        if not isinstance(data, dict):
            raise GraphConfigError("the graph settings must be a JSON object")
        try:
            if "require_appsecret_proof" in data:
                self.require_proof = bool(data["require_appsecret_proof"])
            if "app_secrets" in data:
                self.app_secrets = tuple(str(s) for s in data["app_secrets"] if s)
            for token, item in dict(data.get("tokens") or {}).items():
                item = dict(item)
                self.tokens[str(token)] = TokenInfo(
                    expired=bool(item.get("expired", False)),
                    scopes=tuple(str(s) for s in item.get("scopes", DEFAULT_SCOPES)),
                    expires_at=int(item.get("expires_at", 0)),
                )
            for page_id, fields in dict(data.get("subscriptions") or {}).items():
                self.subscriptions[str(page_id)] = tuple(str(f) for f in fields)
                if not self.subscriptions[str(page_id)]:
                    del self.subscriptions[str(page_id)]
        except (TypeError, ValueError) as exc:
            raise GraphConfigError(f"graph settings: {exc}") from None

    def as_dict(self) -> dict[str, Any]:
        return {
            "require_appsecret_proof": self.require_proof,
            "app_secrets": len(self.app_secrets),  # never the secrets themselves
            "tokens": {
                _short(t): {"expired": i.expired, "scopes": list(i.scopes)}
                for t, i in self.tokens.items()
            },
            "subscriptions": {p: list(f) for p, f in self.subscriptions.items()},
        }

    def proof_problem(self, token: str, proof: str) -> MetaError | None:
        """Meta's answer to a call without (or with a wrong) appsecret_proof when required."""
        if not self.require_proof or is_app_token(token):
            return None
        if not proof:
            return MetaError(100, PROOF_MISSING)
        for secret in self.app_secrets:
            if hmac.compare_digest(appsecret_proof(secret, token), proof):
                return None
        return MetaError(100, PROOF_INVALID)

    def token_problem(self, token: str, known: bool) -> MetaError | None:
        if not token:
            return meta_error(104, message="An access token is required to request this resource.")
        if not known:
            return meta_error(190)
        if self.info(token).expired:
            return expired_error()
        return None


def is_app_token(token: str) -> bool:
    """An app access token, `app_id|app_secret`."""
    return "|" in token


def expired_error() -> MetaError:
    return MetaError(
        190,
        "Error validating access token: Session has expired on Monday, 30-Nov-26 10:00:00 PST. "
        "The current time is later.",
        463,
    )


def _short(token: str) -> str:
    return f"{token[:4]}…" if len(token) > 4 else "…"


def error_body(error: MetaError) -> bytes:
    body = error.body(uuid.uuid4().hex[:12])
    if error.message in (PROOF_MISSING, PROOF_INVALID):
        body["error"]["type"] = "GraphMethodException"
    return orjson.dumps(body)


def check_fields(requested: Iterable[str], instagram: bool) -> MetaError | None:
    allowed = INSTAGRAM_FIELDS if instagram else PAGE_FIELDS
    for index, name in enumerate(requested):
        if name not in allowed:
            return meta_error(
                100,
                message=f"(#100) Param subscribed_fields[{index}] must be one of "
                f'{{{", ".join(sorted(allowed))}}} - got "{name}"',
            )
    return None


def debug_data(
    input_token: str, pages: frozenset[str] | None, info: TokenInfo, now: int | None = None
) -> dict[str, Any]:
    """The `data` of GET /debug_token for this token (pages: what it is valid for, None:
    unknown)."""
    if pages is None:
        return {
            "error": {"code": 190, "message": "Invalid OAuth access token - Cannot parse"},
            "is_valid": False,
            "scopes": [],
        }
    now = int(time.time()) if now is None else now
    data: dict[str, Any] = {
        "app_id": APP_ID,
        "type": "PAGE",
        "application": APP_NAME,
        "data_access_expires_at": now + 90 * 86400,
        "expires_at": info.expires_at,
        "is_valid": not info.expired,
        "issued_at": now - 86400,
        "scopes": list(info.scopes),
        "granular_scopes": [
            {"scope": scope, "target_ids": sorted(p for p in pages if p != "*")}
            for scope in info.scopes
            if scope.startswith(("pages_", "instagram_"))
        ],
        "user_id": "200000000000001",
    }
    named = sorted(p for p in pages if p != "*")
    if len(named) == 1:
        data["profile_id"] = named[0]
    if info.expired:
        data["expires_at"] = info.expires_at or now - 3600
        data["error"] = {
            "code": 190,
            "message": "Error validating access token: Session has expired",
            "subcode": 463,
        }
    return data


def query_value(scope: Scope, name: str) -> str:
    for key, value in parse_qsl(scope["query_string"].decode("latin-1")):
        if key == name:
            return str(value)
    return ""


def bearer(headers: Iterable[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            return str(value[7:].decode("latin-1").strip())
    return ""


def is_graph_call(path: str) -> bool:
    """`/v27.0/...`: a versioned Graph path (the sandbox's own pages are not)."""
    return len(path) > 2 and path[1] == "v" and path[2:3].isdigit()


class GraphFront:
    """Applies "Require App Secret" to every Graph call, Send API included, before the inner
    app (SendFront) sees it. Costs one attribute read per call while the rule is off."""

    def __init__(self, state: GraphState, inner: ASGIApp) -> None:
        self.state, self.inner = state, inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.state.require_proof or scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        if is_graph_call(scope["path"]):
            token = query_value(scope, "access_token") or bearer(scope["headers"])
            problem = self.state.proof_problem(token, query_value(scope, "appsecret_proof"))
            if problem is not None:
                body = error_body(problem)
                headers = [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ]
                await send({"type": "http.response.start", "status": 400, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.inner(scope, receive, send)


def fields_param(value: str) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()]


def subscribed_answer(fields: tuple[str, ...]) -> dict[str, Any]:
    if not fields:
        return {"data": []}
    return {
        "data": [
            {
                "category": "Business",
                "link": "https://sandbox.hookstream.local/app",
                "name": APP_NAME,
                "id": APP_ID,
                "subscribed_fields": list(fields),
            }
        ]
    }


def node_answer(node: str, requested: list[str], instagram: bool) -> dict[str, Any]:
    known: Mapping[str, str] = {
        "id": node,
        "name": f"Sandbox {'Instagram account' if instagram else 'page'} {node}",
        "username": f"sandbox_{node}",
    }
    return {name: known[name] for name in requested or ["id", "name"] if name in known}


def configure_from(
    sandbox_graph: GraphState, settings: Settings, pages: PagesConfig
) -> frozenset[str]:
    """The sandbox's Graph side from the settings and the pages file: the app secrets it checks
    appsecret_proof against (HOOKSTREAM_APP_SECRETS and the pages file's apps), whether it
    requires one (HOOKSTREAM_SENDER_SANDBOX_REQUIRE_PROOF); returns the Instagram account ids."""
    secrets = [s.reveal() for s in settings.ingress.app_secrets if s]
    secrets += [app.app_secret.reveal() for app in pages.apps.values() if app.app_secret]
    sandbox_graph.app_secrets = tuple(dict.fromkeys(secrets))
    sandbox_graph.require_proof = settings.sender.sandbox_require_proof
    return frozenset(pid for pid, page in pages.pages.items() if page.platform == "instagram")
