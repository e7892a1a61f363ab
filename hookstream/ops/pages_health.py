"""What `hookstream pages` decides, on typed values: where a page is subscribed and with which
fields, which permissions it needs, what a token inspection means, and whether a page is
healthy. Pure: no network, no clock (time is passed in).

Facts from Meta's docs this rests on:
- a page is subscribed with `POST /{page-id}/subscribed_apps` and its own page token (never
  `/me/subscribed_apps` for many pages: each call would replace the previous page's
  subscription); an Instagram account connected through Instagram Login with
  `POST graph.instagram.com/me/subscribed_apps` and its Instagram user token; one connected
  through Facebook Login by subscribing its linked Facebook Page;
- `GET /{page-id}/subscribed_apps` needs pages_manage_metadata and pages_show_list;
- token errors are code 190, the subcode says why (463 expired, 460 password changed, 458 app
  removed, 459 checkpoint, 464 unconfirmed, 467 invalid, 492 invalid session).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hookstream.runtime.pages import PageConfig

MESSENGER_FIELDS = (
    "messages",
    "messaging_postbacks",
    "message_echoes",
    "message_deliveries",
    "message_reads",
    "message_reactions",
    "messaging_referrals",
    "messaging_optins",
    "messaging_handovers",
    "standby",
)
INSTAGRAM_LOGIN_FIELDS = (
    "messages",
    "messaging_postbacks",
    "messaging_seen",
    "message_reactions",
    "messaging_referral",
)
# An Instagram account through Facebook Login: its webhooks come for the `instagram` object
# (fields set at the app level in the dashboard); the linked page must have the app installed.
LINKED_PAGE_FIELDS = ("messages",)
EXPIRY_WARNING_S = 7 * 86400

TOKEN_SUBCODES = {
    463: "the token expired",
    460: "the token was invalidated (the user changed their password)",
    458: "the user removed the app",
    459: "the user must log in to facebook.com to fix a checkpoint",
    464: "the user is not confirmed",
    467: "the token is invalid",
    492: "the session is invalid (the user's role on the page changed)",
}


@dataclass(frozen=True)
class Target:
    """Where a page's subscription lives: the node, on which host (facebook | instagram)."""

    node: str
    host: str = "facebook"
    problem: str = ""  # a page that cannot be subscribed as configured


def subscription_target(page: PageConfig) -> Target:
    if page.platform == "instagram" and page.login == "instagram":
        return Target("me", "instagram")
    if page.platform == "instagram":
        if not page.facebook_page_id:
            return Target(
                "",
                problem="instagram account with login facebook needs facebook_page_id "
                "(the Facebook Page linked to it) in the pages file",
            )
        return Target(page.facebook_page_id, "facebook")
    return Target(page.page_id, "facebook")


def needed_fields(page: PageConfig) -> tuple[str, ...]:
    if page.platform == "instagram":
        return INSTAGRAM_LOGIN_FIELDS if page.login == "instagram" else LINKED_PAGE_FIELDS
    return (*MESSENGER_FIELDS, "feed") if page.subscribe_feed else MESSENGER_FIELDS


def needed_permissions(page: PageConfig) -> tuple[str, ...]:
    if page.platform == "instagram" and page.login == "instagram":
        return ("instagram_business_basic", "instagram_business_manage_messages")
    if page.platform == "instagram":
        return (
            "instagram_basic",
            "instagram_manage_messages",
            "pages_manage_metadata",
            "pages_show_list",
        )
    extra = ("pages_read_engagement",) if page.subscribe_feed else ()
    return ("pages_messaging", "pages_manage_metadata", "pages_show_list", *extra)


@dataclass(frozen=True)
class SubscribePlan:
    send: tuple[str, ...]  # the fields to POST (what is there and what is needed)
    missing: tuple[str, ...]  # needed and not subscribed yet

    @property
    def changes(self) -> bool:
        return bool(self.missing)


def plan_subscription(current: Iterable[str], needed: Iterable[str]) -> SubscribePlan:
    """POST subscribed_fields sets the page's fields for the app: keep what is there."""
    have = tuple(dict.fromkeys(current))
    want = tuple(dict.fromkeys(needed))
    missing = tuple(f for f in want if f not in have)
    return SubscribePlan(tuple(dict.fromkeys((*want, *have))), missing)


def subscribed_fields(data: Mapping[str, Any], app_id: str = "") -> tuple[str, ...] | None:
    """The fields our app has on the page, from GET subscribed_apps; None: not subscribed.
    Without a known app id, the only subscribed app is taken as ours."""
    apps = [a for a in data.get("data") or [] if isinstance(a, dict)]
    if app_id:
        apps = [a for a in apps if str(a.get("id", "")) == app_id]
    elif len(apps) > 1:
        apps = []
    if not apps:
        return None
    fields = apps[0].get("subscribed_fields") or []
    return tuple(str(f) for f in fields if isinstance(f, str | dict) and f)


@dataclass(frozen=True)
class TokenStatus:
    valid: bool | None  # None: could not be inspected
    expires_at: int | None = None  # epoch s; 0: never expires; None: unknown
    scopes: tuple[str, ...] = ()
    problem: str = ""
    code: int = 0
    subcode: int = 0
    scopes_known: bool = True  # False: the token's permissions cannot be listed (Instagram Login)


def token_problem_text(code: int, subcode: int, message: str) -> str:
    why = TOKEN_SUBCODES.get(subcode, "the token is invalid" if code == 190 else message)
    label = f"{code}/{subcode}" if subcode else str(code)
    return f"token: {why} ({label}); generate a new long-lived page token and update the pages file"


