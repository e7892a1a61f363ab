"""For consumers honoring bounded replays: load the group's gate at start, filter each batch.

    gate = await load_gate(settings.kafka, group_id)
    for tp, records in (await consumer.getmany()).items():
        for record in admit(consumer, gate, tp, records):
            handle(record)
"""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from hookstream.ops.bounds import StopGate
from hookstream.ops.replay_exec import load_plan
from hookstream.settings import KafkaSettings


async def load_gate(settings: KafkaSettings, group: str) -> StopGate:
    return StopGate.of(await load_plan(settings, group))


def admit(consumer: AIOKafkaConsumer, gate: StopGate, tp: TopicPartition,
          records: Sequence[ConsumerRecord]) -> list[ConsumerRecord]:
    """The records of this batch to process; at the bound, skip ahead or pause the partition."""
    kept: list[ConsumerRecord] = []
    for record in records:
        decision = gate.decide(tp.topic, tp.partition, record.offset)
        if decision.process:
            kept.append(record)
            continue
        if decision.seek_to is not None:
            consumer.seek(tp, decision.seek_to)
        if decision.pause:
            consumer.pause(tp)
        break
    return kept
