"""The pure part of the end-to-end bench: rate conversion, per-service memory/CPU summaries
(start/end/max RSS, least-squares slope over the run's second half, mean CPU %), lag totals."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hookstream.simulate.traffic import TrafficModel


def events_per_request(model: TrafficModel) -> float:
    """Mean events in one simulated body: entries and events per entry are uniform 1..max."""
    return (1 + model.max_entries) / 2 * (1 + model.max_events) / 2


def requests_per_s(events_per_s: float, model: TrafficModel) -> float:
    """`hookstream simulate --rate` is requests/s; this is the rate that offers events_per_s."""
    return events_per_s / events_per_request(model)


@dataclass(frozen=True)
class Sample:
    """One reading of one service: seconds since the bench started, resident MB, CPU seconds
    used so far (user + system, the process and its descendants)."""

    t_s: float
    rss_mb: float
    cpu_s: float


def slope_per_min(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, value) points, in value per minute; None under 2 points
    or when all points share one time."""
    if len(points) < 2:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    if spread == 0:
        return None
    covariance = sum((t - mean_t) * (v - mean_v) for t, v in points)
    return covariance / spread * 60


def within(samples: Iterable[Sample], start_s: float, end_s: float) -> list[Sample]:
    return [s for s in samples if start_s <= s.t_s <= end_s]


def cpu_pct(samples: Sequence[Sample]) -> float | None:
    """Mean CPU use between the first and last sample, in percent of one core."""
    if len(samples) < 2 or samples[-1].t_s == samples[0].t_s:
        return None
    used = samples[-1].cpu_s - samples[0].cpu_s
    return 100 * used / (samples[-1].t_s - samples[0].t_s)


def service_figures(samples: Sequence[Sample], start_s: float, end_s: float) -> dict[str, Any]:
    """Memory and CPU of one service over the load window [start_s, end_s]."""
    window = within(samples, start_s, end_s)
    if not window:
        return {"samples": 0}
    second_half = within(window, (start_s + end_s) / 2, end_s)
    slope = slope_per_min([(s.t_s, s.rss_mb) for s in second_half])
    cpu = cpu_pct(window)
    return {
        "samples": len(window),
        "rss_start_mb": round(window[0].rss_mb, 1),
        "rss_end_mb": round(window[-1].rss_mb, 1),
        "rss_max_mb": round(max(s.rss_mb for s in window), 1),
        "rss_slope_mb_per_min": None if slope is None else round(slope, 2),
        "cpu_pct": None if cpu is None else round(cpu, 1),
    }


def timeline(samples: Sequence[Sample]) -> list[tuple[float, float, float | None]]:
    """(seconds, resident MB, CPU % of one core since the previous sample) per sample."""
    rows: list[tuple[float, float, float | None]] = []
    for before, sample in zip([None, *samples], samples, strict=False):
        cpu = None if before is None else cpu_pct([before, sample])
        rows.append(
            (round(sample.t_s, 1), round(sample.rss_mb, 1), None if cpu is None else round(cpu, 1))
        )
    return rows


def lag_by_group(document: Mapping[str, Any]) -> dict[str, int]:
    """Total lag (messages) per consumer group from one `hookstream lag --json` document."""
    totals: dict[str, int] = {}
    for row in document.get("partitions", []):
        totals[row["group"]] = totals.get(row["group"], 0) + int(row["lag"])
    return totals


def rate_between(series: Sequence[tuple[float, int]], start_s: float, end_s: float) -> float | None:
    """Per-second rate of a growing counter sampled as (seconds, count) within [start, end]."""
    points = [(t, n) for t, n in series if start_s <= t <= end_s]
    if len(points) < 2 or points[-1][0] == points[0][0]:
        return None
    return (points[-1][1] - points[0][1]) / (points[-1][0] - points[0][0])


def meets(value: float | None, limit: float) -> bool | None:
    return None if value is None else value <= limit


def machine_busy_pct(
    readings: Sequence[tuple[float, float, float]], start_s: float, end_s: float
) -> float | None:
    """Share of all cores busy over the window, from (t, busy CPU s, total CPU s) readings."""
    window = [r for r in readings if start_s <= r[0] <= end_s]
    if len(window) < 2 or window[-1][2] == window[0][2]:
        return None
    return 100 * (window[-1][1] - window[0][1]) / (window[-1][2] - window[0][2])


def cpu_per_1000(
    samples: Sequence[Sample], start_s: float, end_s: float, count: int
) -> float | None:
    """CPU seconds a service used per 1,000 events (or requests) between the samples nearest
    the window's ends; None without two samples or without a count."""
    window = within(samples, start_s, end_s)
    if len(window) < 2 or count <= 0:
        return None
    return 1000 * (window[-1].cpu_s - window[0].cpu_s) / count


def lost(acknowledged: Iterable[str], on_inbound: Iterable[str]) -> list[str]:
    """Event ids acknowledged to the sender of the webhooks but absent from `inbound`."""
    return sorted(set(acknowledged) - set(on_inbound))


@dataclass(frozen=True)
class Step:
    """One rate of the step test: what was offered, its p95, and whether it held."""

    events_per_s: float
    p95_ms: float | None
    share_within_2s: float | None
    drained: bool

    @property
    def held(self) -> bool:
        return self.drained and self.p95_ms is not None and self.p95_ms <= 2000.0


def highest_held(steps: Sequence[Step]) -> float | None:
    """The highest rate before the first step that did not hold (95% within 2 s)."""
    best = None
    for step in steps:
        if not step.held:
            break
        best = step.events_per_s
    return best


def drift_pct(first: float | None, last: float | None) -> float | None:
    """How far `last` is from `first`, in percent of `first` (soak: last minute vs first)."""
    if first is None or last is None or first == 0:
        return None
    return 100 * (last - first) / first


def throughput(series: Sequence[tuple[float, int]]) -> float | None:
    """Records/s a consumer group worked off a backlog: (seconds, lag) readings from the first
    drop below the starting lag to the first reading at 0 (or the last one)."""
    if not series:
        return None
    top = series[0][1]
    moving = [i for i, (_, lag) in enumerate(series) if lag < top]
    if not moving:
        return None
    first = max(0, moving[0] - 1)
    done = next((i for i, (_, lag) in enumerate(series) if lag == 0), len(series) - 1)
    (t0, lag0), (t1, lag1) = series[first], series[done]
    if t1 <= t0:
        return None
    return (lag0 - lag1) / (t1 - t0)
