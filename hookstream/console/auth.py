"""Who may do what in the console, as pure functions.

- A request is authenticated by `Authorization: Bearer <HOOKSTREAM_API_KEY>` (scripts) or by
  the session cookie the login form sets (an HMAC of the key: it proves the key was typed, it
  is not the key, and it changes when the key is rotated).
- Read-only pages are open without a key only when the console listens on loopback.
- A state-changing form (redrive) must carry the form token (an HMAC of the session) and, when
  the browser sends one, an Origin of the console itself: a cross-site page can neither read
  the token nor forge the origin. Bearer requests need no token: browsers never add them.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

SESSION_COOKIE = "hookstream_console"
CSRF_FIELD = "csrf_token"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _mac(key: str, purpose: str) -> str:
    return hmac.new(key.encode(), purpose.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Access:
    """The console's access policy for one configured key (empty: no actions at all)."""

    key: str
    loopback: bool

    @property
    def actions_enabled(self) -> bool:
        return bool(self.key)

    def session_value(self) -> str:
        return _mac(self.key, "console-session")

    def form_token(self) -> str:
        return _mac(self.key, "console-form:" + self.session_value())

    def key_matches(self, typed: str) -> bool:
        return self.actions_enabled and hmac.compare_digest(typed.encode(), self.key.encode())

    def authenticated(self, headers: Mapping[str, str], cookies: Mapping[str, str]) -> bool:
        if not self.actions_enabled:
            return False
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            return self.key_matches(auth[7:].strip())
        cookie = cookies.get(SESSION_COOKIE, "")
        return hmac.compare_digest(cookie.encode(), self.session_value().encode())

    def may_read(self, headers: Mapping[str, str], cookies: Mapping[str, str]) -> bool:
        return self.loopback or self.authenticated(headers, cookies)

    def form_allowed(self, headers: Mapping[str, str], token: str) -> bool:
        """A state-changing request that is already authenticated: same origin and token.
        Same origin: the browser's Origin names the host the request was sent to."""
        if headers.get("authorization", "")[:7].lower() == "bearer ":
            return True
        origin = headers.get("origin", "")
        if origin and origin.split("://", 1)[-1] != headers.get("host", ""):
            return False
        return hmac.compare_digest(token.encode(), self.form_token().encode())
