"""The end-to-end bench's pure figures: rate conversion, slopes, CPU shares, lag totals."""

from __future__ import annotations

import pytest

from bench.e2e.figures import (
    Sample,
    cpu_pct,
    events_per_request,
    lag_by_group,
    machine_busy_pct,
    rate_between,
    requests_per_s,
    service_figures,
    slope_per_min,
    timeline,
)
from bench.e2e.report import ingress_figures
from hookstream.simulate.traffic import TrafficModel


def test_event_rate_converts_to_simulates_request_rate() -> None:
    model = TrafficModel(max_entries=3, max_events=3)
    assert events_per_request(model) == 4.0
    assert requests_per_s(1000, model) == 250.0
    assert requests_per_s(300, TrafficModel(max_entries=1, max_events=1)) == 300.0


def test_the_conversion_matches_what_the_model_generates() -> None:
    model = TrafficModel(duplicate_rate=0.0, seed=5, clock=lambda: 1.7e9)
    bodies = 4000
    events = sum(model.next_body()[1] for _ in range(bodies))
    assert events / bodies == pytest.approx(events_per_request(model), rel=0.05)


def test_slope_is_per_minute_least_squares() -> None:
    rising = [(t, 100 + 0.5 * t) for t in range(0, 60, 5)]  # 0.5 MB per second
    assert slope_per_min(rising) == pytest.approx(30.0)
    noisy_flat = [(0, 10.0), (10, 12.0), (20, 10.0), (30, 12.0), (40, 10.0), (50, 12.0)]
    assert abs(slope_per_min(noisy_flat) or 0) < 1.5
    assert slope_per_min([(0, 1.0)]) is None
    assert slope_per_min([(3, 1.0), (3, 5.0)]) is None


def test_service_figures_use_the_window_and_its_second_half_for_the_slope() -> None:
    before = [Sample(t, 500.0, 0.0) for t in (0, 5)]  # start-up, outside the window
    growing = [
        Sample(10 + t, 100.0 + (t if t < 30 else 30 + 2 * (t - 30)), 0.5 * t)
        for t in range(0, 61, 2)
    ]
    figures = service_figures([*before, *growing], 10, 70)
    assert figures["rss_start_mb"] == 100.0
    assert figures["rss_end_mb"] == figures["rss_max_mb"] == 190.0
    assert figures["rss_slope_mb_per_min"] == pytest.approx(120.0)  # 2 MB/s after the middle
    assert figures["cpu_pct"] == pytest.approx(50.0)
    assert service_figures(before, 10, 70) == {"samples": 0}


def test_cpu_percent_of_one_core() -> None:
    assert cpu_pct([Sample(0, 1, 10.0), Sample(4, 1, 13.0)]) == pytest.approx(75.0)
    assert cpu_pct([Sample(0, 1, 10.0)]) is None


def test_machine_busy_share_over_the_window() -> None:
    readings = [(0.0, 100.0, 400.0), (10.0, 115.0, 420.0), (20.0, 125.0, 440.0)]
    assert machine_busy_pct(readings, 10, 20) == pytest.approx(50.0)
    assert machine_busy_pct(readings, 0, 20) == pytest.approx(62.5)
    assert machine_busy_pct(readings, 30, 40) is None


def test_counter_rate_between_two_times() -> None:
    series = [(0.0, 0), (2.0, 100), (4.0, 300), (6.0, 600)]
    assert rate_between(series, 2, 6) == pytest.approx(125.0)
    assert rate_between(series, 5, 6) is None


def test_lag_is_summed_per_group() -> None:
    document = {
        "partitions": [
            {"group": "processors", "topic": "inbound", "partition": 0, "lag": 3},
            {"group": "processors", "topic": "inbound", "partition": 1, "lag": 4},
            {"group": "sink", "topic": "analytics", "partition": 0, "lag": 0},
        ]
    }
    assert lag_by_group(document) == {"processors": 7, "sink": 0}
    assert lag_by_group({}) == {}


def test_ingress_figures_derive_the_offered_event_rate() -> None:
    summary = {"sent": 500, "rate_per_s": 50.0, "events": 2000, "accepted": 500}
    figures = ingress_figures(summary)
    assert figures["elapsed_s"] == 10.0 and figures["events_per_s"] == 200.0
    assert ingress_figures({**summary, "rate_per_s": 0.0})["events_per_s"] is None


def test_timeline_gives_cpu_between_consecutive_samples() -> None:
    samples = [Sample(0, 10.0, 1.0), Sample(2, 11.0, 2.0), Sample(4, 12.0, 2.5)]
    assert timeline(samples) == [(0, 10.0, None), (2, 11.0, 50.0), (4, 12.0, 25.0)]