def token_status(data: Mapping[str, Any]) -> TokenStatus:
    """The meaning of debug_token's `data` for one page token."""
    scopes = tuple(str(s) for s in data.get("scopes") or [])
    expires = data.get("expires_at")
    expires_at = (
        int(expires) if isinstance(expires, int) and not isinstance(expires, bool) else None
    )
    error = data.get("error") if isinstance(data.get("error"), dict) else None
    if data.get("is_valid") is True:
        return TokenStatus(True, expires_at, scopes)
    code = int((error or {}).get("code") or 190)
    subcode = int((error or {}).get("subcode") or 0)
    text = str((error or {}).get("message") or "invalid")
    return TokenStatus(
        False, expires_at, scopes, token_problem_text(code, subcode, text), code, subcode
    )


def stopped_pages(metrics_text: str) -> dict[str, bool]:
    """`hookstream_sender_page_stopped{page_id="..."} 1` lines of the sender's /metrics."""
    stopped: dict[str, bool] = {}
    for line in metrics_text.splitlines():
        if not line.startswith("hookstream_sender_page_stopped{"):
            continue
        labels, _, value = line.partition("} ")
        marker = 'page_id="'
        start = labels.find(marker)
        if start < 0:
            continue
        page_id = labels[start + len(marker) :].split('"', 1)[0]
        try:
            stopped[page_id] = float(value.split()[0]) > 0
        except (ValueError, IndexError):
            continue
    return stopped


@dataclass
class PageFacts:
    """What was found out about one page; None where it could not be found out (with why)."""

    page: PageConfig
    target: Target
    fields: tuple[str, ...] | None = None  # None: not subscribed
    subscription_error: str = ""
    subscription_note: str = ""  # why the subscription is unknown, when that is no problem itself
    token: TokenStatus = field(default_factory=lambda: TokenStatus(None))
    last_webhook_ms: int | None = None
    last_webhook_note: str = ""
    sender_stopped: bool | None = None
    sender_note: str = ""


@dataclass(frozen=True)
class PageHealth:
    page_id: str
    platform: str
    login: str
    subscribed: bool | None
    fields: tuple[str, ...]
    missing_fields: tuple[str, ...]
    token_valid: bool | None
    token_expires_at: int | None
    permissions: tuple[str, ...]
    permissions_checked: bool
    missing_permissions: tuple[str, ...]
    last_webhook_ms: int | None
    sender_stopped: bool | None
    problems: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def healthy(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "page_id": self.page_id,
            "platform": self.platform,
            "login": self.login,
            "healthy": self.healthy,
            "subscribed": self.subscribed,
            "fields": list(self.fields),
            "missing_fields": list(self.missing_fields),
            "token_valid": self.token_valid,
            "token_expires_at": self.token_expires_at,
            "permissions": list(self.permissions),
            "permissions_checked": self.permissions_checked,
            "missing_permissions": list(self.missing_permissions),
            "last_webhook_ms": self.last_webhook_ms,
            "sender_stopped": self.sender_stopped,
            "problems": list(self.problems),
            "notes": list(self.notes),
        }


def evaluate(facts: PageFacts, now_s: int) -> PageHealth:
    page, token = facts.page, facts.token
    problems: list[str] = []
    notes: list[str] = []
    if facts.target.problem:
        problems.append(facts.target.problem)
    needed = needed_fields(page)
    missing_fields: tuple[str, ...] = ()
    subscribed: bool | None = None
    if facts.subscription_error:
        problems.append(f"subscription: {facts.subscription_error}")
    elif facts.subscription_note:
        notes.append(f"subscription: {facts.subscription_note}")
    elif not facts.target.problem:
        subscribed = facts.fields is not None
        missing_fields = plan_subscription(facts.fields or (), needed).missing
        if facts.fields is None:
            problems.append(
                "not subscribed: Meta sends this page no webhooks; run `hookstream pages subscribe`"
            )
        elif missing_fields:
            problems.append(
                f"subscribed without {', '.join(missing_fields)}; run `hookstream pages subscribe`"
            )
    if token.problem:
        problems.append(token.problem)
    elif token.valid is None:
        notes.append("token: could not be inspected")
    missing_permissions: tuple[str, ...] = ()
    if token.valid and not token.scopes_known:
        notes.append("permissions: Instagram Login tokens cannot be inspected; not checked")
    elif token.valid:
        missing_permissions = tuple(p for p in needed_permissions(page) if p not in token.scopes)
        if missing_permissions:
            problems.append(
                f"token lacks {', '.join(missing_permissions)}: grant them (app review for "
                "other people's pages) and generate a new page token"
            )
        if token.expires_at and token.expires_at - now_s <= EXPIRY_WARNING_S:
            notes.append("token expires within 7 days: generate a long-lived page token")
    if facts.sender_stopped:
        problems.append(
            "the sender has this page stopped (token, policy block or page restricted): "
            "fix the cause; the sender resumes the page at its next probe"
        )
    elif facts.sender_stopped is None and facts.sender_note:
        notes.append(f"sender: {facts.sender_note}")
    if facts.last_webhook_ms is None and facts.last_webhook_note:
        notes.append(f"last webhook: {facts.last_webhook_note}")
    return PageHealth(
        page_id=page.page_id,
        platform=page.platform,
        login=page.login if page.platform == "instagram" else "facebook",
        subscribed=subscribed,
        fields=facts.fields or (),
        missing_fields=missing_fields,
        token_valid=token.valid,
        token_expires_at=token.expires_at,
        permissions=token.scopes,
        permissions_checked=bool(token.valid and token.scopes_known),
        missing_permissions=missing_permissions,
        last_webhook_ms=facts.last_webhook_ms,
        sender_stopped=facts.sender_stopped,
        problems=tuple(problems),
        notes=tuple(notes),
    )
