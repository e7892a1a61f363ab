"""Open-loop load: request i leaves at start + i/rate whatever the answers, so a slow server
shows up as latency (and "behind"), not as a silently lower rate."""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from hookstream.simulate.traffic import TrafficModel
from ingress.signature import sign


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (0 for an empty list)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), math.ceil(q / 100 * len(sorted_values))))
    return sorted_values[rank - 1]


@dataclass
class LoadResult:
    statuses: Counter[str] = field(default_factory=Counter)
    latencies_s: list[float] = field(default_factory=list)
    events: int = 0
    duplicates: int = 0
    behind: int = 0
    elapsed_s: float = 0.0

    @property
    def sent(self) -> int:
        return sum(self.statuses.values())

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies_s)
        return {
            "sent": self.sent,
            "accepted": self.statuses["200"],
            "rejected": sum(n for s, n in self.statuses.items() if s.startswith("4")),
            "unavailable": self.statuses["503"],
            "errors": self.statuses["error"],
            "events": self.events,
            "duplicates": self.duplicates,
            "rate_per_s": round(self.sent / self.elapsed_s, 1) if self.elapsed_s else 0.0,
            "events_per_s": round(self.events / self.elapsed_s, 1) if self.elapsed_s else 0.0,
            "latency_ms": {f"p{q}": round(percentile(ordered, q) * 1000, 2) for q in (50, 95, 99)},
            "behind_schedule": self.behind,
        }


def _progress(result: LoadResult, total: int, width: int = 30) -> str:
    done = result.sent
    filled = int(width * done / total) if total else width
    ordered = sorted(result.latencies_s[-2000:])
    return (
        f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} "
        f"ok={result.statuses['200']} 503={result.statuses['503']} "
        f"err={result.statuses['error']} p99={percentile(ordered, 99) * 1000:.1f}ms "
    )


async def _one(
    client: httpx.AsyncClient, url: str, secret: str, body: bytes, result: LoadResult
) -> None:
    headers = {"content-type": "application/json", "x-hub-signature-256": sign(body, secret)}
    started = time.perf_counter()
    try:
        response = await client.post(url, content=body, headers=headers)
        status = str(response.status_code)
    except httpx.HTTPError:
        status = "error"
    result.latencies_s.append(time.perf_counter() - started)
    result.statuses[status] += 1


async def run_load(
    url: str,
    secret: str,
    model: TrafficModel,
    rate: float,
    duration_s: float,
    concurrency: int = 64,
    progress: bool = True,
) -> LoadResult:
    total = max(1, int(rate * duration_s))
    result, gate = LoadResult(), asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=10.0) as client:
        start = time.perf_counter()
        tasks = []
        for i in range(total):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            elif gate.locked():
                result.behind += 1
            body, events, duplicate = model.next_body()
            result.events += events
            result.duplicates += duplicate
            await gate.acquire()
            task = asyncio.create_task(_one(client, url, secret, body, result))
            task.add_done_callback(lambda _: gate.release())
            tasks.append(task)
            if progress and i % max(1, int(rate / 4)) == 0:
                sys.stderr.write(_progress(result, total))
        await asyncio.gather(*tasks)
        result.elapsed_s = time.perf_counter() - start
    if progress:
        sys.stderr.write(_progress(result, total) + "\n")
    return result
