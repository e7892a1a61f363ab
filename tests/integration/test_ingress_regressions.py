"""Issue 11's signed bodies, each with its minimal body, over real HTTP against the broker:
every one gets a deliberate answer (200 with the event kept as sent, or a 4xx naming the
problem), never 500, never 503 for a permanent condition; what is refused writes nothing."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import orjson
import pytest

from hookstream.runtime.settings import Settings
from ingress.app import create_app
from ingress.signature import sign
from schemas.envelope import decode_envelope
from tests.conftest import TEST_SECRET
from tests.support.http import serve
from tests.support.kafka import read_topic

pytestmark = pytest.mark.integration

RECEIVED_FLOOR = 1_700_000_000_000  # every accepted event's time: its own, the entry's, or now


def signed(body: bytes) -> dict[str, str]:
    return {"content-type": "application/json", "x-hub-signature-256": sign(body, TEST_SECRET)}


def message_body(mid: str, timestamp: str = "1700000000000", entry_time: str = "1") -> bytes:
    return (
        f'{{"object":"page","entry":[{{"id":"1001","time":{entry_time},"messaging":[{{'
        f'"sender":{{"id":"u1"}},"recipient":{{"id":"1001"}},"timestamp":{timestamp},'
        f'"message":{{"mid":"{mid}","text":"x"}}}}]}}]}}'
    ).encode()


def mark_body(kind: str, watermark: str) -> bytes:
    return (
        f'{{"object":"page","entry":[{{"id":"1001","messaging":[{{"sender":{{"id":"u1"}},'
        f'"recipient":{{"id":"1001"}},"{kind}":{{"watermark":{watermark}}}}}]}}]}}'
    ).encode()


def nested_body(levels: int) -> bytes:
    inner = "[" * levels + "]" * levels
    return (
        '{"object":"page","entry":[{"id":"1001","messaging":[{"sender":{"id":"u1"},'
        f'"recipient":{{"id":"1001"}},"message":{{"mid":"deep","x":{inner}}}}}]}}]}}'
    ).encode()


# (name, body, status, error reason or None) — issue 11, items 1 to 3.
ACCEPTED: list[tuple[str, bytes]] = [
    ("timestamp 1e20", message_body("t-1e20", "1e20")),
    ("timestamp 2^64", message_body("t-2p64", "18446744073709551616")),
    ("timestamp 'nan'", message_body("t-nan", '"nan"')),
    ("timestamp 'NaN'", message_body("t-NaN", '"NaN"')),
    ("timestamp 'Infinity'", message_body("t-inf", '"Infinity"')),
    ("timestamp '1e400'", message_body("t-1e400", '"1e400"')),
    ("entry time 1e20", message_body("e-1e20", "1e20", entry_time="1e20")),
    ("read watermark 1e300", mark_body("read", "1e300")),
    ("delivery watermark '1e25'", mark_body("delivery", '"1e25"')),
    ("nested 120 deep", nested_body(120)),
]
REFUSED: list[tuple[str, bytes, int, str]] = [
    ("timestamp literal 1e400", message_body("n-1e400", "1e400"), 400, "unparseable_number"),
    ("nested 254 deep", nested_body(254), 400, "too_deeply_nested"),
    ("nested 300 deep", nested_body(300), 400, "too_deeply_nested"),
    ("nested 1020 deep", nested_body(1020), 400, "too_deeply_nested"),
    ("nested 1100 deep", nested_body(1100), 400, "too_deeply_nested"),
    (
        "1,000,000-character text",
        message_body("big", entry_time="1").replace(
            b'"text":"x"', b'"text":"' + b"a" * 1_000_000 + b'"'
        ),
        413,
        "event_too_large",
    ),
]


async def test_every_signed_body_gets_a_deliberate_answer(settings: Settings) -> None:
    async with (
        serve(create_app(settings)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        for name, body in ACCEPTED:
            response = await client.post("/webhook", content=body, headers=signed(body))
            assert response.status_code == 200, (name, response.text)
        for name, body, status, reason in REFUSED:
            assert len(body) <= settings.ingress.max_body_bytes, name
            response = await client.post("/webhook", content=body, headers=signed(body))
            assert (response.status_code, response.json()["error"]) == (status, reason), name
            assert "retry-after" not in response.headers, name  # permanent: nothing to retry
        # still serving normal webhooks afterwards
        normal = message_body("normal")
        assert (
            await client.post("/webhook", content=normal, headers=signed(normal))
        ).status_code == 200
    records = await read_topic(settings.kafka, "inbound", expected=len(ACCEPTED) + 1)
    envelopes = [decode_envelope(r.value) for r in records]
    assert len(envelopes) == len(ACCEPTED) + 1  # nothing of the refused bodies
    sent = [orjson.loads(body)["entry"][0]["messaging"][0] for _, body in ACCEPTED]
    sent.append(orjson.loads(normal)["entry"][0]["messaging"][0])
    assert sorted((e.raw for e in envelopes), key=orjson.dumps) == sorted(sent, key=orjson.dumps)
    for envelope in envelopes:  # out-of-range times dropped: the event's time is a real one
        assert envelope.event_time_ms >= 1 and envelope.event_time_ms <= 253_402_300_799_999
    watermark = next(e for e in envelopes if e.kind == "read").raw["read"]["watermark"]
    assert watermark == 1e300  # kept as sent


async def test_client_values_reach_the_log_truncated_and_escaped(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    mode = 'subscribe\n{"forged": true}' + "m" * 20_000
    body = message_body("log")
    async with serve(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as client:
        with caplog.at_level(logging.INFO, logger="hookstream"):
            await client.get("/webhook", params={"hub.mode": mode})
            await client.post(
                "/webhook",
                content=body,
                headers={
                    **signed(body),
                    "content-type": "text/" + "y" * 4000,
                },
            )
    fields: list[dict[str, Any]] = [getattr(r, "fields", {}) for r in caplog.records]
    refused = next(f for f in fields if "mode" in f)
    assert refused["mode"].startswith("subscribe\\x0a{") and len(refused["mode"]) < 100
    rejected = next(f for f in fields if f.get("reason") == "unsupported_media_type")
    assert len(rejected["detail"]) < 400
    assert all("\n" not in str(v) for f in fields for v in f.values())
