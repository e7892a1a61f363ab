"""Collect lag figures from Kafka: which groups, their commits, the end offsets, record times.

On Apache Kafka (`KafkaSettings.full_protocol`) committed offsets come from the admin's
`list_consumer_group_offsets`; on the embedded broker, whose answer aiokafka cannot decode,
through a consumer carrying the group id (never joining the group). Besides: `list_consumer_groups`,
`describe_consumer_groups` one group per request, end offsets, and fetches for record times. The
figures are the same on both: the embedded broker's end offsets undercount after multi-record
batches, so there the ends come from a fetch's high watermark (`lag_ends`), and the snapshot lists
each partition whose reported end was corrected.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from hookstream.ops.errors import OpsError
from hookstream.ops.lag import PartitionLag, partition_lag
from hookstream.ops.lag_ends import EndCorrection, high_watermarks, true_ends
from hookstream.ops.offsets import record_timestamps
from hookstream.runtime.kafka import PIPELINE_TOPICS, new_admin, new_consumer
from hookstream.runtime.settings import KafkaSettings


@dataclass(frozen=True)
class GroupInfo:
    group: str
    state: str
    members: int


@dataclass(frozen=True)
class Snapshot:
    at_ms: int
    rows: tuple[PartitionLag, ...]
    groups: tuple[GroupInfo, ...]
    topic_ends: tuple[tuple[str, int, int], ...]  # (topic, partition, end offset)
    # partitions whose end the broker reported too low (the embedded broker's ListOffsets)
    corrections: tuple[EndCorrection, ...] = ()


def pipeline_topic_names(settings: KafkaSettings, names: Sequence[str] = ()) -> list[str]:
    return [settings.topic(n) for n in (names or [spec.name for spec in PIPELINE_TOPICS])]


async def describe_groups(admin: AIOKafkaAdminClient, groups: Sequence[str]) -> list[GroupInfo]:
    """One group per request, on every broker: aiokafka (0.14) gets a DescribeGroups with several
    groups wrong on Apache Kafka 4.4 as on the embedded broker (the second group comes back
    without a name, a third breaks the connection)."""
    infos = []
    for wanted in groups:
        for response in await admin.describe_consumer_groups([wanted]):
            for _error, group, state, _ptype, _protocol, members, *_ in response.groups:
                infos.append(GroupInfo(group or wanted, state, len(members)))
    return infos


async def _closed(closing: Awaitable[object], failures: list[BaseException]) -> None:
    try:
        await closing
    except Exception as exc:  # noqa: BLE001 - the other clients are closed first
        failures.append(exc)


@dataclass
class LagCollector:
    settings: KafkaSettings
    topics: Sequence[str] = ()  # names after the prefix; default: the pipeline's topics
    extra_groups: Sequence[str] = ()
    _admin: AIOKafkaAdminClient | None = None
    _reader: AIOKafkaConsumer | None = None
    _group_clients: dict[str, AIOKafkaConsumer] = field(default_factory=dict)
    _stamps: dict[tuple[TopicPartition, int], int] = field(default_factory=dict)

    async def start(self) -> None:
        """Start the clients; if one cannot start, every client is closed again before the
        error goes on (a caller whose start failed has nothing to close)."""
        try:
            self._admin = new_admin(self.settings)
            await self._admin.start()
            self._reader = new_consumer(self.settings, group_id=None, enable_auto_commit=False)
            await self._reader.start()
        except BaseException:
            await self.close()
            raise

    @property
    def admin(self) -> AIOKafkaAdminClient:
        if self._admin is None:
            raise OpsError("LagCollector.start() was not called")
        return self._admin

    @property
    def reader(self) -> AIOKafkaConsumer:
        if self._reader is None:
            raise OpsError("LagCollector.start() was not called")
        return self._reader

    async def close(self) -> None:
        """Close every client, each even if another one's close fails (the first error is
        raised afterwards)."""
        consumers = [*self._group_clients.values(), self._reader]
        self._group_clients.clear()
        self._reader = None
        admin, self._admin = self._admin, None
        failures: list[BaseException] = []
        # one step for the consumers' own tasks first: aiokafka 0.14's stop() of a group-less
        # consumer whose coordinator task never ran raises that task's CancelledError half-way,
        # before it closes its fetcher and connections
        await asyncio.sleep(0)
        for client in consumers:
            if client is not None:
                await _closed(client.stop(), failures)
        if admin is not None:
            await _closed(admin.close(), failures)
        if failures:
            raise failures[0]

    async def partitions(self) -> list[TopicPartition]:
        wanted = set(pipeline_topic_names(self.settings, self.topics))
        cluster = await self.reader._client.fetch_all_metadata()  # fresh: topics come and go
        tps = []
        for topic in sorted(wanted & set(cluster.topics())):
            parts = cluster.partitions_for_topic(topic) or set()
            tps += [TopicPartition(topic, p) for p in sorted(parts)]
        return tps

    async def group_client(self, group: str) -> AIOKafkaConsumer:
        client = self._group_clients.get(group)
        if client is None:
            client = new_consumer(self.settings, group_id=group, enable_auto_commit=False)
            self._group_clients[group] = client  # closed by close() even if start() fails
            await client.start()
        return client

    async def commits(self, group: str, tps: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        if self.settings.full_protocol:
            answer = await self.admin.list_consumer_group_offsets(group, partitions=list(tps))
            return {
                tp: meta.offset for tp, meta in answer.items() if tp in tps and meta.offset >= 0
            }
        client = await self.group_client(group)
        values = await asyncio.gather(*(client.committed(tp) for tp in tps))
        return {tp: v for tp, v in zip(tps, values, strict=True) if v is not None}

    async def groups(self) -> list[str]:
        listed = [g for g, _protocol in await self.admin.list_consumer_groups()]
        groups = set(listed) | set(self.extra_groups)
        for gone in set(self._group_clients) - groups:
            await self._group_clients.pop(gone).stop()
        return sorted(groups)

    async def collect(self) -> Snapshot:
        tps = await self.partitions()
        reported = await self.reader.end_offsets(tps) if tps else {}
        commits = {g: await self.commits(g, tps) for g in await self.groups()}
        commits = {g: c for g, c in commits.items() if c or g in self.extra_groups}
        watermarks = (
            {} if self.settings.full_protocol else await high_watermarks(self.reader, reported)
        )
        ends, corrections = true_ends(reported, watermarks, commits.values())
        stamps = await self.oldest_stamps(commits, ends)
        now_ms = int(time.time() * 1000)
        rows = tuple(
            partition_lag(
                g,
                tp.topic,
                tp.partition,
                c.get(tp),
                ends[tp],
                stamps.get((tp, c[tp])) if tp in c else None,
                now_ms,
            )
            for g, c in sorted(commits.items())
            for tp in tps
            if tp in c
        )
        infos = tuple(await describe_groups(self.admin, sorted(commits)))
        topic_ends = tuple((tp.topic, tp.partition, ends[tp]) for tp in tps)
        return Snapshot(now_ms, rows, infos, topic_ends, tuple(corrections))

    async def oldest_stamps(
        self,
        commits: dict[str, dict[TopicPartition, int]],
        ends: dict[TopicPartition, int],
    ) -> dict[tuple[TopicPartition, int], int]:
        """The time of the record at each committed offset that has lag (cached per offset)."""
        wanted = {(tp, off) for c in commits.values() for tp, off in c.items() if off < ends[tp]}
        todo = sorted(wanted - set(self._stamps), key=lambda k: (k[0].topic, k[0][1], k[1]))
        while todo:
            batch: dict[TopicPartition, int] = {}
            for tp, off in todo:
                batch.setdefault(tp, off)  # one offset per partition per fetch round
            for tp, stamp in (await record_timestamps(self.reader, batch)).items():
                self._stamps[(tp, batch[tp])] = stamp
            todo = [(tp, off) for tp, off in todo if batch.get(tp) != off]
        self._stamps = {k: v for k, v in self._stamps.items() if k in wanted}
        return dict(self._stamps)
