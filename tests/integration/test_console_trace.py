"""The console's timeline and redrive on the real pipeline, over HTTP (the pages are server
rendered): Meta's redelivery of a message shows as a `redelivered` step, a message nobody
answers says why, and a redrive keeps the dead letter's trace and refuses a truncated one."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import httpx
import orjson
import pytest
from clickhouse_connect.driver.client import Client
from starlette.applications import Starlette

from hookstream.console.app import Console
from hookstream.console.auth import Access
from hookstream.console.sources import ConsoleSources
from hookstream.ops.dlq_topic import read_all
from hookstream.runtime.kafka import new_producer
from hookstream.runtime.settings import ConsoleSettings, KafkaSettings, Settings
from ingress.app import create_app
from ingress.signature import sign
from schemas.dlq import dead_letter_for
from tests.conftest import TEST_API_KEY, TEST_SECRET, settings_for
from tests.support.http import serve
from tests.support.processors_rig import Service, service_env, text_event, webhook_body
from tests.support.sink_rig import poll, running_sink, scalar, sink_settings

pytestmark = pytest.mark.integration

TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def console_app(settings: Settings) -> Starlette:
    console = Console(ConsoleSources(settings), Access(TEST_API_KEY, loopback=True))
    return Starlette(routes=console.routes())


def console_settings(kafka: KafkaSettings, chdb_url: str) -> tuple[Settings, Settings]:
    base = sink_settings(kafka, chdb_url)
    reader = replace(
        base,
        sink=replace(base.sink, query_url="http://127.0.0.1:9"),  # no sink HTTP: read chDB
        console=ConsoleSettings(sender_url="http://127.0.0.1:9", refresh_s=3600),
    )
    return base, reader


def unknown_page_body(mid: str) -> bytes:
    event = {**text_event("u2", 1, mid=mid), "recipient": {"id": "9999"}}
    entry = {"id": "9999", "time": int(time.time() * 1000), "messaging": [event]}
    return orjson.dumps({"object": "page", "entry": [entry]})


async def test_a_redelivery_and_a_silent_message_in_the_timeline(
    kafka_settings: KafkaSettings, chdb_url: str, ch: Client, tmp_path: Path
) -> None:
    mid, silent_mid = "m-redelivered-1", "m-silent-1"
    base, reader = console_settings(kafka_settings, chdb_url)
    processors = Service("processors", service_env(kafka_settings, tmp_path), tmp_path).start()
    body = webhook_body([text_event("u1", 1, "what price?", mid=mid)])
    async with (
        running_sink(base),
        serve(create_app(settings_for(kafka_settings))) as ingress_url,
        serve(console_app(reader)) as console_url,
    ):
        try:
            await processors.ready()
            async with httpx.AsyncClient() as client:
                # Meta sends the message, then again (its retry), and one for a page we lack
                for content in (body, body, unknown_page_body(silent_mid)):
                    headers = {"x-hub-signature-256": sign(content, TEST_SECRET),
                               "content-type": "application/json"}  # fmt: skip
                    answer = await client.post(
                        f"{ingress_url}/webhook", content=content, headers=headers
                    )
                    assert answer.status_code == 200, answer.text
            dups = "SELECT count() FROM hookstream.duplicates WHERE page_id = '1001'"
            await poll(lambda: scalar(ch, dups) == 1, 120, "the redelivery's fact")
            silent = "SELECT count() FROM hookstream.messages WHERE page_id = '9999'"
            await poll(lambda: scalar(ch, silent) == 1, 60, "the unanswered message's fact")
            async with httpx.AsyncClient(base_url=console_url) as client:
                page = await client.get("/search", params={"q": mid})
                assert page.status_code == 200
                assert "step-redelivered" in page.text
                received = page.text.split('class="step-received"')[1].split("</tr>")[0]
                assert "; request " in received and ".inbound partition " in received
                assert f"Meta sent message:{mid} again (copy 2" in page.text
                assert f"message:{mid}: Meta sent it 2 times" in page.text
                quiet = await client.get("/search", params={"q": silent_mid})
                assert quiet.status_code == 200
                assert "no reply planned (the page is not in the pages file)" in quiet.text
        finally:
            processors.stop()
    reason = "SELECT no_reply FROM hookstream.messages WHERE page_id = '9999'"
    assert ch.query(reason).result_rows == [("page_not_configured",)]


async def test_the_console_redrive_keeps_the_trace_and_refuses_a_truncated_original(
    kafka_settings: KafkaSettings, chdb_url: str
) -> None:
    inbound = kafka_settings.topic("inbound")
    fields = dict(
        topic=inbound, partition=0, key=b"1001:u9", reason="invalid_envelope", error="bad",
        service="processors", failed_at_ms=int(time.time() * 1000), page_id="1001",
    )  # fmt: skip
    whole = dead_letter_for(offset=80, value=b'{"whole":1}', **fields)  # type: ignore[arg-type]
    cut = dead_letter_for(offset=81, value=b"y" * 64, max_original_bytes=8, **fields)  # type: ignore[arg-type]
    producer = new_producer(kafka_settings, linger_ms=0)
    await producer.start()
    try:
        for letter in (whole, cut):
            await producer.send_and_wait(
                kafka_settings.topic("dlq"), letter.encode(), key=b"1001:u9",
                headers=[("traceparent", TRACE.encode())],
            )  # fmt: skip
    finally:
        await producer.stop()
    _, reader = console_settings(kafka_settings, chdb_url)
    bearer = {"authorization": f"Bearer {TEST_API_KEY}"}
    async with (
        serve(console_app(reader)) as url,
        httpx.AsyncClient(base_url=url, timeout=60) as client,
    ):
        shown = await client.get(f"/dead-letters/{cut.dead_letter_id}")
        assert "Cannot be redriven" in shown.text and 'id="redrive"' not in shown.text
        listing = await client.get("/dead-letters")
        assert f'value="{whole.dead_letter_id}"' in listing.text
        assert f'value="{cut.dead_letter_id}"' not in listing.text  # no checkbox to tick
        done = await client.post(
            "/dead-letters/redrive",
            data={"id": [whole.dead_letter_id, cut.dead_letter_id]},
            headers=bearer,
        )
        assert done.status_code == 200
        assert "Sent 1 record(s)" in done.text
        assert f"Refused: {cut.dead_letter_id} not redriven: its original was too large" in (
            done.text
        )
    [sent] = await read_all(kafka_settings, inbound)
    assert sent.value == b'{"whole":1}'
    assert dict(sent.headers)["traceparent"] == TRACE.encode()
