"""Open-loop load: request i leaves at start + i/rate whatever the answers, so a slow server
shows up as latency (and "behind"), not as a silently lower rate.

Little Python per request: bodies are built and signed in bulk (a quarter second of traffic at
a time, `prepare`), each as the complete HTTP/1.1 request bytes, and written to one of
`concurrency` persistent keep-alive connections (raw asyncio streams; `_one` is the per-request
path: write, read the status line and headers, read the body by Content-Length). A connection
the server closed, or that failed, is opened again for the next request on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import resource
import ssl
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson

from hookstream.simulate.traffic import TrafficModel
from ingress.signature import sign
from schemas.events import identify_messaging

REQUEST_TIMEOUT_S = 10.0


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (0 for an empty list)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), math.ceil(q / 100 * len(sorted_values))))
    return sorted_values[rank - 1]


def cpu_seconds() -> float:
    """User + system CPU seconds this process used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True, slots=True)
class Target:
    host: str
    port: int
    path: str  # with the query string, if any
    tls: bool = False

    @classmethod
    def of(cls, url: str) -> Target:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"simulate posts to http(s)://host[:port]/path, not {url!r}")
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        tls = parts.scheme == "https"
        return cls(parts.hostname, parts.port or (443 if tls else 80), path, tls)


@dataclass(frozen=True, slots=True)
class Prepared:
    """One signed webhook POST, as the bytes that go on the wire."""

    request: bytes
    events: int
    duplicate: bool
    event_ids: tuple[str, ...] = ()


def request_bytes(target: Target, body: bytes, secret: str) -> bytes:
    """The HTTP/1.1 request Meta would send for this body (keep-alive, signed)."""
    head = (
        f"POST {target.path} HTTP/1.1\r\n"
        f"Host: {target.host}:{target.port}\r\n"
        "Content-Type: application/json\r\n"
        f"X-Hub-Signature-256: {sign(body, secret)}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    return head.encode("ascii") + body


def split_request(request: bytes) -> tuple[dict[str, str], bytes]:
    """(headers by lower-case name, body) of one prepared request (for tests and checks)."""
    head, _, body = request.partition(b"\r\n\r\n")
    lines = head.decode("ascii").split("\r\n")[1:]
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines)}
    return headers, body


def event_ids_of(body: bytes) -> tuple[str, ...]:
    """The ids the ingress gives the events of a messaging body (schemas.events)."""
    data = orjson.loads(body)
    return tuple(
        identify_messaging(str(entry.get("id", "")), event).event_id
        for entry in data.get("entry", [])
        for event in entry.get("messaging", [])
    )


def prepare(
    model: TrafficModel, target: Target, secret: str, count: int, with_ids: bool = False
) -> list[Prepared]:
    """The next `count` requests of the model, built and signed in one go."""
    out = []
    for _ in range(count):
        body, events, duplicate = model.next_body()
        ids = event_ids_of(body) if with_ids else ()
        out.append(Prepared(request_bytes(target, body, secret), events, duplicate, ids))
    return out


