"""The bench's results document and its table (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.e2e.figures import (
    Sample,
    machine_busy_pct,
    meets,
    rate_between,
    service_figures,
    timeline,
)
from hookstream.ops.table import render_table

P95_TARGET_MS, P99_TARGET_MS = 250.0, 500.0
PIPELINE_KEYS = (
    "events",
    "replies_planned",
    "reply_latency_ms",
    "plan_latency_ms",
    "share_replies_within_2s",
    "share_processed_within_2s",
    "delivery_outcomes",
    "delivery_errors",
    "delivery_error_rate",
    "dlq_count",
)


def ingress_figures(summary: Mapping[str, Any]) -> dict[str, Any]:
    """simulate's summary plus the event rate it really offered."""
    elapsed = summary["sent"] / summary["rate_per_s"] if summary["rate_per_s"] else 0.0
    rate = round(summary["events"] / elapsed, 1) if elapsed else None
    return {**summary, "elapsed_s": round(elapsed, 1), "events_per_s": rate}


def pipeline_figures(stats: Mapping[str, Any], duration_s: float) -> dict[str, Any]:
    figures = {key: stats.get(key) for key in PIPELINE_KEYS}
    figures["events_per_min"] = round(sum(stats.get("events_per_min", {}).values()), 1)
    figures["events_per_s_over_load"] = round(stats["events"] / duration_s, 1)
    return figures


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "NOT met", None: "n/a"}[met]


def targets(stats: Mapping[str, Any]) -> dict[str, bool | None]:
    latency = stats.get("reply_latency_ms") or {}
    return {
        "p95_le_250ms": meets(latency.get("p95"), P95_TARGET_MS),
        "p99_le_500ms": meets(latency.get("p99"), P99_TARGET_MS),
    }


def resources(
    samples: Mapping[str, list[Sample]],
    machine: list[tuple[float, float, float]],
    window: tuple[float, float],
) -> dict[str, Any]:
    services = {name: service_figures(series, *window) for name, series in samples.items()}
    busy = machine_busy_pct(machine, *window)
    return {
        "services": services,
        "machine_busy_pct": None if busy is None else round(busy, 1),
        "timeline": {name: timeline(series) for name, series in samples.items()},
        "load_window_s": [round(t, 1) for t in window],
    }


def replies_rate(
    counted: list[tuple[float, int]], window: tuple[float, float]
) -> dict[str, float | None]:
    start, end = window
    middle = (start + end) / 2
    halves = {
        "first_half": rate_between(counted, start, middle),
        "second_half": rate_between(counted, middle, end),
    }
    return {k: None if v is None else round(v, 1) for k, v in halves.items()}


def _ms(latency: Mapping[str, Any] | None) -> str:
    if not latency:
        return "n/a"
    return " / ".join("n/a" if v is None else f"{v:.0f}" for v in latency.values()) + " ms"


def _service_rows(services: Mapping[str, Mapping[str, Any]]) -> list[list[str]]:
    keys = ("rss_start_mb", "rss_end_mb", "rss_max_mb", "rss_slope_mb_per_min", "cpu_pct")
    return [
        [name, *("-" if f.get(k) is None else str(f[k]) for k in keys)]
        for name, f in services.items()
    ]


def render(results: Mapping[str, Any]) -> str:
    config, ingress, pipe = results["config"], results["ingress"], results["pipeline"]
    kept = results["kept_up"]
    lines = [
        f"offered: {config['events_per_s']} events/s ({config['requests_per_s']} requests/s) "
        f"for {config['duration_s']} s; simulate offered {ingress['events_per_s']} events/s",
        f"ingress: sent {ingress['sent']}, accepted {ingress['accepted']}, rejected "
        f"{ingress['rejected']}, 503 {ingress['unavailable']}, errors {ingress['errors']}, "
        f"behind schedule {ingress['behind_schedule']}; "
        f"ack p50/p95/p99 {_ms(ingress['latency_ms'])}",
        f"webhook -> reply delivered p50/p95/p99: {_ms(pipe['reply_latency_ms'])} "
        f"(target p95 <= {P95_TARGET_MS:.0f}: {_verdict(results['targets']['p95_le_250ms'])}, "
        f"p99 <= {P99_TARGET_MS:.0f}: {_verdict(results['targets']['p99_le_500ms'])})",
        f"webhook -> reply planned p50/p95/p99: {_ms(pipe['plan_latency_ms'])}; replies within "
        f"2 s {pipe['share_replies_within_2s']}; processed within 2 s "
        f"{pipe['share_processed_within_2s']}",
        f"events {pipe['events']} ({pipe['events_per_s_over_load']}/s over the load, "
        f"{pipe['events_per_min']}/min by stats); replies planned {pipe['replies_planned']}, "
        f"delivery outcomes {pipe['delivery_outcomes']}, errors {pipe['delivery_errors']}, "
        f"dlq {pipe['dlq_count']}",
        f"kept up: replies/s delivered {kept['replies_per_s']}; drained {kept['drain_s']} s "
        f"after the load; lag at load end {kept['lag_at_load_end']}, after drain "
        f"{kept['lag_after_drain']}",
        f"machine busy during the load: {results['machine_busy_pct']}% of all cores",
        "",
    ]
    headers = (
        "SERVICE",
        "RSS_START_MB",
        "RSS_END_MB",
        "RSS_MAX_MB",
        "SLOPE_MB/MIN_2ND_HALF",
        "CPU_%_OF_ONE_CORE",
    )
    return "\n".join(lines) + render_table(_service_rows(results["services"]), headers)
