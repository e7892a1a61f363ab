"""`hookstream pages subscribe` / `status` against the sandbox over real HTTP (Meta's answers:
expired token 190/463, missing permission, unsubscribed page, "Require App Secret"), and the
sender's calls carrying appsecret_proof while the sandbox requires it."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from clickhouse_connect.driver.client import Client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from hookstream.cli.pages import status_command, subscribe_command
from hookstream.embedded.processes import free_port
from hookstream.ops.pages_health import INSTAGRAM_LOGIN_FIELDS, MESSENGER_FIELDS
from hookstream.runtime.metrics import new_registry
from hookstream.runtime.pages import appsecret_proof, load_pages
from hookstream.runtime.service import ServiceHttp, run_service
from hookstream.runtime.settings import KafkaSettings, Settings
from hookstream.sandbox.app import Sandbox, sandbox_tokens
from hookstream.sandbox.graph import PROOF_INVALID, PROOF_MISSING
from hookstream.sandbox.server import serving
from senders.errors import PermanentSendError
from senders.graph import GraphClient, page_routes
from sinks.api import overview_route
from sinks.service import AnalyticsSink
from tests.support.http import serve
from tests.support.sink_rig import (
    FAST_GROUP,
    encoded,
    message,
    poll,
    produce,
    scalar,
    sink_settings,
)

pytestmark = pytest.mark.integration

SECRET = "s3cret-app"
PAGES = """
apps:
  main: {app_id: "100000000000001", app_secret: env:TEST_APP_SECRET}
  other: {app_id: "100000000000002", app_secret: wrong-secret}
pages:
  "1001": {platform: messenger, app: main, access_token: tok-1001}
  "1002": {platform: messenger, app: main, access_token: tok-1002}
  "1003": {platform: messenger, app: main, access_token: tok-1003}
  "1004": {platform: messenger, app: other, access_token: tok-1004}
  "17841400000000009":
    platform: instagram
    login: instagram
    app: main
    access_token: tok-ig
    aliases: ["9000000009"]
