from __future__ import annotations

import asyncio

import pytest
from aiokafka.producer.message_accumulator import BatchBuilder

from hookstream.errors import BrokerUnavailable
from hookstream.kafka import CachedPartitioner
from ingress.batcher import OpenBatch, Waiter, settle


def builder(max_bytes: int = 16_384) -> BatchBuilder:
    return BatchBuilder(max_bytes, 0)


async def test_a_request_is_done_when_all_its_batches_are_acknowledged() -> None:
    loop = asyncio.get_running_loop()
    waiter = Waiter(loop.create_future())
    first, second = OpenBatch(builder()), OpenBatch(builder())
    assert first.add(b"k1", b"v", waiter) and first.add(b"k1", b"v2", waiter)
    assert second.add(b"k2", b"v", waiter)
    assert waiter.remaining == 2 and first.waiters == [waiter]
    acked: asyncio.Future[None] = loop.create_future()
    acked.set_result(None)
    settle(first.waiters, acked)
    assert not waiter.future.done()
    settle(second.waiters, acked)
    assert waiter.future.done() and waiter.future.result() is None


async def test_a_failed_batch_fails_every_request_in_it_with_a_503_error() -> None:
    loop = asyncio.get_running_loop()
    waiters = [Waiter(loop.create_future()) for _ in range(3)]
    batch = OpenBatch(builder())
    for index, waiter in enumerate(waiters):
        batch.add(f"k{index}".encode(), b"v", waiter)
    failed: asyncio.Future[None] = loop.create_future()
    failed.set_exception(RuntimeError("leader not available"))
    settle(batch.waiters, failed)
    for waiter in waiters:
        with pytest.raises(BrokerUnavailable, match="leader not available"):
            waiter.future.result()


async def test_a_full_batch_refuses_the_record() -> None:
    batch = OpenBatch(builder(max_bytes=200))
    waiter = Waiter(asyncio.get_running_loop().create_future())
    added = [batch.add(b"k", b"x" * 60, waiter) for _ in range(5)]
    assert added[0] and not all(added)
    assert waiter.remaining == 1


def test_cached_partitioner_agrees_with_kafkas_default_partitioner() -> None:
    from aiokafka.partitioner import DefaultPartitioner

    cached, partitions = CachedPartitioner(max_keys=10), list(range(8))
    keys = [f"1001:u{i}".encode() for i in range(50)]
    for key in keys + keys:
        assert cached(key, partitions, partitions) == DefaultPartitioner()(
            key, partitions, partitions
        )


def test_cached_partitioner_spreads_unkeyed_records_like_kafka() -> None:
    cached = CachedPartitioner()
    chosen = {cached(None, [0, 1, 2, 3], [0, 1, 2, 3]) for _ in range(200)}
    assert chosen == {0, 1, 2, 3}
    assert {cached(None, [0, 1, 2, 3], [2]) for _ in range(20)} == {2}  # only available ones
