"""The console's pure readings: the sender's page status and the dead-letter filters."""

from __future__ import annotations

from hookstream.console.dead_letters import DeadLetterView
from hookstream.console.sources import parse_sender_metrics

METRICS = """\
# HELP hookstream_sender_page_stopped 1 while a page is stopped (token 190, policy 368)
# TYPE hookstream_sender_page_stopped gauge
hookstream_sender_page_stopped{page_id="1001"} 1.0
hookstream_sender_page_stopped{page_id="2002"} 0.0
# HELP hookstream_sender_page_rate Current send rate allowed per page (calls/s)
# TYPE hookstream_sender_page_rate gauge
hookstream_sender_page_rate{page_id="2002"} 62.5
# HELP hookstream_sender_held Commands waiting on a stopped page
# TYPE hookstream_sender_held gauge
hookstream_sender_held 3.0
"""


def test_sender_metrics_say_which_pages_are_stopped_or_slowed() -> None:
    pages = parse_sender_metrics(METRICS)
    assert pages.reachable
    assert pages.stopped == {"1001": True, "2002": False}
    assert pages.rate == {"2002": 62.5}


def test_dead_letter_filters_from_a_query_string() -> None:
    view = DeadLetterView.from_params({"reason": "no_matching_user", "page": "1001", "since": "6h"})
    chosen = view.selection(now_ms=10 * 3_600_000)
    assert (chosen.reason, chosen.page_id, chosen.since_ms) == (
        "no_matching_user",
        "1001",
        4 * 3_600_000,
    )
    assert DeadLetterView.from_params({}).selection(0).since_ms is None


def test_malformed_filters_are_ignored_and_said_so() -> None:
    view = DeadLetterView.from_params({"reason": "<script>", "since": "forever"})
    assert view.problem.startswith("ignored reason, since")
    assert (view.reason, view.since) == ("", "")
