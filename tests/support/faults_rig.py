"""The fault tests' rig: a webhook load generator that behaves like Meta, the whole pipeline as
child processes, a Send API sandbox that knows which sender incarnation sent what, and exact
reads of Kafka (to the end offsets, committed offsets, partition leaders) and of ClickHouse.

Used by tests/integration/test_broker_faults.py, test_service_kills.py and
test_replay_canonical.py. Everything here waits on conditions; nothing sleeps and hopes.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka import TopicPartition
from confluent_kafka.admin import AdminClient
from starlette.applications import Starlette

from hookstream.runtime.kafka import TopicSpec, ensure_topics, new_consumer
from hookstream.runtime.ports import free_port
from hookstream.runtime.service import uvicorn_server
from hookstream.runtime.settings import KafkaSettings
from hookstream.sandbox.app import Reply, Sandbox, sandbox_tokens
from hookstream.sandbox.front import SendFront
from ingress.signature import sign
from schemas.commands import command_id_for
from schemas.envelope import decode_envelope
from tests.conftest import TEST_SECRET, TEST_VERIFY_TOKEN
from tests.support.processors_rig import Service
from tests.support.sink_rig import poll

PAGE = "1001"
TOKEN = "token-1001"
PAGES_YAML = f"""\
pages:
  "{PAGE}":
    access_token: "{TOKEN}"
    rules:
      - name: pricing
        match: {{keywords: [price]}}
        reply: {{text: "Plans start at 9 EUR."}}
