"""Broker outages: 503 + Retry-After, /readyz follows the broker, no acked event is lost."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from hookstream.embedded.tansu import EmbeddedBroker
from hookstream.runtime.kafka import ensure_topics
from ingress.app import create_app
from ingress.signature import sign
from schemas.envelope import decode_envelope
from tests.conftest import TEST_SECRET, kafka_settings_for, settings_for
from tests.support.http import serve, wait_until
from tests.support.kafka import read_topic
from tests.support.meta_samples import one_message_body

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def own_broker(tmp_path) -> Iterator[EmbeddedBroker]:  # type: ignore[no-untyped-def]
    with EmbeddedBroker(log_path=tmp_path / "broker.log") as broker:
        yield broker


def body_for(mid: str) -> bytes:
    return one_message_body(mid)


async def post(client: httpx.AsyncClient, mid: str) -> httpx.Response:
    body = body_for(mid)
    headers = {"content-type": "application/json", "x-hub-signature-256": sign(body, TEST_SECRET)}
    return await client.post("/webhook", content=body, headers=headers)


async def ready_status(client: httpx.AsyncClient) -> int:
    return (await client.get("/readyz")).status_code


async def test_paused_broker_gives_503_then_recovers_without_losing_acked_events(
    own_broker: EmbeddedBroker,
) -> None:
    kafka = kafka_settings_for(own_broker)
    await ensure_topics(kafka)
    settings = settings_for(kafka, ack_deadline_s=1.0)
    acked: list[str] = []
    async with (
        serve(create_app(settings)) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as client,
    ):
        await wait_until(lambda: _is(client, 200))
        for i in range(5):
            if (await post(client, f"before-{i}")).status_code == 200:
                acked.append(f"before-{i}")
        own_broker.pause()
        try:
            started = time.monotonic()
            during = await post(client, "during-0")
            elapsed = time.monotonic() - started
            assert during.status_code == 503 and during.headers["retry-after"] == "5"
            assert during.json()["error"] == "broker_unavailable"
            assert elapsed < 2.5, f"503 took {elapsed:.1f}s, the deadline is 1s"
            await wait_until(lambda: _is(client, 503))
        finally:
            own_broker.resume()
        await wait_until(lambda: _is(client, 200), timeout_s=30)
        for i in range(5):
            response = await post(client, f"after-{i}")
            assert response.status_code == 200
            acked.append(f"after-{i}")
    records = await read_topic(kafka, "inbound", idle_s=2.0)
    mids = {decode_envelope(r.value).raw["message"]["mid"] for r in records}
    assert set(acked) <= mids, f"acknowledged but missing: {set(acked) - mids}"
    assert len(acked) == 10


async def test_killed_broker_makes_readyz_fail_and_a_restart_brings_it_back(
    own_broker: EmbeddedBroker,
) -> None:
    kafka = kafka_settings_for(own_broker)
    await ensure_topics(kafka)
    settings = settings_for(kafka, ack_deadline_s=1.0)
    async with (
        serve(create_app(settings)) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as client,
    ):
        await wait_until(lambda: _is(client, 200))
        own_broker.stop()
        await wait_until(lambda: _is(client, 503))
        refused = await post(client, "while-down")
        assert refused.status_code == 503 and "retry-after" in refused.headers
        own_broker.start()  # same port; memory storage starts empty: recreate the topics
        await ensure_topics(kafka)
        await wait_until(lambda: _is(client, 200), timeout_s=30)
        await wait_until(lambda: _posts_ok(client), timeout_s=30)
    records = await read_topic(kafka, "inbound", idle_s=1.5)
    assert "back-up" in {decode_envelope(r.value).raw["message"]["mid"] for r in records}


async def _is(client: httpx.AsyncClient, status: int) -> bool:
    return await ready_status(client) == status


async def _posts_ok(client: httpx.AsyncClient) -> bool:
    await asyncio.sleep(0.2)
    return (await post(client, "back-up")).status_code == 200
