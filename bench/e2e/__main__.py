"""`python -m bench.e2e`: the whole stack (`hookstream up`'s Stack: real Apache Kafka when Java
and Maven are here, else the embedded Tansu broker; ingress, sandbox, sender, sink, processors,
lag exporter as child processes, on free ports and a temporary state dir) driven by `hookstream
simulate` at an event rate, then read back: `hookstream stats --json` (webhook received -> reply
delivered p50/p95/p99), consumer lag until it is back to 0 (timed), the event ids on `inbound`
against those the load generator saw acknowledged (lost), the replies the sandbox accepted per
command (sent twice), and every service's and the broker's RSS and CPU sampled from /proc.

    .venv/bin/python -m bench.e2e                      # 1,000 events/s for 300 s
    .venv/bin/python -m bench.e2e --duration 60        # a shorter run
    .venv/bin/python -m bench.e2e --step               # raise the rate until p95 passes 2 s
    .venv/bin/python -m bench.e2e --soak               # 1,000 events/s for 10 minutes
    .venv/bin/python -m bench.e2e --scale-out          # two processors workers vs one
    .venv/bin/python -m bench.e2e --broker embedded    # on the embedded broker

Targets (DESIGN.md): p95 <= 250 ms and p99 <= 500 ms at 1,000 events/s sustained; memory flat
over a 10-minute soak (the slope over the second half of the load, MB per minute). The machine's
load average is recorded at the start and end of every run: on a shared machine the figures are
a lower bound.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench.e2e import profile, report
from bench.e2e.figures import (
    Step,
    cpu_per_1000,
    drift_pct,
    highest_held,
    lost,
    requests_per_s,
    throughput,
)
from bench.e2e.probe import KafkaProbe, SandboxCounter
from bench.e2e.sampler import Sampler
from bench.e2e.stack import (
    bench_stack,
    child_pids,
    hookstream,
    hookstream_json,
    kafka_available,
    load_average,
    output_to,
    sandbox_accepted,
    spawn_service,
    url,
    warm_up,
)
from hookstream.embedded import processes
from hookstream.runtime.settings import Settings
from hookstream.simulate.traffic import TrafficModel

RESULTS = Path("bench/results")
STEP_RATES = "250,500,1000,1500,2000,3000,4000,6000"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.e2e")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--step", action="store_true", help="raise the rate until p95 passes 2 s")
    mode.add_argument("--soak", action="store_true", help="10 minutes, sampling every 5 s")
    mode.add_argument("--scale-out", action="store_true", help="two processors workers vs one")
    parser.add_argument(
        "--broker",
        choices=("auto", "kafka", "embedded"),
        default="auto",
        help="auto: Apache Kafka when Java and Maven are here, else the embedded broker",
    )
    parser.add_argument("--events-per-s", type=float, default=1000.0)
    parser.add_argument("--duration", type=float, default=None, help="seconds (300; soak 600)")
    parser.add_argument("--interval", type=float, default=None, help="sampling s (2; soak 5)")
    parser.add_argument(
        "--drain-timeout", type=float, default=300.0, help="seconds to wait for lag 0"
    )
    parser.add_argument("--step-rates", default=STEP_RATES, help="events/s, comma-separated")
    parser.add_argument("--step-duration", type=float, default=30.0, help="seconds per step")
    parser.add_argument("--backlog", type=int, default=40_000, help="scale-out: events per backlog")
    parser.add_argument(
        "--profile",
        type=float,
        default=0.0,
        metavar="S",
        help="sample the Python services with py-spy for S seconds during the load",
    )
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=256, help="simulate's connections")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--keep", action="store_true", help="keep the state dir and its logs")
    parser.add_argument("--out", type=Path, default=None, help="default bench/results/e2e*.json")
    args = parser.parse_args(argv)
    args.mode = (
        "step" if args.step else "soak" if args.soak else "scale-out" if args.scale_out else "run"
    )
    args.duration = args.duration or (600.0 if args.soak else 300.0)
    args.interval = args.interval or (5.0 if args.soak else 2.0)
    suffix = "" if args.mode == "run" else f"-{args.mode}"
    args.out = args.out or RESULTS / f"e2e{suffix}.json"
    return args


def choose_broker(wanted: str) -> tuple[str, str | None]:
    """(broker, why not Kafka) for --broker."""
    if wanted == "embedded":
        return "embedded", "asked for"
    reason = kafka_available()
    if reason is None:
        return "kafka", None
    if wanted == "kafka":
        raise SystemExit(f"--broker kafka: {reason}")
    return "embedded", reason


def model_of(args: argparse.Namespace) -> TrafficModel:
    return TrafficModel(pages=args.pages, users=args.users)


class Bench:
    """One stack, its sampler, its probes; `close` stops everything it started."""

    def __init__(self, args: argparse.Namespace, without: frozenset[str] = frozenset()) -> None:
        self.args = args
        self.broker, self.why_not_kafka = choose_broker(args.broker)
        self.state_dir = Path(tempfile.mkdtemp(prefix="hookstream-e2e-"))
        model = model_of(args)
        pages = [model.page_id(i) for i in range(args.pages)]
        self.stack = bench_stack(
            self.state_dir, pages, args.partitions, broker=self.broker, without=without
        )
        self.sampler = Sampler(args.interval, counter=lambda: sandbox_accepted(self.stack))
        self.extra: dict[str, Any] = {}  # workers started beside the stack
        self.load_start = load_average()

    def start(self) -> None:
        print(f"starting the stack on {self.broker} ...", flush=True)
        with output_to(self.state_dir / "services.log"):
            self.stack.start()
        for name, pid in child_pids(self.stack).items():
            self.sampler.watch(name, pid)
        self.sampler.start()
        env = self.stack.child_env()
        self.settings = Settings.from_env(env)
        self.probe = KafkaProbe(self.stack.broker.bootstrap_servers, self.settings.kafka.topic(""))

    def close(self) -> None:
        self.sampler.stop()
        for child in self.extra.values():
            processes.stop(child, 10.0)
        self.stack.stop()
        if self.args.keep:
            print(f"state and logs kept in {self.state_dir}", flush=True)
        else:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def header(self) -> dict[str, Any]:
        return {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "mode": self.args.mode,
            "broker": self.broker,
            "why_not_kafka": self.why_not_kafka,
            "machine": report.machine(),
            "load_average_start": self.load_start,
        }

    def simulate(
        self, events_per_s: float, duration_s: float, acked_ids: Path | None = None
    ) -> dict[str, Any]:
        rate = requests_per_s(events_per_s, model_of(self.args))
        argv = [
            "simulate",
            "--url",
            url(self.stack, "ingress", "/webhook"),
            "--json",
            "--rate",
            f"{rate:.3f}",
            "--duration",
            str(duration_s),
            "--pages",
            str(self.args.pages),
            "--users",
            str(self.args.users),
            "--concurrency",
            str(self.args.concurrency),
        ]
        if acked_ids is not None:
            argv += ["--acked-ids", str(acked_ids)]
        child = hookstream(self.stack, *argv)
        self.sampler.watch("simulate", child.pid)
        out, _ = child.communicate(timeout=duration_s + 600)
        summary: dict[str, Any] = orjson.loads(out)
        return summary

    def lag_zero(self, timeout_s: float = 300.0) -> tuple[float | None, dict[str, int]]:
        """Seconds until every group's lag is 0 (None: not within timeout_s), the lag then."""
        started = time.monotonic()
        lag: dict[str, int] = {}
        while time.monotonic() - started < timeout_s:
            try:
                lag = self.probe.lag()
            except Exception:  # noqa: BLE001 - a reading that failed is read again
                lag = {}
            if lag and not any(lag.values()):
                return round(time.monotonic() - started, 2), lag
            time.sleep(0.5)
        return None, lag

    def stats(self, from_ms: int, to: str = "now") -> dict[str, Any]:
        result: dict[str, Any] = hookstream_json(
            self.stack, "stats", "--json", "--from", str(from_ms), "--to", to
        )
        return result

    def settled_stats(self, from_ms: int, timeout_s: float = 120.0) -> dict[str, Any]:
        """Stats once the sink stored every outcome (two equal answers in a row)."""
        deadline, previous = time.monotonic() + timeout_s, None
        while True:
            stats = self.stats(from_ms)
            counted = (stats["events"], stats["delivery_outcomes"])
            # nothing stored yet is not settled: the sink flushes by batch age
            if (counted == previous and all(counted)) or time.monotonic() > deadline:
                return stats
            previous = counted
            time.sleep(2.0)