"""
PIPELINE = ("inbound", "outbound", "analytics", "dlq", "sender-ledger")


async def until(
    check: Callable[[], bool | Awaitable[bool]], what: str, timeout_s: float = 60.0
) -> None:
    """Poll `check` (sync or async) until true; AssertionError naming `what` at the deadline."""
    await poll(check, timeout_s, what)


def expected_command_id(mid: str) -> str:
    """The one reply a `price` message gets (processors: command_id_for(event id, 0))."""
    return command_id_for(f"message:{mid}", 0)


# --- the load generator ------------------------------------------------------------------


@dataclass
class Attempt:
    phase: str
    status: str  # "200", "503", ..., or "connect_error", "hang"
    seconds: float
    retry_after: str | None = None


@dataclass
class WebhookLoad:
    """Signed webhooks at a steady rate, each body re-posted like Meta redelivers (same bytes,
    growing pause) until the ingress answers 200. Every attempt is recorded with the phase the
    test had set when it started, so a test can say what the ingress answered during an outage.

    `hang_s` is the client timeout: an answer slower than that is recorded as a hang."""

    url: str
    run_id: str
    rate_per_s: float = 10.0
    max_pending: int = 100  # bodies not yet acknowledged; beyond this, no new ones
    events_per_body: int = 2
    users: int = 16
    concurrency: int = 16
    hang_s: float = 15.0
    secret: str = TEST_SECRET
    phase: str = "start"
    attempts: list[Attempt] = field(default_factory=list)
    acked: dict[str, str] = field(default_factory=dict)  # mid -> phase of the 200
    generated: list[str] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _runner: asyncio.Task[None] | None = None
    _client: httpx.AsyncClient | None = None
    _slots: asyncio.Semaphore | None = None
    _bodies: int = 0

    def body(self) -> tuple[bytes, list[str]]:
        index = self._bodies
        self._bodies += 1
        now = int(time.time() * 1000)
        mids, events = [], []
        for j in range(self.events_per_body):
            n = index * self.events_per_body + j
            mid = f"m-{self.run_id}-{n}"
            mids.append(mid)
            events.append(
                {
                    "sender": {"id": f"u{n % self.users}"},
                    "recipient": {"id": PAGE},
                    "timestamp": now,
                    "message": {"mid": mid, "text": f"what is the price? #{n}"},
                }
            )
        body = {"object": "page", "entry": [{"id": PAGE, "time": now, "messaging": events}]}
        return orjson.dumps(body), mids

    async def __aenter__(self) -> WebhookLoad:
        self._client = httpx.AsyncClient(
            timeout=self.hang_s, limits=httpx.Limits(max_connections=self.concurrency)
        )
        self._slots = asyncio.Semaphore(self.concurrency)
        self._runner = asyncio.create_task(self._generate(), name="webhook-load")
        return self

    async def __aexit__(self, kind: object, *_: object) -> None:
        if kind is not None:
            print(f"\nload at the failure: {self.summary()}")
        self._stop.set()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    async def _generate(self) -> None:
        interval = 1.0 / self.rate_per_s
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while not self._stop.is_set():
            if len(self._tasks) >= self.max_pending:  # the ingress is behind: offer no more
                next_at = loop.time() + interval
                await asyncio.sleep(interval)
                continue
            body, mids = self.body()
            self.generated += mids
            task = asyncio.create_task(self._deliver(body, mids))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - loop.time()))  # pacing, not waiting

    async def _deliver(self, body: bytes, mids: list[str]) -> None:
        headers = {
            "content-type": "application/json",
            "x-hub-signature-256": sign(body, self.secret),
        }
        pause = 0.2
        assert self._client is not None and self._slots is not None
        while True:
            async with self._slots:
                phase, started = self.phase, time.monotonic()
                try:
                    response = await self._client.post(self.url, content=body, headers=headers)
                except httpx.TimeoutException:
                    self.attempts.append(Attempt(phase, "hang", time.monotonic() - started))
                    response = None
                except httpx.TransportError:
                    self.attempts.append(
                        Attempt(phase, "connect_error", time.monotonic() - started)
                    )
                    response = None
            if response is not None:
                self.attempts.append(
                    Attempt(
                        phase,
                        str(response.status_code),
                        time.monotonic() - started,
                        response.headers.get("retry-after"),
                    )
                )
                if response.status_code == 200:
                    for mid in mids:
                        self.acked[mid] = phase
                    return
            await asyncio.sleep(pause)  # Meta's redelivery back-off
            pause = min(pause * 2, 2.0)

    async def finish(self, timeout_s: float = 90.0) -> None:
        """Stop generating new bodies and wait until every body generated so far got its 200."""
        self._stop.set()
        await until(lambda: not self._tasks, "every webhook acknowledged", timeout_s)

    def statuses(self, phase: str | None = None) -> collections.Counter[str]:
        return collections.Counter(
            a.status for a in self.attempts if phase is None or a.phase == phase
        )

    def count_in(self, phase: str, status: str) -> int:
        return sum(1 for a in self.attempts if a.phase == phase and a.status == status)

    def summary(self) -> dict[str, Any]:
        by_phase: dict[str, dict[str, int]] = collections.defaultdict(dict)
        for (phase, status), n in collections.Counter(
            (a.phase, a.status) for a in self.attempts
        ).items():
            by_phase[phase][status] = n
        slowest_503 = max((a.seconds for a in self.attempts if a.status == "503"), default=0.0)
        return {
            "generated": len(self.generated),
            "acknowledged": len(self.acked),
            "attempts": dict(by_phase),
            "slowest_503_s": round(slowest_503, 2),
            "pending_bodies": len(self._tasks),
        }


# --- the Send API sandbox, per sender incarnation ----------------------------------------


class _Tagger:
    """Stands in for the Sandbox in front of one port: the same answers (and store), and it
    remembers which incarnation each accepted message came through (the reply's message id
    carries the store's sequence number)."""

    def __init__(self, sandbox: Sandbox, tag: str, tags: dict[int, str]) -> None:
        self.sandbox, self.tag, self.tags = sandbox, tag, tags

    async def answer(self, page_id: str, token: str, body: bytes) -> Reply:
        reply = await self.sandbox.answer(page_id, token, body)
        if reply.status == 200:
            message_id = orjson.loads(reply.body).get("message_id", "")
            if message_id:
                self.tags[int(message_id.rsplit("_", 1)[1])] = self.tag
        return reply


@dataclass
class SandboxRig:
    """One Sandbox (one store); each sender incarnation gets its own port, so every accepted
    message is known to come from exactly one incarnation — also a call that was already on the
    wire when that incarnation was killed."""

    sandbox: Sandbox = field(default_factory=lambda: Sandbox(sandbox_tokens({PAGE: TOKEN}, ())))
    tags: dict[int, str] = field(default_factory=dict)
    _servers: list[tuple[Any, asyncio.Task[None]]] = field(default_factory=list)

    async def url_for(self, tag: str) -> str:
        port = free_port()
        tagger = _Tagger(self.sandbox, tag, self.tags)
        front = SendFront(tagger, Starlette(routes=list(self.sandbox.routes())))  # type: ignore[arg-type]
        server = uvicorn_server(front, "127.0.0.1", port)
        server.config.lifespan = "off"
        task = asyncio.create_task(server.serve(), name=f"sandbox-{tag}")
        self._servers.append((server, task))
        await until(lambda: server.started or task.done(), "the sandbox listening", 10)
        if task.done():
            task.result()
        return f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        for server, _ in self._servers:
            server.should_exit = True
        await asyncio.gather(*(task for _, task in self._servers), return_exceptions=True)

    def accepted(self) -> list[tuple[str, str]]:
        """(command id, incarnation) of every accepted message, in order."""
        out = []
        for message in self.sandbox.store.select(PAGE):
            metadata = message.get("metadata") or ""
            if message["message_id"] and ":" in metadata:
                out.append((metadata.split(":")[1], self.tags.get(message["seq"], "?")))
        return out

    def counts(self) -> collections.Counter[str]:
        return collections.Counter(cid for cid, _ in self.accepted())


@contextlib.asynccontextmanager
async def sandbox_rig() -> AsyncIterator[SandboxRig]:
    rig = SandboxRig()
    try:
        yield rig
    finally:
        await rig.close()


# --- the pipeline as child processes -----------------------------------------------------


def pipeline_env(
    kafka: KafkaSettings,
    tmp: Path,
    *,
    idempotence: bool,
    clickhouse_url: str,
    graph_url: str = "",
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    pages = tmp / "pages.yaml"
    pages.write_text(PAGES_YAML)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("HOOKSTREAM_", "KAFKA_"))},
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "KAFKA_ENABLE_IDEMPOTENCE": "true" if idempotence else "false",
        "KAFKA_REQUEST_TIMEOUT_S": "5",
        "HOOKSTREAM_TOPIC_PREFIX": kafka.topic_prefix,
        "KAFKA_PARTITIONS": str(kafka.partitions),
        "KAFKA_REPLICATION_FACTOR": str(kafka.replication_factor),
        "HOOKSTREAM_PAGES_FILE": str(pages),
        "HOOKSTREAM_STATE_DIR": str(tmp / "state"),
        "HOOKSTREAM_APP_SECRETS": TEST_SECRET,
        "HOOKSTREAM_VERIFY_TOKEN": TEST_VERIFY_TOKEN,
        "HOOKSTREAM_LOG_FORMAT": "text",
        "HOOKSTREAM_PROCESSORS_RATE_LIMIT_COUNT": "1000000",
        "HOOKSTREAM_PROCESSORS_PAGES_POLL_S": "0.5",
        # ingress: a short ack deadline, readiness checked often
        "HOOKSTREAM_INGRESS_ACK_DEADLINE_S": "3",
        "HOOKSTREAM_INGRESS_READINESS_INTERVAL_S": "1",
        # processors: a dead worker's partitions move quickly; small batches
        "HOOKSTREAM_PROCESSORS_SESSION_TIMEOUT_S": "6",
        "HOOKSTREAM_PROCESSORS_BATCH_WITHIN_S": "0.02",
        # sender: its own group, quick retries with a budget long enough for a broker outage
        "HOOKSTREAM_SENDER_CONSUMER_GROUP": f"{kafka.topic_prefix}sender",
        "HOOKSTREAM_SENDER_SESSION_TIMEOUT_S": "6",
        "HOOKSTREAM_SENDER_BACKOFF_BASE_S": "0.05",
        "HOOKSTREAM_SENDER_BACKOFF_MAX_S": "0.5",
        "GRAPH_API_BASE_URL": graph_url,
        # sink
        "CLICKHOUSE_URL": clickhouse_url,
        "HOOKSTREAM_SINK_BATCH_AGE_S": "0.2",
        "HOOKSTREAM_SINK_TTL_DAYS": "3650",
    }
    env.update(extra or {})
    return env


