from __future__ import annotations

import pytest

from hookstream.runtime.settings import Settings
from hookstream.simulate.runner import run_load
from hookstream.simulate.traffic import TrafficModel
from ingress.app import create_app
from tests.conftest import TEST_SECRET
from tests.support.http import serve
from tests.support.kafka import read_topic

pytestmark = pytest.mark.integration


async def test_simulated_traffic_is_accepted_and_every_event_lands(settings: Settings) -> None:
    model = TrafficModel(pages=4, users=40, duplicate_rate=0.1, seed=11)
    async with serve(create_app(settings)) as url:
        result = await run_load(
            f"{url}/webhook",
            TEST_SECRET,
            model,
            rate=60,
            duration_s=1.5,
            concurrency=8,
            progress=False,
        )
    summary = result.summary()
    assert summary["sent"] == summary["accepted"] == 90
    assert summary["latency_ms"]["p99"] > 0
    records = await read_topic(settings.kafka, "inbound", expected=result.events)
    assert len(records) == result.events  # redeliveries are written too: processors dedupe


async def test_wrong_secret_is_counted_as_rejected(settings: Settings) -> None:
    async with serve(create_app(settings)) as url:
        result = await run_load(
            f"{url}/webhook",
            "wrong",
            TrafficModel(),
            rate=20,
            duration_s=0.5,
            concurrency=4,
            progress=False,
        )
    assert result.summary()["rejected"] == result.sent == 10
