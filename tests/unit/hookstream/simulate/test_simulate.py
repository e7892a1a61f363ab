from __future__ import annotations

import orjson
import pytest

from hookstream.simulate.runner import percentile
from hookstream.simulate.traffic import TrafficModel
from ingress.splitter import parse_body, split
from schemas.envelope import decode_envelope


def test_traffic_is_deterministic_for_a_seed() -> None:
    one, two = TrafficModel(seed=3, clock=lambda: 1.7e9), TrafficModel(seed=3, clock=lambda: 1.7e9)
    assert [one.next_body()[0] for _ in range(20)] == [two.next_body()[0] for _ in range(20)]


def test_bodies_are_valid_webhooks_spanning_pages_users_and_kinds() -> None:
    model = TrafficModel(pages=5, users=50, duplicate_rate=0.0, seed=1)
    kinds, pages, counted = set(), set(), 0
    for _ in range(300):
        body, events, duplicate = model.next_body()
        records = split(parse_body(body), 0, "r")
        assert len(records) == events and not duplicate
        counted += events
        kinds |= {r.kind for r in records}
        pages |= {decode_envelope(r.value).page_id for r in records}
    assert {"message", "postback", "read", "delivery", "reaction"} <= kinds
    assert pages == {str(1001 + i) for i in range(5)}
    assert counted > 300


def test_duplicates_are_exact_redeliveries_at_about_the_rate() -> None:
    model = TrafficModel(duplicate_rate=0.2, seed=5)
    seen: set[bytes] = set()
    duplicates = 0
    for _ in range(2000):
        body, _, duplicate = model.next_body()
        assert duplicate == (body in seen)
        duplicates += duplicate
        seen.add(body)
    assert 300 < duplicates < 500
    assert all(orjson.loads(b)["entry"] for b in seen)


@pytest.mark.parametrize(("q", "expected"), [(50, 5.0), (99, 10.0), (100, 10.0), (1, 1.0)])
def test_percentile_nearest_rank(q: float, expected: float) -> None:
    assert percentile([float(v) for v in range(1, 11)], q) == expected


def test_percentile_of_nothing_is_zero() -> None:
    assert percentile([], 99) == 0.0