def processors_group(kafka: KafkaSettings) -> str:
    return kafka.topic("processors")


def sender_group(kafka: KafkaSettings) -> str:
    return f"{kafka.topic_prefix}sender"


def sink_group(kafka: KafkaSettings) -> str:
    return kafka.topic("sink")


@dataclass
class Pipeline:
    """ingress, processors, sender and sink as `hookstream <service>` child processes."""

    env: dict[str, str]
    log_dir: Path
    services: dict[str, Service] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("ingress", "processors", "sender", "sink"):
            self.services[name] = Service(name, dict(self.env), self.log_dir)

    def __getitem__(self, name: str) -> Service:
        return self.services[name]

    @property
    def webhook_url(self) -> str:
        return f"{self['ingress'].url}/webhook"

    async def start(self, *names: str) -> None:
        chosen = names or tuple(self.services)
        for name in chosen:
            self.services[name].start()
        for name in chosen:
            await self.services[name].ready(90)

    def pids(self) -> dict[str, int]:
        return {n: s.process.pid for n, s in self.services.items() if s.process is not None}

    def alive(self) -> dict[str, bool]:
        return {
            n: s.process is not None and s.process.poll() is None for n, s in self.services.items()
        }

    def stop(self) -> None:
        for service in reversed(list(self.services.values())):
            service.stop()

    def log_tail(self, name: str, chars: int = 3000) -> str:
        service = self.services[name]
        return service.log_path.read_text(errors="replace")[-chars:]