# Counted against the events they finished (stored by the sink), not those offered: behind a
# backlog they did only part of the work in the window.
DOWNSTREAM = ("processors", "sender", "sink", "sandbox")


def cpu_table(
    sampler: Sampler, window: tuple[float, float], events: int, requests: int, done: int
) -> dict[str, float | None]:
    """CPU seconds per 1,000 events for every process: the load generator per 1,000 requests,
    ingress, broker and lag exporter per event offered, the services downstream per event
    finished (`done`)."""
    table: dict[str, float | None] = {}
    for name, samples in sampler.samples.items():
        count = requests if name == "simulate" else events
        if name.split("-")[0] in DOWNSTREAM:
            count = done
        value = cpu_per_1000(samples, *window, count)
        table[name] = None if value is None else round(value, 3)
    return table


def sustained(bench: Bench) -> dict[str, Any]:
    args = bench.args
    conf = {
        "events_per_s": args.events_per_s,
        "requests_per_s": round(requests_per_s(args.events_per_s, model_of(args)), 2),
        "duration_s": args.duration,
        "pages": args.pages,
        "users": args.users,
        "concurrency": args.concurrency,
        "partitions": args.partitions,
        "interval_s": args.interval,
    }
    warm_up_s = warm_up(bench.stack)
    print(f"stack ready ({warm_up_s:.1f} s to the first reply); load running...", flush=True)
    counter = SandboxCounter(3.0, base_url=url(bench.stack, "sandbox", ""))
    counter.start()
    acked_file = bench.state_dir / "acked-ids.txt"
    from_ms = int(time.time() * 1000)
    load_t0 = bench.sampler.now()
    profiling = start_profiles(bench, args.profile) if args.profile else {}
    summary = bench.simulate(args.events_per_s, args.duration, acked_file)
    ingress = report.ingress_figures(summary)
    load_end = bench.sampler.now()
    end_ms = int(time.time() * 1000)
    window = (load_end - ingress["elapsed_s"], load_end)
    lag_at_end = bench.probe.lag()
    lag_zero_s, lag_after = bench.lag_zero(timeout_s=args.drain_timeout)
    drained_t = bench.sampler.now()
    bench.sampler.sample_once()
    stats = bench.settled_stats(from_ms)
    counter.stop()
    print("counting event ids on inbound ...", flush=True)
    acked = acked_file.read_text().split()
    inbound = bench.probe.event_ids(bench.settings.kafka.topic("inbound"))
    missing = lost(acked, inbound)
    results: dict[str, Any] = {
        **bench.header(),
        "config": conf,
        "warm_up_s": round(warm_up_s, 1),
        "ingress": ingress,
        "pipeline": report.pipeline_figures(stats, window[1] - window[0]),
        "targets": report.targets(stats),
        "kept_up": {
            "lag_at_load_end": lag_at_end,
            "lag_zero_after_s": lag_zero_s,
            "lag_after": lag_after,
            "replies_per_s": report.replies_rate(bench.sampler.counted, window),
        },
        "accounting": {
            "acknowledged_event_ids": len(acked),
            "inbound_event_ids": len(inbound),
            "inbound_records": sum(inbound.values()),
            "acknowledged_lost": len(missing),
            "lost_examples": missing[:5],
            **counter.figures(),
        },
        "cpu_per_1000_events_s": cpu_table(
            bench.sampler, (load_t0, drained_t), summary["events"], summary["sent"], stats["events"]
        ),
        "stats": stats,
    }
    if profiling:
        results["profiles"] = read_profiles(profiling)
    if args.mode == "soak":
        results["soak"] = soak_minutes(bench, from_ms, end_ms)
    results.update(report.resources(bench.sampler.samples, bench.sampler.machine, window))
    results["load_average_end"] = load_average()
    return results


