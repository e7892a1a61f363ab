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


def test_pages_of_the_pages_file_are_the_ones_simulated() -> None:
    model = TrafficModel(
        page_ids=("1001",), instagram_ids=("17841400000000001",), duplicate_rate=0.0, seed=2
    )
    objects: dict[str, set[str]] = {"page": set(), "instagram": set()}
    for _ in range(200):
        data = orjson.loads(model.next_body()[0])
        objects[data["object"]] |= {entry["id"] for entry in data["entry"]}
    assert objects == {"page": {"1001"}, "instagram": {"17841400000000001"}}
    assert set(model.events_by_page) == {"1001", "17841400000000001"}
    assert model.all_pages == ("1001", "17841400000000001")


def test_message_ids_differ_between_seeds() -> None:
    def mids(seed: int) -> set[str]:
        model = TrafficModel(seed=seed, duplicate_rate=0.0, clock=lambda: 1.7e9)
        found = set()
        for _ in range(20):
            for entry in orjson.loads(model.next_body()[0])["entry"]:
                for event in entry["messaging"]:
                    for part in event.values():
                        if isinstance(part, dict) and "mid" in part:
                            found.add(part["mid"])
        return found

    assert mids(1) and not mids(1) & mids(2)


def test_events_by_page_counts_new_bodies_only() -> None:
    model = TrafficModel(pages=3, duplicate_rate=0.5, seed=4)
    fresh = 0
    for _ in range(200):
        _body, events, duplicate = model.next_body()
        fresh += 0 if duplicate else events
    assert sum(model.events_by_page.values()) == fresh
    assert set(model.events_by_page) <= {"1001", "1002", "1003"}


def test_no_page_at_all_is_refused() -> None:
    with pytest.raises(ValueError, match="no page"):
        TrafficModel(page_ids=(), instagram_ids=())