@contextlib.contextmanager
def running(pipeline: Pipeline) -> Iterator[Pipeline]:
    try:
        yield pipeline
    finally:
        pipeline.stop()


@contextlib.asynccontextmanager
async def pipeline_on(
    kafka: KafkaSettings, tmp: Path, clickhouse_url: str
) -> AsyncIterator[tuple[Pipeline, SandboxRig]]:
    """The whole pipeline started (and ready) against `kafka`, replying through a sandbox whose
    first sender incarnation is tagged `sender-1`; everything stopped at the end."""
    async with sandbox_rig() as sandbox:
        env = pipeline_env(
            kafka,
            tmp,
            idempotence=True,
            clickhouse_url=clickhouse_url,
            graph_url=await sandbox.url_for("sender-1"),
        )
        with running(Pipeline(env, tmp)) as pipe:
            await pipe.start()
            yield pipe, sandbox


async def settle(
    pipe: Pipeline, load: WebhookLoad, sandbox: SandboxRig, kafka: KafkaSettings
) -> list[Read]:
    """After the load: every reply delivered, every stage drained, every service still the
    process it was; then the pipeline is stopped (the sink frees its chDB). The dead letters."""
    await until(replies_complete(load, sandbox), "every reply delivered", 180)
    await until(lambda: pipeline_drained(kafka), "the pipeline drained", 180)
    assert all(pipe.alive().values()), f"a service died: {pipe.alive()}"
    dead = await read_to_end(kafka, "dlq")
    pipe.stop()
    return dead


# --- topics, exactly ---------------------------------------------------------------------


async def create_topics(kafka: KafkaSettings, config: Mapping[str, str] | None = None) -> None:
    """The pipeline's topics (with extra topic config, e.g. min.insync.replicas) before any
    service starts; the services' own ensure_topics then finds them."""
    extra = dict(config or {})
    specs = [
        TopicSpec(
            name, {**({"cleanup.policy": "compact"} if name == "sender-ledger" else {}), **extra}
        )
        for name in PIPELINE
    ]
    await ensure_topics(kafka, specs)


async def stop_consumer(consumer: Any) -> None:
    """consumer.stop(), minus an aiokafka 0.14 quirk: a consumer stopped before its
    group-less coordinator's task first ran re-raises that task's cancellation half-way, with
    its fetcher and connections still open. One step first lets that task start (then it
    takes its cancellation quietly); should the quirk still hit, what stop() skipped is closed."""
    await asyncio.sleep(0)
    try:
        await consumer.stop()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        if consumer._fetcher is not None:
            await consumer._fetcher.close()
        await consumer._client.close()


async def end_offsets(kafka: KafkaSettings, topic: str) -> dict[int, int]:
    consumer = new_consumer(kafka, group_id=None)
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(kafka.topic(topic))
        if not parts:
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(kafka.topic(topic)) or set()
        tps = [TopicPartition(kafka.topic(topic), p) for p in sorted(parts)]
        return {tp.partition: offset for tp, offset in (await consumer.end_offsets(tps)).items()}
    finally:
        await stop_consumer(consumer)


async def committed(
    kafka: KafkaSettings, group: str, topic: str, parts: Iterable[int]
) -> dict[int, int]:
    consumer = new_consumer(kafka, group_id=group)
    await consumer.start()
    try:
        out = {}
        for p in parts:
            offset = await consumer.committed(TopicPartition(kafka.topic(topic), p))
            out[p] = -1 if offset is None else int(offset)
        return out
    finally:
        await stop_consumer(consumer)


async def drained(kafka: KafkaSettings, group: str, topic: str) -> bool:
    ends = await end_offsets(kafka, topic)
    done = await committed(kafka, group, topic, ends)
    return all(done[p] >= end for p, end in ends.items() if end > 0)