PROFILED = ("ingress", "processors", "sender", "sink")


def start_profiles(bench: Bench, seconds: float) -> dict[str, tuple[Any, Path]]:
    """py-spy on each Python service for `seconds`, 15 s into the load (in a thread)."""
    started: dict[str, tuple[Any, Path]] = {}
    pids = child_pids(bench.stack)

    def later() -> None:
        time.sleep(15.0)
        for name in PROFILED:
            out = bench.state_dir / f"profile-{name}.txt"
            child = profile.record(pids[name], seconds, out)
            if child is not None:
                started[name] = (child, out)

    thread = threading.Thread(target=later, daemon=True)
    thread.start()
    started["_thread"] = (thread, Path())
    return started


def read_profiles(started: dict[str, tuple[Any, Path]]) -> dict[str, Any]:
    thread, _ = started.pop("_thread")
    thread.join()
    found: dict[str, Any] = {}
    RESULTS.mkdir(parents=True, exist_ok=True)
    for name, (child, out) in started.items():
        child.wait(timeout=120)
        if out.exists():
            lines = out.read_text().splitlines()
            shutil.copy(out, RESULTS / out.name)
            found[name] = profile.top(lines)
    return found


def soak_minutes(bench: Bench, from_ms: int, end_ms: int) -> dict[str, Any]:
    first = bench.stats(from_ms, str(from_ms + 60_000))
    last = bench.stats(end_ms - 60_000, str(end_ms))
    lat_first, lat_last = first.get("reply_latency_ms") or {}, last.get("reply_latency_ms") or {}
    drift = {}
    for q in ("p50", "p95", "p99"):
        value = drift_pct(lat_first.get(q), lat_last.get(q))
        drift[q] = None if value is None else round(value, 1)
    return {
        "first_minute_ms": lat_first,
        "last_minute_ms": lat_last,
        "drift_pct": drift,
        "within_20pct": all(v is not None and abs(v) <= 20 for v in drift.values()),
    }


