"""The rules responder's matching: keyword (whole word, case-insensitive), regex, payload.

Rules are tried in the order the pages file lists them; the first match wins; else the page's
fallback reply (if any).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hookstream.runtime.pages import PageConfig, Rule
from schemas.messages import NormalizedMessage

_WORD = re.compile(r"\w+", re.UNICODE)
FALLBACK_RULE = "fallback"


@dataclass(frozen=True, slots=True)
class Reply:
    message: dict[str, Any]  # Meta's `message` object
    responder: str  # rules | llm | fallback
    rule_id: str


def words_of(text: str) -> frozenset[str]:
    return frozenset(word.lower() for word in _WORD.findall(text))


def _keyword_hit(rule: Rule, words: frozenset[str], lowered: str) -> bool:
    for keyword in rule.keywords:
        if " " in keyword or not keyword.isalnum():
            if re.search(rf"(?<!\w){re.escape(keyword)}(?!\w)", lowered):
                return True
        elif keyword in words:
            return True
    return False


def rule_matches(rule: Rule, message: NormalizedMessage, words: frozenset[str]) -> bool:
    payload = message.payload
    if rule.payload is not None and payload is not None and rule.payload == payload:
        return True
    text = message.text
    if not text:
        return False
    if rule.keywords and _keyword_hit(rule, words, text.lower()):
        return True
    return rule.regex is not None and rule.regex.search(text) is not None


def match_rules(page: PageConfig, message: NormalizedMessage) -> Reply | None:
    words = words_of(message.text) if message.text else frozenset()
    for rule in page.rules:
        if rule_matches(rule, message, words):
            return Reply(dict(rule.reply), "rules", rule.name)
    if page.fallback is not None:
        return Reply(dict(page.fallback), "fallback", FALLBACK_RULE)
    return None