async def pipeline_drained(kafka: KafkaSettings, *, sink: bool = True) -> bool:
    """Every stage committed everything upstream wrote. In this order each stage's input is
    final once the stage before it is drained: a stage commits only after its outputs are
    acknowledged (processors: outbound/analytics acks; sender: ledger and facts)."""
    stages = [
        (processors_group(kafka), "inbound"),
        (sender_group(kafka), "outbound"),
    ]
    if sink:
        stages.append((sink_group(kafka), "analytics"))
    for group, topic in stages:
        if not await drained(kafka, group, topic):
            return False
    return True


@dataclass(frozen=True)
class Read:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


async def read_to_end(kafka: KafkaSettings, topic: str, timeout_s: float = 60.0) -> list[Read]:
    """Every record of the topic up to the end offsets taken at the start (exact on Kafka)."""
    ends = await end_offsets(kafka, topic)
    if not any(ends.values()):
        return []
    name = kafka.topic(topic)
    consumer = new_consumer(kafka, group_id=None)
    await consumer.start()
    records: list[Read] = []
    try:
        tps = [TopicPartition(name, p) for p, end in ends.items() if end > 0]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            batch = await consumer.getmany(timeout_ms=300)
            for messages in batch.values():
                records += [Read(m.partition, m.offset, m.key, m.value) for m in messages]
            positions = {tp.partition: await consumer.position(tp) for tp in tps}
            if all(positions[p] >= ends[p] for p in positions):
                return [r for r in records if r.offset < ends[r.partition]]
            if loop.time() > deadline:
                raise AssertionError(f"{name}: read {len(records)} records, end not reached")
    finally:
        await stop_consumer(consumer)


async def inbound_mids(kafka: KafkaSettings) -> collections.Counter[str]:
    """Message ids on `inbound` (a redelivered webhook is there more than once)."""
    mids: collections.Counter[str] = collections.Counter()
    for record in await read_to_end(kafka, "inbound"):
        assert record.value is not None
        mids[decode_envelope(record.value).raw["message"]["mid"]] += 1
    return mids


async def ledger_keys(kafka: KafkaSettings) -> set[str]:
    return {r.key.decode() for r in await read_to_end(kafka, "sender-ledger") if r.key}


# --- partition leaders (public metadata of librdkafka's admin client) --------------------


@dataclass(frozen=True)
class PartitionState:
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


def partition_states(bootstrap: str, topic: str) -> dict[int, PartitionState]:
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    metadata = admin.list_topics(topic, timeout=10)
    partitions = metadata.topics[topic].partitions
    return {
        p: PartitionState(meta.leader, tuple(meta.replicas), tuple(meta.isrs))
        for p, meta in partitions.items()
    }


# --- ClickHouse, counted in a child process (one process per chDB path) ------------------

_COUNT_SCRIPT = """
import json, sys
from hookstream.runtime.clickhouse import connect, parse_clickhouse_url
target = parse_clickhouse_url(sys.argv[1])
client = connect(target)
db = target.database
def one(sql):
    return int(client.query(sql).result_rows[0][0])
print(json.dumps({
    "messages": one(f"SELECT count() FROM {db}.messages"),
    "messages_distinct": one(f"SELECT uniqExact(event_id) FROM {db}.messages"),
    "replies": one(f"SELECT count() FROM {db}.replies"),
    "replies_distinct": one(f"SELECT uniqExact(command_id) FROM {db}.replies"),
    "delivered": one(f"SELECT count() FROM {db}.deliveries WHERE status = 'delivered'"),
    "delivered_distinct": one(
        f"SELECT uniqExact(command_id) FROM {db}.deliveries WHERE status = 'delivered'"),
    "skipped_duplicate": one(
        f"SELECT count() FROM {db}.deliveries WHERE status = 'skipped_duplicate'"),
    "rollup_events": one(f"SELECT sum(events) FROM {db}.messages_1m"),
    "rollup_replies": one(f"SELECT sum(replies) FROM {db}.replies_1m"),
    "rollup_delivered": one(
        f"SELECT sum(outcomes) FROM {db}.deliveries_1m WHERE status = 'delivered'"),
    "dead_letters": one(f"SELECT count() FROM {db}.dead_letters"),
}))
client.close()
"""


