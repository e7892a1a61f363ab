"""The ingress against the real embedded broker, over real HTTP."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import httpx
import orjson
import pytest

from hookstream.runtime.kafka import CachedPartitioner
from hookstream.runtime.settings import Settings
from ingress.app import create_app
from ingress.signature import sign
from schemas.envelope import decode_envelope
from tests.conftest import TEST_SECRET, TEST_VERIFY_TOKEN
from tests.support.http import serve
from tests.support.kafka import read_topic
from tests.support.meta_samples import CHANGES, IG, INSTAGRAM, MESSENGER, PAGE, T_S

pytestmark = pytest.mark.integration


def signed(body: bytes, secret: str = TEST_SECRET) -> dict[str, str]:
    return {"content-type": "application/json", "x-hub-signature-256": sign(body, secret)}


def every_kind_bodies() -> list[bytes]:
    messenger = {
        "object": "page",
        "entry": [{"id": PAGE, "time": T_S, "messaging": [event for _, event, _, _ in MESSENGER]}],
    }
    instagram = {
        "object": "instagram",
        "entry": [{"id": IG, "time": T_S, "messaging": [event for _, event, _, _ in INSTAGRAM]}],
    }
    changes = [
        {
            "object": obj,
            "entry": [{"id": PAGE, "time": T_S, "changes": [{"field": field, "value": value}]}],
        }
        for obj, field, value, _, _ in CHANGES
    ]
    return [orjson.dumps(b) for b in (messenger, instagram, *changes)]


async def test_every_event_lands_once_keyed_by_conversation(settings: Settings) -> None:
    bodies = every_kind_bodies()
    expected = len(MESSENGER) + len(INSTAGRAM) + len(CHANGES)
    async with serve(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as client:
        for body in bodies:
            response = await client.post("/webhook", content=body, headers=signed(body))
            assert response.status_code == 200, response.text
    records = await read_topic(settings.kafka, "inbound", expected=expected)
    assert len(records) == expected
    partitions: dict[bytes, set[int]] = defaultdict(set)
    for record in records:
        envelope = decode_envelope(record.value)
        assert record.key == envelope.conversation_id.encode()
        partitions[record.key].add(record.partition)
    assert all(len(p) == 1 for p in partitions.values()), "a conversation spans partitions"
    assert len({r.partition for r in records}) > 1, "all conversations on one partition"
    # The partition Kafka's Java client and aiokafka (replay, redrive, processors) would choose.
    java_default = CachedPartitioner()
    ids = list(range(settings.kafka.partitions))
    assert all(r.partition == java_default(r.key, ids, ids) for r in records)


async def test_one_conversation_keeps_its_order_on_one_partition(settings: Settings) -> None:
    events = [
        {
            "sender": {"id": "u9"},
            "recipient": {"id": PAGE},
            "timestamp": 1_700_000_000_000 + i,
            "message": {"mid": f"ord-{i}", "text": str(i)},
        }
        for i in range(30)
    ]
    async with serve(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as client:
        for start in range(0, 30, 3):  # ten POSTs of three events each
            body = orjson.dumps(
                {
                    "object": "page",
                    "entry": [{"id": PAGE, "time": 1, "messaging": events[start : start + 3]}],
                }
            )
            assert (
                await client.post("/webhook", content=body, headers=signed(body))
            ).status_code == 200
    records = await read_topic(settings.kafka, "inbound", expected=30)
    assert {r.partition for r in records} == {records[0].partition}
    mids = [
        decode_envelope(r.value).raw["message"]["mid"]
        for r in sorted(records, key=lambda r: r.offset)
    ]
    assert mids == [f"ord-{i}" for i in range(30)]


def _bad_requests(settings: Settings) -> list[tuple[str, dict[str, str], bytes, int, str]]:
    good = orjson.dumps({"object": "page", "entry": [{"id": PAGE, "messaging": [MESSENGER[0][1]]}]})
    too_big = (
        b'{"object":"page","entry":[],"pad":"' + b"x" * (settings.ingress.max_body_bytes) + b'"}'
    )
    not_json, no_entry, array = b"{nope", b'{"object":"page"}', b"[1,2]"
    return [
        ("no signature", {"content-type": "application/json"}, good, 401, "bad_signature"),
        ("wrong secret", signed(good, "other-secret"), good, 401, "bad_signature"),
        ("tampered", signed(good), good.replace(b"Hello", b"Jello"), 401, "bad_signature"),
        ("not json", signed(not_json), not_json, 400, "malformed_body"),
        ("no entry", signed(no_entry), no_entry, 400, "malformed_body"),
        ("not an object", signed(array), array, 400, "malformed_body"),
        ("too large", signed(too_big), too_big, 413, "body_too_large"),
        (
            "form post",
            {**signed(good), "content-type": "application/x-www-form-urlencoded"},
            good,
            415,
            "unsupported_media_type",
        ),
    ]


async def test_rejections_get_clear_errors_and_write_nothing(settings: Settings) -> None:
    async with serve(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as client:
        for name, headers, body, status, reason in _bad_requests(settings):
            response = await client.post("/webhook", content=body, headers=headers)
            assert response.status_code == status, name
            assert response.json()["error"] == reason, name
            assert response.json()["detail"], name
        metrics = (await client.get("/metrics")).text
    assert await read_topic(settings.kafka, "inbound", idle_s=1.5) == []
    assert 'hookstream_ingress_rejections_total{reason="bad_signature"} 3.0' in metrics


async def test_verification_handshake(settings: Settings) -> None:
    query: dict[str, Any] = {
        "hub.mode": "subscribe",
        "hub.verify_token": TEST_VERIFY_TOKEN,
        "hub.challenge": "1158201444",
    }
    async with serve(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as client:
        for path in ("/webhook", "/webhooks/messenger", "/webhooks/instagram"):
            ok = await client.get(path, params=query)
            assert (ok.status_code, ok.text) == (200, "1158201444")
            assert ok.headers["content-type"].startswith("text/plain")
        wrong = await client.get("/webhook", params={**query, "hub.verify_token": "nope"})
        bad_mode = await client.get("/webhook", params={**query, "hub.mode": "unsubscribe"})
        bare = await client.get("/webhook")
    assert [wrong.status_code, bad_mode.status_code, bare.status_code] == [403, 403, 403]


async def test_aliases_accept_deliveries(settings: Settings) -> None:
    body = orjson.dumps(
        {"object": "instagram", "entry": [{"id": IG, "messaging": [INSTAGRAM[0][1]]}]}
    )
    async with serve(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as client:
        for path in ("/webhooks/messenger", "/webhooks/instagram"):
            assert (await client.post(path, content=body, headers=signed(body))).status_code == 200
    assert len(await read_topic(settings.kafka, "inbound", expected=2)) == 2
