"""The idle-expiry sweep's cost per step against the number of stored conversations.

    .venv/bin/python -m bench.processors.sweep [--sizes 10000,100000,500000]

No broker: a memory store (faust's dict) and a RocksDB database of one partition are filled with
N encoded states (one message and its reply each, as bench/processors/state.py makes them), and
`Sweeper.step` (1,000 states a step, as the processors run it every 2 s) is timed over a whole
pass. In the same run: the decision per state, the full decoder (before) vs the reading of the
time fields alone (now), interleaved on the same payloads; and the memory store's previous scan
(which sliced its snapshot of the keys on every step), whose step cost grew with N.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import rocksdict

from bench.output import emit
from processors.expiry import SWEEP_KEYS, Sweeper, expired_payload, is_expired
from processors.state import ConversationState, decode_state
from processors.table_store import ROCKSDB_OPTIONS, Entry, LocalStore, RocksStore

DAY_MS = 86_400_000
NOW = 1_800_000_000_000


class SlicingStore(LocalStore):
    """The scan before: `self._pass[limit:]` copied the rest of the snapshot at every step."""

    def scan(self, limit: int) -> list[Entry]:
        if not self._pass:
            self._pass = list(self.data)
        keys, self._pass = self._pass[:limit], self._pass[limit:]
        data = self.data
        return [(key, data[key], None) for key in keys if key in data]


def states(n: int) -> dict[bytes, bytes]:
    payload = ConversationState(
        history=(
            {"role": "user", "text": "hello there", "ts": NOW - DAY_MS},
            {"role": "page", "text": "Thanks! We got your message.", "ts": NOW - DAY_MS},
        ),
        seen={f"message:m_{'x' * 90}": NOW - DAY_MS},
        last_inbound_ms=NOW - DAY_MS,
        recent_replies_ms=(NOW - DAY_MS,),
    ).encode()
    return {f"page:{i % 10}:user:{i:09d}".encode(): payload for i in range(n)}


def time_pass(sweeper: Sweeper, steps: int) -> list[float]:
    """Seconds per step over `steps` steps (a whole pass)."""
    out = []
    for _ in range(steps):
        started = time.perf_counter()
        sweeper.step(NOW)
        out.append(time.perf_counter() - started)
    return out


def memory_case(cls: type[LocalStore], data: dict[bytes, bytes]) -> dict[str, float]:
    store = cls(SimpleNamespace(data=SimpleNamespace(data=data)))
    sweeper = Sweeper(store.scan, store.delete, ttl_ms=30 * DAY_MS)
    steps = -(-len(data) // SWEEP_KEYS)
    took = time_pass(sweeper, steps)
    return summary(took)


def rocks_case(data: dict[bytes, bytes]) -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix="sweep-bench-"))
    try:
        options = rocksdict.Options(raw_mode=True)
        options.create_if_missing(True)
        db = rocksdict.Rdict(str(root / "p0"), options)
        for key, value in data.items():
            db[key] = value
        db.flush()
        table = SimpleNamespace(data=SimpleNamespace(_dbs={0: db}, offset_key=b"__offset__"))
        store = RocksStore(table)
        sweeper = Sweeper(store.scan, lambda k, p: None, ttl_ms=30 * DAY_MS)
        took = time_pass(sweeper, -(-len(data) // SWEEP_KEYS))
        db.close()
        return summary(took)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def decision_us(data: dict[bytes, bytes], rounds: int = 3) -> dict[str, float]:
    """Microseconds per stored state for the expiry decision: the full decoder (before) and
    the sweep's reading of the time fields alone (now), on the same payloads, interleaved."""
    payloads = list(data.values())[:20_000]
    ttl = 30 * DAY_MS
    best = {"full_decode_before": float("inf"), "time_fields_now": float("inf")}
    for _ in range(rounds):
        started = time.perf_counter()
        for p in payloads:
            is_expired(decode_state(p), NOW, ttl)
        best["full_decode_before"] = min(best["full_decode_before"], time.perf_counter() - started)
        started = time.perf_counter()
        for p in payloads:
            expired_payload(p, NOW, ttl)
        best["time_fields_now"] = min(best["time_fields_now"], time.perf_counter() - started)
    out = {k: round(1e6 * v / len(payloads), 3) for k, v in best.items()}
    out["ratio_now_to_before"] = round(out["time_fields_now"] / out["full_decode_before"], 3)
    return out


def summary(took: list[float]) -> dict[str, float]:
    return {
        "steps": len(took),
        "ms_per_step_median": round(1000 * statistics.median(took), 3),
        "ms_per_step_max": round(1000 * max(took), 3),
        "share_of_a_core_at_one_step_per_2s": round(statistics.mean(took) / 2.0, 5),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,500000")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_average": os.getloadavg(),
        "rocksdb_options": ROCKSDB_OPTIONS,
        "sizes": {},
    }
    for n in map(int, args.sizes.split(",")):
        data = states(n)
        if "decision_us" not in results:
            results["decision_us"] = decision_us(data)
        results["sizes"][n] = {
            "memory_before_slicing": memory_case(SlicingStore, data),
            "memory_now": memory_case(LocalStore, data),
            "rocksdb_now": rocks_case(data),
        }
    results["load_average_end"] = os.getloadavg()
    emit(results, args.json)


if __name__ == "__main__":
    main()