"""
LAST_WEBHOOK_MS = 1_764_590_000_000


@pytest.fixture
def pages_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TEST_APP_SECRET", SECRET)
    path = tmp_path / "pages.yaml"
    path.write_text(PAGES, encoding="utf-8")
    return path


@pytest.fixture
async def sandbox(pages_file: Path) -> AsyncIterator[tuple[Sandbox, str]]:
    pages = load_pages(pages_file, {"TEST_APP_SECRET": SECRET})
    tokens = {pid: page.access_token.reveal() for pid, page in pages.pages.items()}
    box = Sandbox(sandbox_tokens(tokens, []), instagram_ids=frozenset({"17841400000000009"}))
    box.graph.app_secrets = (SECRET,)
    async with serving(box) as url:
        yield box, url


def fake_sender(stopped: dict[str, int]) -> Starlette:
    async def metrics(_: Request) -> PlainTextResponse:
        lines = [
            f'hookstream_sender_page_stopped{{page_id="{p}"}} {v}.0' for p, v in stopped.items()
        ]
        return PlainTextResponse("\n".join(["# TYPE hookstream_sender_page_stopped gauge", *lines]))

    return Starlette(routes=[Route("/metrics", metrics)])


def fake_sink() -> Starlette:
    async def overview(_: Request) -> JSONResponse:
        rows = [{"page_id": "1001", "last_webhook_minute_ms": LAST_WEBHOOK_MS}]
        return JSONResponse({"pages": rows})

    return Starlette(routes=[Route("/api/overview", overview)])


def settings_for(url: str, pages_file: Path, **extra: str) -> Settings:
    return Settings.from_env(
        {
            "GRAPH_API_BASE_URL": url,
            "HOOKSTREAM_SENDER_INSTAGRAM_API_BASE_URL": url,
            "HOOKSTREAM_PAGES_FILE": str(pages_file),
            "HOOKSTREAM_APP_SECRETS": "a,b",
            "CLICKHOUSE_URL": "chdb:///nonexistent/never-opened",
            **extra,
        }
    )


async def run_cli(
    command: Any, settings: Settings, capsys: pytest.CaptureFixture[str], **args: Any
) -> tuple[int, Any]:
    namespace = argparse.Namespace(
        page_ids=args.get("page_ids", []),
        dry_run=args.get("dry_run", False),
        json=True,
        sender_url=args.get("sender_url", ""),
        sink_url=args.get("sink_url", ""),
    )
    code = await asyncio.to_thread(command, namespace, settings)
    return code, json.loads(capsys.readouterr().out)


async def test_subscribe_reports_per_page_and_is_idempotent(
    sandbox: tuple[Sandbox, str], pages_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    box, url = sandbox
    box.graph.configure(
        {"tokens": {"tok-1002": {"scopes": ["pages_messaging", "pages_show_list"]}}}
    )
    settings = settings_for(url, pages_file)

    code, dry = await run_cli(subscribe_command, settings, capsys, dry_run=True, page_ids=["1001"])
    assert code == 0 and dry["pages"][0]["action"] == "would subscribe"
    assert box.graph.subscriptions == {}  # a dry run changes nothing

    code, out = await run_cli(
        subscribe_command, settings, capsys, page_ids=["1001", "1002", "1003", "9999"]
    )
    by_page = {item["page_id"]: item for item in out["pages"]}
    assert code == 1  # not all pages succeeded
    assert by_page["1001"]["ok"] and by_page["1003"]["ok"] and by_page["1001"]["changed"]
    assert not by_page["1002"]["ok"] and "pages_manage_metadata" in by_page["1002"]["problem"]
    assert "not in" in by_page["9999"]["problem"]
    assert set(box.graph.subscriptions) == {"1001", "1003"}  # the failure did not stop the rest
    assert box.graph.subscriptions["1001"] == MESSENGER_FIELDS

    box.graph.subscriptions["1003"] = ("messages", "feed")  # a field someone else added stays
    code, again = await run_cli(subscribe_command, settings, capsys, page_ids=["1001", "1003"])
    assert code == 0
    assert [i["action"] for i in again["pages"]] == ["already subscribed", "subscribed"]
    assert "feed" in box.graph.subscriptions["1003"]
    assert set(MESSENGER_FIELDS) <= set(box.graph.subscriptions["1003"])


async def test_instagram_login_account_is_subscribed_through_me_on_the_instagram_host(
    sandbox: tuple[Sandbox, str], pages_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    box, url = sandbox
    settings = settings_for(url, pages_file)
    code, out = await run_cli(
        subscribe_command, settings, capsys, page_ids=["9000000009"]
    )  # an alias
    assert code == 0 and out["pages"][0]["page_id"] == "17841400000000009"
    assert box.graph.subscriptions["17841400000000009"] == INSTAGRAM_LOGIN_FIELDS


async def test_status_shows_expired_token_unsubscribed_page_and_stopped_page(
    sandbox: tuple[Sandbox, str], pages_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    box, url = sandbox
    box.graph.configure(
        {
            "subscriptions": {"1001": list(MESSENGER_FIELDS), "1002": list(MESSENGER_FIELDS)},
            "tokens": {"tok-1002": {"expired": True}},
        }
    )
    async with serve(fake_sender({"1001": 0, "1004": 1})) as sender, serve(fake_sink()) as sink:
        settings = settings_for(url, pages_file)
        code, out = await run_cli(
            status_command,
            settings,
            capsys,
            page_ids=["1001", "1002", "1003", "1004"],
            sender_url=sender,
            sink_url=sink,
        )
    pages = {p["page_id"]: p for p in out["pages"]}
    assert code == 1 and out["healthy"] is False
    ok = pages["1001"]
    assert ok["healthy"] and ok["subscribed"] and ok["token_valid"] and ok["token_expires_at"] == 0
    assert ok["missing_permissions"] == [] and ok["last_webhook_ms"] == LAST_WEBHOOK_MS
    assert ok["sender_stopped"] is False
    expired = pages["1002"]
    assert expired["token_valid"] is False and not expired["healthy"]
    assert any("expired (190/463)" in p for p in expired["problems"])
    unsubscribed = pages["1003"]
    assert unsubscribed["subscribed"] is False and unsubscribed["token_valid"] is True
    assert any(p.startswith("not subscribed") for p in unsubscribed["problems"])
    assert pages["1004"]["sender_stopped"] is True


async def test_status_names_a_missing_permission(
    sandbox: tuple[Sandbox, str], pages_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    box, url = sandbox
    box.graph.configure(
        {
            "subscriptions": {"1001": list(MESSENGER_FIELDS)},
            "tokens": {"tok-1001": {"scopes": ["pages_manage_metadata", "pages_show_list"]}},
        }
    )
    async with serve(fake_sink()) as sink:
        code, out = await run_cli(
            status_command,
            settings_for(url, pages_file),
            capsys,
            page_ids=["1001"],
            sender_url="http://127.0.0.1:9",
            sink_url=sink,
        )
    page = out["pages"][0]
    assert code == 1 and page["missing_permissions"] == ["pages_messaging"]
    assert page["sender_stopped"] is None and any("no sender answered" in n for n in page["notes"])


async def test_require_app_secret_cli_and_sender_calls_carry_the_proof(
    sandbox: tuple[Sandbox, str], pages_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    box, url = sandbox
    box.graph.configure(
        {"require_appsecret_proof": True, "subscriptions": {"1001": list(MESSENGER_FIELDS)}}
    )
    async with httpx.AsyncClient(base_url=url) as http:
        bare = await http.get("/v27.0/1001/subscribed_apps", params={"access_token": "tok-1001"})
        assert bare.status_code == 400 and bare.json()["error"]["message"] == PROOF_MISSING
        assert bare.json()["error"]["code"] == 100
        send = await http.post(
            "/v27.0/1001/messages",
            params={"access_token": "tok-1001"},
            json={"recipient": {"id": "u1"}, "message": {"text": "hi"}},
        )
        assert send.status_code == 400 and send.json()["error"]["message"] == PROOF_MISSING
        signed = await http.get(
            "/v27.0/1001/subscribed_apps",
            params={
                "access_token": "tok-1001",
                "appsecret_proof": appsecret_proof(SECRET, "tok-1001"),
            },
        )
        assert signed.status_code == 200 and signed.json()["data"]

    async with serve(fake_sink()) as sink:
        code, out = await run_cli(
            status_command,
            settings_for(url, pages_file),
            capsys,
            page_ids=["1001", "1004"],
            sender_url="http://127.0.0.1:9",
            sink_url=sink,
        )
    pages = {p["page_id"]: p for p in out["pages"]}
    assert code == 1  # 1004 is not healthy
    assert pages["1001"]["healthy"]  # its calls carried the proof of its app's secret
    assert any(PROOF_INVALID in p for p in pages["1004"]["problems"])  # a wrong secret: named

    settings = settings_for(url, pages_file)
    pages_config = load_pages(pages_file, {"TEST_APP_SECRET": SECRET})
    body = {"recipient": {"id": "u1"}, "messaging_type": "RESPONSE", "message": {"text": "hi"}}
    client = GraphClient(settings.sender, routes=page_routes(pages_config, settings))
    try:
        answer = await client.send("1001", "tok-1001", body)
    finally:
        await client.close()
    assert answer.success.message_id.startswith("m_sandbox_")
    unsigned = GraphClient(settings.sender)
    try:
        with pytest.raises(PermanentSendError) as rejected:
            await unsigned.send("1001", "tok-1001", body)
    finally:
        await unsigned.close()
    assert rejected.value.code == 100 and "appsecret_proof" in str(rejected.value)


def test_hookstream_sandbox_takes_require_app_secret_and_the_secrets_from_the_settings(
    pages_file: Path,
) -> None:
    from hookstream.cli.sandbox import build_sandbox

    settings = settings_for(
        "http://unused", pages_file, HOOKSTREAM_SENDER_SANDBOX_REQUIRE_PROOF="true"
    )
    box = build_sandbox(settings)
    assert box.graph.require_proof
    assert set(box.graph.app_secrets) == {"a", "b", SECRET, "wrong-secret"}
    assert box.instagram_ids == frozenset({"17841400000000009"})
    assert box.graph.proof_problem("tok-1001", appsecret_proof(SECRET, "tok-1001")) is None


async def test_last_webhook_comes_from_clickhouse_through_the_sink_and_directly(
    sandbox: tuple[Sandbox, str],
    pages_file: Path,
    kafka_settings: KafkaSettings,
    chdb_url: str,
    ch: Client,
    capsys: pytest.CaptureFixture[str],
) -> None:
    box, url = sandbox
    box.graph.configure({"subscriptions": {"1001": list(MESSENGER_FIELDS)}})
    now = int(time.time() * 1000)
    at = now - 5 * 60_000
    await produce(kafka_settings, encoded([message(i, "1001", "message", at) for i in range(3)]))
    settings = sink_settings(kafka_settings, chdb_url)
    sink = AnalyticsSink(settings, new_registry(), consumer_options=FAST_GROUP)
    port = free_port()
    http = ServiceHttp(
        "127.0.0.1",
        port,
        sink.registry,
        sink.ready,
        [overview_route(sink.with_client, "hookstream")],
    )
    service = asyncio.create_task(run_service(http, sink.run))
    cli_settings = settings_for(url, pages_file, CLICKHOUSE_URL=chdb_url)
    try:
        await poll(
            lambda: (
                scalar(ch, "SELECT count() FROM hookstream.messages WHERE page_id = '1001'") >= 3
            ),
            what="facts stored",
        )
        _, through_sink = await run_cli(
            status_command,
            cli_settings,
            capsys,
            page_ids=["1001"],
            sender_url="http://127.0.0.1:9",
            sink_url=f"http://127.0.0.1:{port}",
        )
    finally:
        service.cancel()
        await asyncio.gather(service, return_exceptions=True)
    minute = at - at % 60_000
    assert through_sink["pages"][0]["last_webhook_ms"] == minute
    _, direct = await run_cli(  # no sink any more: the command opens the engine itself
        status_command,
        cli_settings,
        capsys,
        page_ids=["1001"],
        sender_url="http://127.0.0.1:9",
        sink_url=f"http://127.0.0.1:{free_port()}",
    )
    assert direct["pages"][0]["last_webhook_ms"] == minute
