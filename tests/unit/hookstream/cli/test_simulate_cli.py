"""simulate's choice of pages and its unanswered count (pure parts)."""

from __future__ import annotations

import os
from pathlib import Path

from hookstream.cli.simulate import human_lines, page_plan, unanswered
from hookstream.runtime.pages import PagesConfig, parse_pages
from hookstream.simulate.traffic import TrafficModel

PAGES = """\
pages:
  "1001": {platform: messenger, responder: rules, fallback: {text: "Thanks"}}
  "1002": {platform: messenger, responder: none}
  "17841400000000001": {platform: instagram, responder: rules, fallback: {text: "Hi"}}
"""


def config() -> PagesConfig:
    return parse_pages(PAGES, Path("demo.yaml"), os.environ)


def test_the_pages_file_decides_which_pages_are_simulated() -> None:
    plan = page_plan(config(), None)
    assert plan.messenger == ("1001", "1002")
    assert plan.instagram == ("17841400000000001",)
    assert plan.answered == frozenset({"1001", "17841400000000001"})


def test_synthetic_pages_are_counted_against_the_pages_file() -> None:
    plan = page_plan(config(), 4)
    model = TrafficModel(pages=4, duplicate_rate=0.0, seed=3, page_ids=plan.messenger)
    for _ in range(100):
        model.next_body()
    counts = unanswered(model, plan)
    assert counts["unanswered_pages"] == ["1002", "1003", "1004"]
    assert counts["unanswered_events"] == sum(
        model.events_by_page[p] for p in ("1002", "1003", "1004")
    )


def test_without_a_pages_file_unanswered_is_unknown() -> None:
    plan = page_plan(None, None)
    model = TrafficModel(seed=1)
    model.next_body()
    assert unanswered(model, plan) == {"unanswered_pages": None, "unanswered_events": None}


def test_summary_says_what_goes_unanswered_and_how_to_repeat() -> None:
    plan = page_plan(config(), None)
    summary = {
        "sent": 10,
        "accepted": 10,
        "rejected": 0,
        "latency_ms": {"p50": 1.0},
        "seed": 42,
        "unanswered_pages": ["1002"],
        "unanswered_events": 7,
    }
    text = "\n".join(human_lines(summary, plan))
    assert "7 event(s) to 1 page(s) the pages file demo.yaml does not answer for (1002)" in text
    assert "repeat this run with --seed 42" in text
