"""What the bench reads from the broker and the sandbox while and after the load runs, in
process (no `hookstream` child per reading): consumer-group lag in messages (librdkafka's admin
client: committed offsets against end offsets), the event ids on `inbound`, and the replies the
Send API sandbox accepted counted per command (the sender tags each Messenger message with
`hookstream:<command_id>:<index>` metadata)."""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from bench.e2e.sampler import Periodic

_quiet = logging.getLogger("bench.e2e.kafka")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


def group_lag(
    committed: Mapping[tuple[str, int], int | None], ends: Mapping[tuple[str, int], int]
) -> int:
    """Messages behind over the partitions a group committed on (pure; none committed: 0)."""
    return sum(
        max(0, ends.get(tp, 0) - offset) for tp, offset in committed.items() if offset is not None
    )


# The topics whose lag is the pipeline's (as `hookstream lag`): not changelogs, not the ledger
# (read once at a start), which a group may have committed on once.
LAG_TOPICS = ("inbound", "outbound", "analytics", "dlq")


class KafkaProbe:
    def __init__(self, bootstrap: str, prefix: str) -> None:
        from confluent_kafka.admin import AdminClient

        self.bootstrap, self.prefix = bootstrap, prefix
        config: dict[str, Any] = {"bootstrap.servers": bootstrap, "logger": _quiet}
        self.admin: Any = AdminClient(config)

    def groups(self) -> list[str]:
        listed = self.admin.list_consumer_groups(request_timeout=10).result()
        return sorted(g.group_id for g in listed.valid if g.group_id.startswith(self.prefix))

    def lag(self) -> dict[str, int]:
        """Messages behind per consumer group of the stack (its topic prefix) on LAG_TOPICS."""
        topics = {f"{self.prefix}{name}" for name in LAG_TOPICS}
        from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
        from confluent_kafka.admin import OffsetSpec  # type: ignore[attr-defined]

        latest: Any = OffsetSpec.latest

        committed: dict[str, dict[tuple[str, int], int | None]] = {}
        for group in self.groups():  # one group per request
            future = self.admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])
            answer = future[group].result()
            committed[group] = {
                (tp.topic, tp.partition): (tp.offset if tp.offset >= 0 else None)
                for tp in answer.topic_partitions
                if tp.topic in topics
            }
        wanted = {tp for offsets in committed.values() for tp in offsets}
        ends: dict[tuple[str, int], int] = {}
        if wanted:
            request = {TopicPartition(t, p): latest() for t, p in wanted}
            answers: dict[Any, Any] = self.admin.list_offsets(request, request_timeout=10)
            for tp, answer in answers.items():
                ends[(tp.topic, tp.partition)] = answer.result().offset
        return {group: group_lag(offsets, ends) for group, offsets in committed.items()}

    def event_ids(self, topic: str) -> Counter[str]:
        """Every event id on `topic` (a redelivered webhook's events are there more than once)."""
        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

        config: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap,
            "group.id": f"bench-reader-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "logger": _quiet,
        }
        consumer: Any = Consumer(config)
        found: Counter[str] = Counter()
        try:
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            ends = {
                p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in partitions
            }
            pending = {p for p, end in ends.items() if end > 0}
            consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in pending])
            while pending:
                for record in consumer.consume(10_000, timeout=5.0):
                    if record.error():
                        continue
                    found[_event_id(record.value())] += 1
                    if record.offset() + 1 >= ends[record.partition()]:
                        pending.discard(record.partition())
        finally:
            consumer.close()
        return found


def _event_id(value: bytes | None) -> str:
    try:
        return str(orjson.loads(value or b"{}").get("event_id", ""))
    except orjson.JSONDecodeError:
        return ""


def tag_of(metadata: Any) -> str | None:
    """`<command_id>:<index>` of a message the sender tagged, else None (pure)."""
    if not isinstance(metadata, str) or not metadata.startswith("hookstream:"):
        return None
    return metadata.removeprefix("hookstream:")


def duplicates(counts: Mapping[str, int]) -> dict[str, int]:
    """Tags the sandbox accepted more than once (pure)."""
    return {tag: n for tag, n in counts.items() if n > 1}


@dataclass
class SandboxCounter(Periodic):
    """Follows the sandbox's accepted messages (`/sandbox/messages?since=`) in a thread, so its
    bounded buffer never drops one before it was counted; counts per command tag."""

    base_url: str = ""
    counts: Counter[str] = field(default_factory=Counter)
    untagged: int = 0
    seen_seq: int = 0

    def tick(self) -> None:
        try:
            with httpx.Client(timeout=30.0) as client:
                answer = client.get(
                    f"{self.base_url}/sandbox/messages", params={"since": self.seen_seq}
                )
            self.add(orjson.loads(answer.content).get("messages", []))
        except (httpx.HTTPError, ValueError):
            return  # read again at the next tick

    def add(self, messages: Iterable[Mapping[str, Any]]) -> None:
        for message in messages:
            self.seen_seq = max(self.seen_seq, int(message.get("seq", 0)))
            if not message.get("message_id"):
                continue  # a sender action (typing on), not a message
            tag = tag_of(message.get("metadata"))
            if tag is None:
                self.untagged += 1
            else:
                self.counts[tag] += 1

    def figures(self) -> dict[str, Any]:
        twice = duplicates(self.counts)
        return {
            "replies_delivered_distinct": len(self.counts),
            "messages_accepted": sum(self.counts.values()) + self.untagged,
            "untagged": self.untagged,
            "replies_sent_twice": len(twice),
            "sent_twice_examples": sorted(twice)[:5],
        }