def clickhouse_counts(url: str) -> dict[str, int]:
    """Counts in the chDB at `url` (the sink must be stopped: one process per chDB path)."""
    done = subprocess.run(
        [sys.executable, "-c", _COUNT_SCRIPT, url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    counts: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    return counts


# --- brokers started from one long-lived thread ------------------------------------------


class BrokerThread:
    """Runs the Kafka runner's blocking calls (start, kill, restart, stop) on one worker thread
    that lives as long as the test: the nodes are bound to the thread that spawned them (they
    get SIGTERM when it ends), and the event loop keeps serving the load meanwhile."""

    def __init__(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._executor = ThreadPoolExecutor(1, thread_name_prefix="kafka-nodes")

    async def __call__(self, work: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, work, *args)

    def close(self) -> None:
        self._executor.shutdown(wait=True)


async def http_status(url: str) -> int:
    """The status of a GET (0 when nothing answers)."""
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            return (await client.get(url)).status_code
    except httpx.HTTPError:
        return 0


def kafka_settings(
    bootstrap: str, prefix: str, partitions: int = 4, replication: int = 1
) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=bootstrap,
        topic_prefix=prefix,
        partitions=partitions,
        replication_factor=replication,
        enable_idempotence=True,
        request_timeout_s=5.0,
    )


# --- the accounting ------------------------------------------------------------------------


@dataclass
class Accounting:
    """What the load generator saw acknowledged against what reached `inbound` and the users."""

    acknowledged: int
    inbound_records: int
    inbound_distinct: int
    acked_missing_on_inbound: list[str]
    replies_expected: int
    replies_delivered: int  # distinct command ids the sandbox accepted
    sends: int  # every message the sandbox accepted
    replies_missing: list[str]
    replies_unexpected: list[str]
    duplicates: dict[str, int]

    def line(self) -> str:
        return (
            f"acknowledged {self.acknowledged}, on inbound {self.inbound_distinct} distinct "
            f"({self.inbound_records} records), replies {self.replies_delivered}/"
            f"{self.replies_expected} (sends {self.sends}), duplicates {len(self.duplicates)}"
        )


async def account(load: WebhookLoad, kafka: KafkaSettings, sandbox: SandboxRig) -> Accounting:
    on_inbound = await inbound_mids(kafka)
    expected = {expected_command_id(mid) for mid in load.generated}
    sent = sandbox.counts()
    return Accounting(
        acknowledged=len(load.acked),
        inbound_records=sum(on_inbound.values()),
        inbound_distinct=len(on_inbound),
        acked_missing_on_inbound=sorted(set(load.acked) - set(on_inbound)),
        replies_expected=len(expected),
        replies_delivered=len(set(sent)),
        sends=sum(sent.values()),
        replies_missing=sorted(expected - set(sent)),
        replies_unexpected=sorted(set(sent) - expected),
        duplicates={cid: n for cid, n in sent.items() if n > 1},
    )


def assert_counts(counts: dict[str, int], n: int) -> None:
    """ClickHouse counted each of the n messages, replies and deliveries once."""
    for key in ("messages", "messages_distinct", "replies", "replies_distinct", "delivered"):
        assert counts[key] == n, f"ClickHouse {key}: {counts[key]} != {n}"
    for key in ("delivered_distinct", "rollup_events", "rollup_replies", "rollup_delivered"):
        assert counts[key] == n, f"ClickHouse {key}: {counts[key]} != {n}"
    assert counts["dead_letters"] == 0, "something was dead-lettered"


def replies_complete(load: WebhookLoad, sandbox: SandboxRig) -> Callable[[], bool]:
    def check() -> bool:
        expected = {expected_command_id(mid) for mid in load.generated}
        return expected <= set(sandbox.counts())

    return check


async def post_messages(
    url: str, run_id: str, start: int, count: int, per_body: int = 4
) -> list[str]:
    """Post `count` price questions (mids m-<run>-<start>..) as signed webhooks; each must get
    its 200. Returns the mids."""
    load = WebhookLoad(url, run_id, events_per_body=per_body)
    load._bodies = start // per_body
    mids: list[str] = []
    async with httpx.AsyncClient(timeout=30) as client:
        while len(mids) < count:
            body, batch = load.body()
            response = await client.post(
                url,
                content=body,
                headers={
                    "content-type": "application/json",
                    "x-hub-signature-256": sign(body, load.secret),
                },
            )
            assert response.status_code == 200, response.text
            mids += batch
    return mids
