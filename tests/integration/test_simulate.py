from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from hookstream.cli import main
from hookstream.embedded import stack_file
from hookstream.runtime.settings import Settings
from hookstream.simulate.runner import run_load
from hookstream.simulate.traffic import TrafficModel
from ingress.app import create_app
from schemas.envelope import decode_envelope
from tests.conftest import TEST_SECRET
from tests.support.http import serve
from tests.support.kafka import read_topic

pytestmark = [pytest.mark.integration, pytest.mark.embedded_default]


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


async def test_simulate_beside_the_stack_posts_to_its_ingress_and_pages(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No URL, no Kafka variable: the stack file gives the ingress and the pages file; the
    pages simulated are the file's; two runs are two different sets of messages."""
    pages = tmp_path / "pages.yaml"
    pages.write_text(
        'pages:\n  "1001": {fallback: {text: "Thanks"}}\n'
        '  "17841400000000001": {platform: instagram, fallback: {text: "Hi"}}\n'
    )
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("KAFKA_", "HOOKSTREAM_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOOKSTREAM_APP_SECRETS", TEST_SECRET)
    async with serve(create_app(settings)) as url:
        stack_file.write(
            tmp_path / ".hookstream",
            bootstrap_servers=settings.kafka.bootstrap_servers,
            broker="embedded",
            idempotence=False,
            clickhouse_url="chdb://./.hookstream/analytics",
            topic_prefix=settings.kafka.topic_prefix,
            pages_file=pages,
            ports={"ingress": int(url.rsplit(":", 1)[1])},
        )
        argv = ["simulate", "--rate", "20", "--duration", "0.5", "--duplicates", "0"]
        assert await asyncio.to_thread(main, argv) == 0
        first = capsys.readouterr().out
        assert await asyncio.to_thread(main, argv) == 0
        second = capsys.readouterr().out
    for out in (first, second):
        assert f"simulated {url}/webhook, pages 1001, 17841400000000001" in out
        assert f"unanswered: none (every page is in {pages})" in out
        assert "repeat this run with --seed" in out and "{" not in out
    assert first.split("--seed ")[1] != second.split("--seed ")[1]
    records = await read_topic(settings.kafka, "inbound", idle_s=1.0)
    envelopes = [decode_envelope(r.value or b"") for r in records]
    assert {e.page_id for e in envelopes} <= {"1001", "17841400000000001"}
    ids = [e.event_id for e in envelopes]
    assert len(ids) == len(set(ids))  # the second run is new traffic, not redeliveries
