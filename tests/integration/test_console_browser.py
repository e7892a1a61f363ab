"""The console in a real browser (Debian's chromium driven by Playwright) against the real
pipeline: a message goes in and its timeline shows every step; its reply, dead-lettered by a
Meta error, is redriven from the page and arrives. Screenshots of each page are written to
$HOOKSTREAM_TEST_OUTPUT (default .hookstream/test-output)/console."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from clickhouse_connect.driver.client import Client
from starlette.applications import Starlette

from hookstream.console.app import Console
from hookstream.console.auth import Access
from hookstream.console.sources import ConsoleSources
from hookstream.runtime.settings import ConsoleSettings, KafkaSettings, Settings
from ingress.app import create_app
from ingress.signature import sign
from tests.conftest import TEST_API_KEY, TEST_SECRET, settings_for
from tests.support.http import serve
from tests.support.processors_rig import Service, service_env, text_event, webhook_body
from tests.support.sender_rig import (
    make_pages,
    running_sender,
    sandbox_and_url,
    sender_settings,
    sent_messages,
    set_faults,
    wait_for,
)
from tests.support.sink_rig import poll, running_sink, scalar, sink_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MID = "m-console-1"


def output_dir() -> Path:
    base = Path(os.environ.get("HOOKSTREAM_TEST_OUTPUT", ".hookstream/test-output"))
    path = base / "console"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def console_app(settings: Settings, sources: ConsoleSources | None = None) -> Starlette:
    sources = sources or ConsoleSources(settings)
    console = Console(sources, Access(TEST_API_KEY, loopback=True))
    return Starlette(routes=console.routes())


async def test_a_message_traced_and_its_dead_letter_redriven_in_a_browser(
    kafka_settings: KafkaSettings,
    chdb_url: str,
    ch: Client,
    tmp_path: Path,
    browser: object,
) -> None:
    shots = output_dir()
    env = service_env(kafka_settings, tmp_path)
    pages = make_pages()
    base = sink_settings(kafka_settings, chdb_url)
    console_settings = replace(
        base,
        sink=replace(base.sink, query_url="http://127.0.0.1:9"),  # no sink HTTP: read chDB
        console=ConsoleSettings(sender_url="http://127.0.0.1:9", refresh_s=3600),
    )
    processors = Service("processors", env, tmp_path).start()
    sources = ConsoleSources(console_settings)
    async with (
        sandbox_and_url(pages) as (sandbox, sandbox_url),
        running_sink(base),
        running_sender(sender_settings(Settings(kafka=kafka_settings), sandbox_url), pages),
        serve(create_app(settings_for(kafka_settings))) as ingress_url,
        serve(console_app(console_settings, sources)) as console_url,
    ):
        try:
            await processors.ready()
            # Meta refuses the first reply permanently (100/2018001 "no matching user").
            await set_faults(sandbox_url, [{"page_id": "1001", "code": 100,
                                            "subcode": 2018001, "count": 1}])  # fmt: skip
            body = webhook_body([text_event("u1", 1, "what price?", mid=MID)])
            headers = {"x-hub-signature-256": sign(body, TEST_SECRET),
                       "content-type": "application/json"}  # fmt: skip
            async with httpx.AsyncClient() as client:
                for _ in range(2):  # Meta sends it, then again (a redelivery, dropped)
                    answer = await client.post(
                        f"{ingress_url}/webhook", content=body, headers=headers
                    )
                    assert answer.status_code == 200
            dead_sql = "SELECT count() FROM hookstream.dead_letters"
            await poll(lambda: scalar(ch, dead_sql) >= 1, 120, "the reply dead-lettered")
            dups = "SELECT count() FROM hookstream.duplicates"
            await poll(lambda: scalar(ch, dups) == 1, 60, "the redelivery recorded")
            await set_faults(sandbox_url, [])
            page = await browser.new_page()  # type: ignore[attr-defined]

            await page.goto(f"{console_url}/search?q={MID}")
            timeline = await page.inner_text("#timeline")
            steps = ("received", "redelivered", "processed", "planned", "delivery", "dead_letter")
            for step in steps:
                assert step in timeline, timeline
            assert "Meta error 100/2018001" in timeline
            assert "dropped as a duplicate" in timeline
            await page.screenshot(path=str(shots / "trace-before-redrive.png"), full_page=True)

            await sources.refresh_lag()  # what the console's background task does
            await page.goto(f"{console_url}/")
            assert "1001" in await page.inner_text("#pages")
            groups = await page.inner_text("#groups")
            assert "sender-" in groups and "outbound" in groups, groups
            await page.screenshot(path=str(shots / "overview.png"), full_page=True)

            await page.goto(f"{console_url}/dead-letters")
            assert "Sign in" in await page.inner_text("#letters + p")  # no action unsigned
            await page.goto(f"{console_url}/login")
            await page.fill("input[name=key]", TEST_API_KEY)
            await page.click("#sign-in")
            await page.goto(f"{console_url}/dead-letters")
            await page.screenshot(path=str(shots / "dead-letters.png"), full_page=True)
            boxes = page.locator("#letters input[type=checkbox]")
            assert await boxes.count() == 1
            await boxes.first.check()
            await page.click("#redrive")
            assert "Sent 1 record(s)" in await page.inner_text("#outcome")
            await page.screenshot(path=str(shots / "redriven.png"), full_page=True)

            await wait_for(lambda: len(sent_messages(sandbox)) == 1, "the redriven reply", 60)
            delivered = "SELECT count() FROM hookstream.deliveries WHERE status = 'delivered'"
            await poll(lambda: scalar(ch, delivered) == 1, 60, "delivery counted")
            await page.goto(f"{console_url}/search?q={MID}")
            assert "delivered after" in await page.inner_text("#timeline")
            await page.screenshot(path=str(shots / "trace-after-redrive.png"), full_page=True)
        finally:
            processors.stop()
            await sources.close()
    assert [m["text"] for m in sent_messages(sandbox)] == ["Plans start at 9 EUR."]
    assert sorted(p.name for p in shots.iterdir()) == [
        "dead-letters.png",
        "overview.png",
        "redriven.png",
        "trace-after-redrive.png",
        "trace-before-redrive.png",
    ]


async def test_actions_need_the_key_and_a_same_origin_form(
    kafka_settings: KafkaSettings, chdb_url: str
) -> None:
    settings = sink_settings(kafka_settings, chdb_url)
    async with serve(console_app(settings)) as url, httpx.AsyncClient(base_url=url) as client:
        refused = await client.post("/dead-letters/redrive", data={"id": "inbound:0:1"})
        assert refused.status_code == 401 and "Sign in first" in refused.text
        login = await client.post("/login", data={"key": "wrong"})
        assert login.status_code == 401 and "not the API key" in login.text
        login = await client.post("/login", data={"key": TEST_API_KEY})
        assert login.status_code == 303
        cross_site = await client.post(
            "/dead-letters/redrive",
            data={"id": "inbound:0:1", "csrf_token": "forged"},
            headers={"origin": "http://evil.example"},
        )
        assert cross_site.status_code == 403 and "another site" in cross_site.text
        bad_search = await client.get("/search", params={"q": "a\nb"})
        assert bad_search.status_code == 400 and "a Meta message id" in bad_search.text
        unknown = await client.get("/search", params={"q": f"m-none-{time.time_ns()}"})
        assert unknown.status_code == 404 and "no such message in the last 7 days" in unknown.text


async def test_beyond_loopback_every_page_needs_the_key(
    kafka_settings: KafkaSettings, chdb_url: str
) -> None:
    settings = sink_settings(kafka_settings, chdb_url)
    console = Console(ConsoleSources(settings), Access(TEST_API_KEY, loopback=False))
    async with serve(Starlette(routes=console.routes())) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            closed = await client.get("/search")
            assert closed.status_code == 401 and "Sign in to read" in closed.text
            headers = {"authorization": f"Bearer {TEST_API_KEY}"}
            assert (await client.get("/search", headers=headers)).status_code == 200