def step_test(bench: Bench) -> dict[str, Any]:
    args = bench.args
    warm_up_s = warm_up(bench.stack)
    print(f"stack ready ({warm_up_s:.1f} s); step test ...", flush=True)
    steps: list[dict[str, Any]] = []
    held: list[Step] = []
    for rate in (float(r) for r in args.step_rates.split(",") if r.strip()):
        from_ms = int(time.time() * 1000)
        t0 = bench.sampler.now()
        summary = bench.simulate(rate, args.step_duration)
        load_end = bench.sampler.now()
        lag_zero_s, _ = bench.lag_zero(timeout_s=args.drain_timeout)
        t1 = bench.sampler.now()
        stats = bench.settled_stats(from_ms)
        latency = stats.get("reply_latency_ms") or {}
        step = Step(
            rate, latency.get("p95"), stats.get("share_replies_within_2s"), lag_zero_s is not None
        )
        held.append(step)
        row = {
            "events_per_s": rate,
            "offered_events_per_s": report.ingress_figures(summary)["events_per_s"],
            "accepted": summary["accepted"],
            "sent": summary["sent"],
            "ack_latency_ms": summary["latency_ms"],
            "reply_latency_ms": latency,
            "share_replies_within_2s": stats.get("share_replies_within_2s"),
            "lag_zero_after_s": lag_zero_s,
            "held": step.held,
            "machine_busy_pct": report.busy(bench.sampler.machine, (t0, load_end)),
            "cpu_per_1000_events_s": cpu_table(
                bench.sampler, (t0, t1), summary["events"], summary["sent"], stats["events"]
            ),
            "load_average": load_average(),
        }
        steps.append(row)
        print(report.step_line(row), flush=True)
        if not step.held:
            break
    return {
        **bench.header(),
        "config": {
            "rates": args.step_rates,
            "step_duration_s": args.step_duration,
            "partitions": args.partitions,
        },
        "steps": steps,
        "highest_rate_held": highest_held(held),
        "load_average_end": load_average(),
    }


