"""`POST /api/messages` on the ingress, over real HTTP, with the embedded broker."""

from __future__ import annotations

from dataclasses import replace

import httpx
import orjson
import pytest

from hookstream.runtime.settings import Secret, Settings
from ingress.app import create_app
from schemas.commands import decode_command
from tests.conftest import TEST_API_KEY
from tests.support.http import serve, wait_until
from tests.support.kafka import read_topic

pytestmark = pytest.mark.integration

AUTH = {"authorization": f"Bearer {TEST_API_KEY}"}


async def test_auth_validation_and_202_with_the_command_on_outbound(settings: Settings) -> None:
    app = create_app(settings)
    good = {
        "page_id": "1001",
        "recipient_id": "u1",
        "text": "Hello",
        "quick_replies": [{"title": "Yes", "payload": "YES"}],
    }
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as client:
        await wait_until(lambda: app.fallback.state.publisher.ready)  # type: ignore[attr-defined]
        missing = await client.post("/api/messages", json=good)
        wrong = await client.post(
            "/api/messages", json=good, headers={"authorization": "Bearer nope"}
        )
        bad = [
            await client.post("/api/messages", json=body, headers=AUTH)
            for body in (
                {"recipient_id": "u1", "text": "x"},
                {"page_id": "1001", "recipient_id": "u1"},
                {
                    "page_id": "1001",
                    "recipient_id": "u1",
                    "text": "x",
                    "messaging_type": "MESSAGE_TAG",
                },
                {
                    "page_id": "1001",
                    "recipient_id": "u1",
                    "text": "x",
                    "quick_replies": [{"title": str(i)} for i in range(14)],
                },
            )
        ]
        not_json = await client.post("/api/messages", content=b"{", headers=AUTH)
        accepted = await client.post("/api/messages", json=good, headers=AUTH)
        keyed = [
            await client.post(
                "/api/messages",
                headers={**AUTH, "idempotency-key": "k1"},
                json={
                    "page_id": 1001,
                    "recipient_id": "u2",
                    "attachment": {
                        "type": "image",
                        "payload": {"url": "https://example.com/a.png"},
                    },
                },
            )
            for _ in range(2)
        ]
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert wrong.status_code == 403
    assert [r.status_code for r in bad] == [400, 400, 400, 400]
    assert [r.json()["field"] for r in bad] == ["page_id", "text", "tag", "quick_replies"]
    assert not_json.status_code == 400
    assert accepted.status_code == 202
    assert [r.status_code for r in keyed] == [202, 202]
    assert keyed[0].json() == keyed[1].json()  # same Idempotency-Key, same command id
    records = await read_topic(settings.kafka, "outbound", expected=3)
    commands = [decode_command(r.value) for r in records]
    first = next(c for c in commands if c.recipient_id == "u1")
    assert first.command_id == accepted.json()["command_id"]
    assert first.message == {
        "text": "Hello",
        "quick_replies": [{"content_type": "text", "title": "Yes", "payload": "YES"}],
    }
    assert first.origin == "api" and first.conversation_id == "1001:u1"
    assert {r.key for r in records} == {b"1001:u1", b"1001:u2"}


async def test_disabled_without_an_api_key(settings: Settings) -> None:
    app = create_app(replace(settings, ingress=replace(settings.ingress, api_key=Secret(""))))
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as client:
        response = await client.post("/api/messages", content=orjson.dumps({}), headers=AUTH)
    assert response.status_code == 503
    assert "HOOKSTREAM_API_KEY" in response.json()["error"]
