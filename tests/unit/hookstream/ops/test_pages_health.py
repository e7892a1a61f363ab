from __future__ import annotations

from datetime import date

import pytest

from hookstream.ops.graph_client import answer_of
from hookstream.ops.pages_health import (
    INSTAGRAM_LOGIN_FIELDS,
    LINKED_PAGE_FIELDS,
    MESSENGER_FIELDS,
    PageFacts,
    TokenStatus,
    evaluate,
    needed_fields,
    needed_permissions,
    plan_subscription,
    stopped_pages,
    subscribed_fields,
    subscription_target,
    token_status,
)
from hookstream.runtime.pages import PageConfig
from hookstream.runtime.settings.graph_versions import CURRENT_VERSION, version_warning

MESSENGER = PageConfig("1001")
IG_LOGIN = PageConfig("178", platform="instagram", login="instagram")
IG_LINKED = PageConfig("179", platform="instagram", login="facebook", facebook_page_id="1002")
NOW = 1_800_000_000
ALL_PERMS = ("pages_messaging", "pages_manage_metadata", "pages_show_list")


def test_each_page_is_subscribed_on_its_own_node_never_me_for_a_facebook_page() -> None:
    assert subscription_target(MESSENGER).node == "1001"
    assert (subscription_target(IG_LOGIN).node, subscription_target(IG_LOGIN).host) == (
        "me",
        "instagram",
    )
    assert subscription_target(IG_LINKED).node == "1002"
    unlinked = subscription_target(PageConfig("180", platform="instagram"))
    assert unlinked.node == "" and "facebook_page_id" in unlinked.problem


def test_fields_and_permissions_follow_platform_login_and_feed() -> None:
    assert needed_fields(MESSENGER) == MESSENGER_FIELDS
    assert needed_fields(PageConfig("1", subscribe_feed=True))[-1] == "feed"
    assert needed_fields(IG_LOGIN) == INSTAGRAM_LOGIN_FIELDS
    assert needed_fields(IG_LINKED) == LINKED_PAGE_FIELDS
    assert "instagram_business_manage_messages" in needed_permissions(IG_LOGIN)
    assert "pages_read_engagement" in needed_permissions(PageConfig("1", subscribe_feed=True))


def test_plan_keeps_fields_already_there_and_changes_nothing_when_complete() -> None:
    plan = plan_subscription(("feed", "messages"), ("messages", "message_reads"))
    assert plan.missing == ("message_reads",) and plan.changes
    assert plan.send == ("messages", "message_reads", "feed")
    assert not plan_subscription(MESSENGER_FIELDS, MESSENGER_FIELDS).changes


def test_subscribed_fields_of_our_app_only() -> None:
    data = {
        "data": [
            {"id": "1", "name": "other app", "subscribed_fields": ["feed"]},
            {"id": "2", "name": "ours", "subscribed_fields": ["messages"]},
        ]
    }
    assert subscribed_fields(data, "2") == ("messages",)
    assert subscribed_fields(data, "3") is None
    assert subscribed_fields(data) is None  # two apps and no app id: cannot tell which is ours
    assert subscribed_fields({"data": []}) is None


def test_token_status_reads_debug_token() -> None:
    good = token_status({"is_valid": True, "expires_at": 0, "scopes": ["pages_messaging"]})
    assert good.valid and good.expires_at == 0 and good.scopes == ("pages_messaging",)
    expired = token_status(
        {"is_valid": False, "error": {"code": 190, "subcode": 463, "message": "expired"}}
    )
    assert expired.valid is False and "expired (190/463)" in expired.problem
    changed = token_status({"is_valid": False, "error": {"code": 190, "subcode": 460}})
    assert "password" in changed.problem


def test_stopped_pages_from_the_sender_metrics() -> None:
    text = (
        "# HELP hookstream_sender_page_stopped 1 while a page is stopped\n"
        'hookstream_sender_page_stopped{page_id="1001"} 1.0\n'
        'hookstream_sender_page_stopped{page_id="1002"} 0.0\n'
        'hookstream_sender_page_rate{page_id="1001"} 5.0\n'
    )
    assert stopped_pages(text) == {"1001": True, "1002": False}


def facts(**kw: object) -> PageFacts:
    base = PageFacts(MESSENGER, subscription_target(MESSENGER), fields=MESSENGER_FIELDS)
    base.token = TokenStatus(True, 0, ALL_PERMS)
    base.sender_stopped = False
    for key, value in kw.items():
        setattr(base, key, value)
    return base


def test_a_complete_page_is_healthy() -> None:
    health = evaluate(facts(), NOW)
    assert health.healthy and health.subscribed and health.problems == ()


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"fields": None}, "not subscribed"),
        ({"fields": ("messages",)}, "subscribed without messaging_postbacks"),
        ({"token": TokenStatus(False, None, (), "token: the token expired (190/463)")}, "expired"),
        (
            {"token": TokenStatus(True, 0, ("pages_messaging",))},
            "token lacks pages_manage_metadata",
        ),
        ({"sender_stopped": True}, "the sender has this page stopped"),
        ({"subscription_error": "Meta error 1: x"}, "subscription: Meta error 1"),
    ],
)
def test_each_problem_makes_the_page_unhealthy(change: dict[str, object], problem: str) -> None:
    health = evaluate(facts(**change), NOW)
    assert not health.healthy
    assert any(problem in p for p in health.problems), health.problems


def test_unknowns_are_notes_not_problems() -> None:
    health = evaluate(
        facts(sender_stopped=None, sender_note="unknown: no sender", last_webhook_note="none"),
        NOW,
    )
    assert health.healthy and any("no sender" in n for n in health.notes)
    soon = evaluate(facts(token=TokenStatus(True, NOW + 3600, ALL_PERMS)), NOW)
    assert soon.healthy and any("expires within 7 days" in n for n in soon.notes)


def test_graph_answers_become_values() -> None:
    error = answer_of(400, {"error": {"code": 190, "error_subcode": 463, "message": "expired"}})
    assert error.error is not None and (error.error.code, error.error.subcode) == (190, 463)
    assert answer_of(502, "<html>").error is not None
    assert answer_of(200, {"success": True}).ok


@pytest.mark.parametrize(
    ("version", "today", "warning"),
    [
        (CURRENT_VERSION, date(2026, 12, 1), None),
        ("v24.0", date(2026, 12, 1), None),
        ("v20.0", date(2026, 12, 1), "expired on 2026-09-24"),
        ("v21.0", date(2026, 12, 1), "expires on 2027-01-21"),
        ("v9.0", date(2026, 12, 1), "no longer served"),
        ("v31.0", date(2026, 12, 1), "newer than"),
        ("latest", date(2026, 12, 1), "not a Graph API version"),
    ],
)
def test_version_warnings(version: str, today: date, warning: str | None) -> None:
    found = version_warning(version, today)
    assert (found is None) if warning is None else (found is not None and warning in found)
