from __future__ import annotations

from dataclasses import replace

import pytest

from processors.rules import match_rules
from tests.support.processors_unit import pages, postback, text_message


def rule_for(text: str) -> str | None:
    page = pages().page("1001")
    assert page is not None
    reply = match_rules(page, text_message("m", text))
    return reply.rule_id if reply else None


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("What is the PRICE?", "pricing"),  # case-insensitive, punctuation around the word
        ("price", "pricing"),
        ("How much is it", "pricing"),  # a keyword of several words
        ("pricey stuff", "fallback"),  # whole words only
        ("overprice", "fallback"),
        ("What are your opening hours", "hours"),  # regex, case-insensitive
        ("price and opening hours", "pricing"),  # the first rule in order wins
        ("hello", "fallback"),
    ],
)
def test_keyword_and_regex_matching(text: str, rule: str) -> None:
    assert rule_for(text) == rule


def test_payload_matches_postbacks_and_quick_replies() -> None:
    page = pages().page("1001")
    assert page is not None
    started = match_rules(page, postback("p1", "GET_STARTED"))
    assert started is not None and started.rule_id == "start"
    assert started.message == {"text": "Welcome!"}
    quick = replace(text_message("q1", "Buy"), quick_reply_payload="BUY")
    reply = match_rules(page, quick)
    assert reply is not None and reply.rule_id == "buy"


def test_reply_carries_quick_replies_and_no_fallback_means_no_reply() -> None:
    page = pages().page("1001")
    assert page is not None
    reply = match_rules(page, text_message("m", "price"))
    assert reply is not None and reply.responder == "rules"
    assert reply.message["quick_replies"] == [
        {"content_type": "text", "title": "Buy", "payload": "BUY"}
    ]
    bare = pages('pages:\n  "9":\n    rules: [{match: {keywords: [x]}, reply: {text: y}}]\n')
    page9 = bare.page("9")
    assert page9 is not None and match_rules(page9, text_message("m", "nothing")) is None
