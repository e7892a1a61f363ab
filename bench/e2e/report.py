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


def machine() -> dict[str, Any]:
    """Cores and memory of this machine (Linux /proc)."""
    import os
    from pathlib import Path

    meminfo = dict(
        line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines() if ":" in line
    )
    total_kb = int(meminfo.get("MemTotal", "0 kB").split()[0])
    return {"cores": os.cpu_count(), "memory_gb": round(total_kb / 1024 / 1024, 1)}


def busy(readings: list[tuple[float, float, float]], window: tuple[float, float]) -> float | None:
    value = machine_busy_pct(readings, *window)
    return None if value is None else round(value, 1)


def step_line(row: Mapping[str, Any]) -> str:
    verdict = "held" if row["held"] else "NOT held"
    return (
        f"step {row['events_per_s']:.0f} events/s (offered {row['offered_events_per_s']}): "
        f"reply p50/p95/p99 {_ms(row['reply_latency_ms'])}, within 2 s "
        f"{row['share_replies_within_2s']}, lag 0 after {row['lag_zero_after_s']} s: {verdict}; "
        f"machine busy {row['machine_busy_pct']}%, load {row['load_average']}"
    )


def _head(results: Mapping[str, Any]) -> list[str]:
    why = f" (not Kafka: {results['why_not_kafka']})" if results.get("why_not_kafka") else ""
    return [
        f"{results['mode']} on {results['broker']}{why}, {results['when']}, machine "
        f"{results['machine']}; load average start {results['load_average_start']}, end "
        f"{results.get('load_average_end')}",
    ]


def _cpu_rows(cpu: Mapping[str, float | None]) -> str:
    rows = [[name, "-" if v is None else f"{v:.3f}"] for name, v in cpu.items()]
    return render_table(rows, ("PROCESS", "CPU_S_PER_1000_EVENTS (simulate: per 1000 requests)"))


def render(results: Mapping[str, Any]) -> str:
    if results["mode"] == "step":
        lines = _head(results) + [step_line(row) for row in results["steps"]]
        lines.append(f"highest rate that held 95% within 2 s: {results['highest_rate_held']}")
        return "\n".join(lines)
    if results["mode"] == "scale-out":
        lines = _head(results)
        for name, f in results["scale_out"].items():
            lines.append(f"{name}: {f}")
        lines.append(f"throughput ratio two workers / one: {results['ratio_2_to_1']}")
        return "\n".join(lines)
    config, ingress, pipe = results["config"], results["ingress"], results["pipeline"]
    kept, acct = results["kept_up"], results["accounting"]
    lines = [
        *_head(results),
        f"offered: {config['events_per_s']} events/s ({config['requests_per_s']} requests/s) "
        f"for {config['duration_s']} s; simulate offered {ingress['events_per_s']} events/s",
        f"ingress: sent {ingress['sent']}, accepted {ingress['accepted']}, rejected "
        f"{ingress['rejected']}, 503 {ingress['unavailable']}, errors {ingress['errors']}, "
        f"behind schedule {ingress['behind_schedule']}; "
        f"ack p50/p95/p99 {_ms(ingress['latency_ms'])}",
        f"load generator: {ingress.get('cpu_ms_per_1000_requests')} ms CPU per 1,000 requests "
        f"({ingress.get('cpu_s')} s over the load)",
        f"webhook -> reply delivered p50/p95/p99: {_ms(pipe['reply_latency_ms'])} "
        f"(target p95 <= {P95_TARGET_MS:.0f}: {_verdict(results['targets']['p95_le_250ms'])}, "
        f"p99 <= {P99_TARGET_MS:.0f}: {_verdict(results['targets']['p99_le_500ms'])})",
        f"webhook -> reply planned p50/p95/p99: {_ms(pipe['plan_latency_ms'])}; replies within "
        f"2 s {pipe['share_replies_within_2s']}; processed within 2 s "
        f"{pipe['share_processed_within_2s']}",
        f"events {pipe['events']} ({pipe['events_per_s_over_load']}/s over the load); replies "
        f"planned {pipe['replies_planned']}, delivery outcomes {pipe['delivery_outcomes']}, "
        f"errors {pipe['delivery_errors']}, dlq {pipe['dlq_count']}",
        f"acknowledged events lost: {acct['acknowledged_lost']} (acknowledged ids "
        f"{acct['acknowledged_event_ids']}, on inbound {acct['inbound_event_ids']} distinct / "
        f"{acct['inbound_records']} records); replies sent twice: {acct['replies_sent_twice']} "
        f"(sandbox: {acct['replies_delivered_distinct']} distinct replies, "
        f"{acct['messages_accepted']} messages)",
        f"lag at load end {kept['lag_at_load_end']}; back to 0 after {kept['lag_zero_after_s']} s; "
        f"replies/s delivered {kept['replies_per_s']}",
        f"machine busy during the load: {results['machine_busy_pct']}% of all cores",
    ]
    if "soak" in results:
        soak = results["soak"]
        lines.append(
            f"soak: reply latency first minute {_ms(soak['first_minute_ms'])}, last minute "
            f"{_ms(soak['last_minute_ms'])}, drift {soak['drift_pct']} % "
            f"(within 20%: {soak['within_20pct']})"
        )
    for name, found in (results.get("profiles") or {}).items():
        top = ", ".join(f"{frame} {pct}%" for frame, pct in found["self_pct"][:6])
        ours = ", ".join(f"{f} {pct}%" for f, pct in found.get("inclusive_project_pct", [])[:6])
        lines.append(f"profile {name} ({found['samples']} samples), self time: {top}")
        lines.append(f"profile {name}, inclusive (project code): {ours}")
    headers = (
        "SERVICE",
        "RSS_START_MB",
        "RSS_END_MB",
        "RSS_MAX_MB",
        "SLOPE_MB/MIN_2ND_HALF",
        "CPU_%_OF_ONE_CORE",
    )
    return (
        "\n".join(lines)
        + "\n\n"
        + render_table(_service_rows(results["services"]), headers)
        + "\n\n"
        + _cpu_rows(results["cpu_per_1000_events_s"])
    )