def scale_out(bench: Bench) -> dict[str, Any]:
    """A backlog of `--backlog` events worked off by one processors worker, then another backlog
    by two workers in the same group: the throughput ratio (same stack, same run)."""
    args = bench.args
    logs = bench.state_dir / "logs"
    group = bench.settings.processors.group(bench.settings.kafka)
    rate = 1500.0
    duration = args.backlog / rate
    figures: dict[str, Any] = {}

    def workers(n: int) -> None:
        for i in range(n):
            child, _ = spawn_service(bench.stack, "processors", logs / f"processors-{i}.log")
            bench.extra[f"processors-{i}"] = child
            bench.sampler.watch(f"processors-{i}", child.pid)

    def stop_workers() -> None:
        for name in [n for n in bench.extra if n.startswith("processors-")]:
            child = bench.extra.pop(name)
            processes.stop(child, 15.0)

    workers(1)
    warm_up_s = warm_up(bench.stack, timeout_s=180.0)
    print(f"stack ready ({warm_up_s:.1f} s); scale-out ...", flush=True)
    bench.lag_zero(timeout_s=60.0)
    for n in (1, 2):
        stop_workers()
        summary = bench.simulate(rate, duration)  # the backlog, nobody processing it
        backlog = bench.probe.lag().get(group, 0)
        started = time.monotonic()
        workers(n)
        series: list[tuple[float, int]] = []
        while True:
            lag = bench.probe.lag().get(group, backlog)
            series.append((round(time.monotonic() - started, 2), lag))
            if lag == 0 or time.monotonic() - started > args.drain_timeout:
                break
            time.sleep(0.5)
        per_s = throughput(series)
        figures[f"{n}_worker{'s' if n > 1 else ''}"] = {
            "backlog_events": summary["events"],
            "backlog_lag": backlog,
            "to_zero_s": series[-1][0],
            "events_per_s": None if per_s is None else round(per_s, 1),
            "load_average": load_average(),
        }
        print(f"{n} worker(s): {figures[list(figures)[-1]]}", flush=True)
        bench.lag_zero(timeout_s=120.0)
    one = figures["1_worker"]["events_per_s"]
    two = figures["2_workers"]["events_per_s"]
    return {
        **bench.header(),
        "config": {"backlog": args.backlog, "partitions": args.partitions, "group": group},
        "scale_out": figures,
        "ratio_2_to_1": round(two / one, 2) if one and two else None,
        "load_average_end": load_average(),
    }


MODES: dict[str, Callable[[Bench], dict[str, Any]]] = {
    "run": sustained,
    "soak": sustained,
    "step": step_test,
    "scale-out": scale_out,
}


def main() -> int:
    args = parse_args()
    bench = Bench(
        args, without=frozenset({"processors"}) if args.mode == "scale-out" else frozenset()
    )

    def _terminate(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    try:
        bench.start()
        results = MODES[args.mode](bench)
    finally:
        bench.close()
    print(report.render(results))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    print(f"written to {args.out}")
    return 0  # a missed target is a finding in the table, not a failed run


if __name__ == "__main__":
    sys.exit(main())
