"""The console's access policy: who may read, who may act, which forms are refused."""

from __future__ import annotations

import pytest

from hookstream.console.auth import SESSION_COOKIE, Access, is_loopback


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("::1", True), ("localhost", True), ("0.0.0.0", False),  # noqa: S104
     ("10.0.0.5", False), ("console.example", False)],
)  # fmt: skip
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_bearer_or_session_cookie_authenticates() -> None:
    access = Access("k3y", loopback=False)
    assert access.authenticated({"authorization": "Bearer k3y"}, {})
    assert not access.authenticated({"authorization": "Bearer nope"}, {})
    assert access.authenticated({}, {SESSION_COOKIE: access.session_value()})
    assert not access.authenticated({}, {SESSION_COOKIE: "k3y"})  # the cookie is not the key
    assert access.session_value() != Access("other", False).session_value()


def test_reading_is_open_only_on_loopback() -> None:
    assert Access("k3y", loopback=True).may_read({}, {})
    assert not Access("k3y", loopback=False).may_read({}, {})
    assert Access("k3y", loopback=False).may_read({"authorization": "Bearer k3y"}, {})


def test_without_a_key_nothing_is_an_action() -> None:
    access = Access("", loopback=True)
    assert not access.actions_enabled
    assert not access.key_matches("")
    assert not access.authenticated({"authorization": "Bearer "}, {SESSION_COOKIE: ""})


def test_forms_need_the_token_and_their_own_origin() -> None:
    access = Access("k3y", loopback=True)
    token = access.form_token()
    own = {"host": "127.0.0.1:8090", "origin": "http://127.0.0.1:8090"}
    assert access.form_allowed(own, token)
    assert access.form_allowed({"host": "127.0.0.1:8090"}, token)  # no Origin sent
    assert not access.form_allowed(own, "forged")
    assert not access.form_allowed({**own, "origin": "http://evil.example"}, token)
    assert access.form_allowed({"authorization": "Bearer k3y"}, "")  # scripts: no form