@dataclass
class LoadResult:
    statuses: Counter[str] = field(default_factory=Counter)
    latencies_s: list[float] = field(default_factory=list)
    events: int = 0
    duplicates: int = 0
    behind: int = 0
    elapsed_s: float = 0.0
    cpu_s: float = 0.0  # this process's CPU over the load (building, signing, sending)
    acked_ids: set[str] = field(default_factory=set)  # with event ids: those answered 200

    @property
    def sent(self) -> int:
        return sum(self.statuses.values())

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies_s)
        sent = self.sent
        return {
            "sent": sent,
            "accepted": self.statuses["200"],
            "rejected": sum(n for s, n in self.statuses.items() if s.startswith("4")),
            "unavailable": self.statuses["503"],
            "errors": self.statuses["error"],
            "events": self.events,
            "duplicates": self.duplicates,
            "rate_per_s": round(sent / self.elapsed_s, 1) if self.elapsed_s else 0.0,
            "events_per_s": round(self.events / self.elapsed_s, 1) if self.elapsed_s else 0.0,
            "latency_ms": {f"p{q}": round(percentile(ordered, q) * 1000, 2) for q in (50, 95, 99)},
            "behind_schedule": self.behind,
            "cpu_s": round(self.cpu_s, 3),
            "cpu_ms_per_1000_requests": round(1e6 * self.cpu_s / sent, 1) if sent else None,
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


class Connection:
    """One keep-alive HTTP/1.1 connection, (re)opened when needed."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.reader is None or self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(
                self.target.host,
                self.target.port,
                ssl=ssl.create_default_context() if self.target.tls else None,
            )
        return self.reader, self.writer

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def parse_head(head: bytes) -> tuple[int, int | None, bool]:
    """(status, Content-Length or None, whether the server closes) of a response head."""
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length: int | None = None
    close = lines[0].startswith(b"HTTP/1.0")
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"connection":
            close = value.strip().lower() == b"close"
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
    return status, (None if chunked else length), close or (length is None and not chunked)


async def _read_chunked(reader: asyncio.StreamReader) -> None:
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0].strip(), 16)
        await reader.readexactly(size + 2)
        if size == 0:
            return


async def _exchange(connection: Connection, request: bytes) -> int:
    reader, writer = await connection.open()
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status, length, close = parse_head(head[:-4])
    if length is not None:
        await reader.readexactly(length)
    elif b"chunked" in head.lower():
        await _read_chunked(reader)
    if close:
        connection.close()
    return status


async def _one(connection: Connection, prepared: Prepared, result: LoadResult) -> None:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT_S):
            status = str(await _exchange(connection, prepared.request))
    except (OSError, EOFError, ValueError, IndexError, asyncio.IncompleteReadError, TimeoutError):
        connection.close()
        status = "error"
    result.latencies_s.append(time.perf_counter() - started)
    result.statuses[status] += 1
    if status == "200" and prepared.event_ids:
        result.acked_ids.update(prepared.event_ids)


def _close_all(connections: Iterable[Connection]) -> None:
    for connection in connections:
        with contextlib.suppress(Exception):
            connection.close()


async def run_load(
    url: str,
    secret: str,
    model: TrafficModel,
    rate: float,
    duration_s: float,
    concurrency: int = 64,
    progress: bool = True,
    with_ids: bool = False,
) -> LoadResult:
    """`with_ids`: remember the event ids of every body answered 200 (result.acked_ids)."""
    target = Target.of(url)
    total = max(1, int(rate * duration_s))
    chunk = max(1, min(total, int(rate / 4) or 1))
    result = LoadResult()
    connections = [Connection(target) for _ in range(max(1, concurrency))]
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for connection in connections:
        idle.put_nowait(connection)

    async def one(connection: Connection, prepared: Prepared) -> None:
        try:
            await _one(connection, prepared, result)
        finally:
            idle.put_nowait(connection)

    cpu_before = cpu_seconds()
    ready: list[Prepared] = []
    tasks: set[asyncio.Task[None]] = set()
    every = max(1, int(rate / 4))
    try:
        start = time.perf_counter()
        for i in range(total):
            if not ready:
                ready = prepare(model, target, secret, min(chunk, total - i), with_ids)
                ready.reverse()
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            prepared = ready.pop()
            result.events += prepared.events
            result.duplicates += prepared.duplicate
            if idle.empty():
                result.behind += 1
            connection = await idle.get()
            task = asyncio.create_task(one(connection, prepared))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            if progress and i % every == 0:
                sys.stderr.write(_progress(result, total))
        if tasks:
            await asyncio.gather(*tasks)
        result.elapsed_s = time.perf_counter() - start
    finally:
        _close_all(connections)
    result.cpu_s = cpu_seconds() - cpu_before
    if progress:
        sys.stderr.write(_progress(result, total) + "\n")
    return result
