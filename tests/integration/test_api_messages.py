"""`POST /api/messages` on the ingress, over real HTTP, with the session's broker: every class of
request the robustness run tried (auth, body, ids, pages, text, attachments, quick replies,
messaging types and tags, sender actions, headers) gets its deliberate answer; none is a 500;
only what is accepted reaches `outbound`."""

from __future__ import annotations

from dataclasses import dataclass, replace
from dataclasses import field as default
from pathlib import Path
from typing import Any

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
PAGES_YAML = """pages:
  "1001": {access_token: t1}
  "1002": {access_token: t2}
  "ig7": {platform: instagram, access_token: t3}
"""
BASE = {"page_id": "1001", "recipient_id": "u1"}
URL = "https://example.com/a.png"


@dataclass(frozen=True)
class Case:
    name: str
    body: Any  # a JSON value, or raw bytes
    status: int
    error: str = ""  # the error code of a refusal
    where: str = ""  # the field it names
    headers: dict[str, str] = default(default_factory=lambda: dict(AUTH))


def ok(name: str, **body: Any) -> Case:
    return Case(name, {**BASE, **body}, 202)


def bad(name: str, status: int, error: str, fld: str, **body: Any) -> Case:
    return Case(name, {**BASE, **body}, status, error, fld)


def nested(depth: int) -> bytes:
    payload = '{"k":' * depth + '"x"' + "}" * depth
    head = orjson.dumps({**BASE, "attachment": "@@"})
    return head.replace(b'"@@"', f'{{"type":"template","payload":{payload}}}'.encode())


def qr(*items: Any) -> dict[str, Any]:
    return {"text": "Pick one", "quick_replies": list(items)}


CASES = [
    # authentication
    Case("no bearer token", BASE | {"text": "x"}, 401, "unauthorized", headers={}),
    Case(
        "wrong key", BASE | {"text": "x"}, 403, "forbidden", headers={"authorization": "Bearer no"}
    ),
    # the body
    Case("not JSON", b"{", 400, "invalid_json", "body"),
    Case("empty body", b"", 400, "invalid_json", "body"),
    Case("invalid UTF-8", b'{"text": "\xff"}', 400, "invalid_json", "body"),
    Case("a list", [1, 2], 400, "invalid_body", "body"),
    Case("a string", "hello", 400, "invalid_body", "body"),
    Case("over 64 KiB", BASE | {"text": "x" * 70_000}, 413, "body_too_large", "body"),
    Case("nested 1,100 deep", b"[" * 1100 + b"]" * 1100, 422, "too_deeply_nested", "body"),
    Case("attachment nested 260 deep", nested(260), 422, "too_deeply_nested", "attachment.payload"),
    Case("attachment nested 300 deep", nested(300), 422, "too_deeply_nested", "attachment.payload"),
    bad("unknown field", 422, "unknown_field", "quick_reply", text="x", quick_reply=[]),
    # ids and pages
    Case("no page_id", {"recipient_id": "u1", "text": "x"}, 422, "missing_field", "page_id"),
    bad("no recipient_id", 422, "missing_field", "recipient_id", recipient_id=None, text="x"),
    bad("blank recipient_id", 422, "missing_field", "recipient_id", recipient_id="  ", text="x"),
    bad("page_id an object", 422, "invalid_type", "page_id", page_id={"id": 1}, text="x"),
    bad("page_id true", 422, "invalid_type", "page_id", page_id=True, text="x"),
    bad("page_id a float", 422, "invalid_type", "page_id", page_id=1001.5, text="x"),
    bad(
        "recipient_id too long",
        422,
        "invalid_value",
        "recipient_id",
        recipient_id="9" * 65,
        text="x",
    ),
    bad(
        "recipient_id with a colon",
        422,
        "invalid_value",
        "recipient_id",
        recipient_id="a:b",
        text="x",
    ),
    bad("unknown page", 404, "unknown_page", "page_id", page_id="4040", text="x"),
    ok("numeric page_id", page_id=1001, text="numeric"),
    # text
    bad("nothing to send", 422, "missing_field", "text"),
    bad("empty text", 422, "invalid_value", "text", text=""),
    bad("blank text", 422, "invalid_value", "text", text=" \n "),
    bad("text a number", 422, "invalid_type", "text", text=5),
    bad("text an object", 422, "invalid_type", "text", text={"t": 1}),
    bad("text of 2,001 characters", 422, "too_long", "text", text="x" * 2001),
    ok("text of 2,000 characters", text="y" * 2000),
    ok("text with emoji and escapes", text='h\u00e9llo \U0001f600 \\/ "q"'),
    bad(
        "text and attachment",
        422,
        "conflicting_fields",
        "attachment",
        text="x",
        attachment={"type": "image", "payload": {"url": URL}},
    ),
    # attachments
    ok("image by url", attachment={"type": "image", "payload": {"url": URL, "is_reusable": True}}),
    ok("file by attachment_id", attachment={"type": "file", "payload": {"attachment_id": "1234"}}),
    ok(
        "button template",
        attachment={
            "type": "template",
            "payload": {
                "template_type": "button",
                "text": "Choose",
                "buttons": [{"type": "postback", "title": "A", "payload": "A"}],
            },
        },
    ),
    bad("attachment a string", 422, "invalid_type", "attachment", attachment="img.png"),
    bad(
        "attachment type pdf",
        422,
        "invalid_value",
        "attachment.type",
        attachment={"type": "pdf", "payload": {"url": URL}},
    ),
    bad(
        "attachment without payload",
        422,
        "missing_field",
        "attachment.payload",
        attachment={"type": "image"},
    ),
    bad(
        "attachment payload a list",
        422,
        "invalid_type",
        "attachment.payload",
        attachment={"type": "image", "payload": [URL]},
    ),
    bad(
        "neither url nor attachment_id",
        422,
        "missing_field",
        "attachment.payload",
        attachment={"type": "video", "payload": {}},
    ),
    bad(
        "both url and attachment_id",
        422,
        "conflicting_fields",
        "attachment.payload",
        attachment={"type": "video", "payload": {"url": URL, "attachment_id": "1"}},
    ),
    bad(
        "url not http",
        422,
        "invalid_value",
        "attachment.payload.url",
        attachment={"type": "image", "payload": {"url": "javascript:alert(1)"}},
    ),
    bad(
        "url an object",
        422,
        "invalid_type",
        "attachment.payload.url",
        attachment={"type": "image", "payload": {"url": {"href": URL}}},
    ),
    bad(
        "attachment_id not numeric",
        422,
        "invalid_value",
        "attachment.payload.attachment_id",
        attachment={"type": "image", "payload": {"attachment_id": "abc"}},
    ),
    bad(
        "is_reusable a string",
        422,
        "invalid_type",
        "attachment.payload.is_reusable",
        attachment={"type": "image", "payload": {"url": URL, "is_reusable": "yes"}},
    ),
    bad(
        "unknown media payload field",
        422,
        "unknown_field",
        "attachment.payload.caption",
        attachment={"type": "image", "payload": {"url": URL, "caption": "c"}},
    ),
    bad(
        "template without template_type",
        422,
        "missing_field",
        "attachment.payload.template_type",
        attachment={"type": "template", "payload": {}},
    ),
    bad(
        "unknown template_type",
        422,
        "invalid_value",
        "attachment.payload.template_type",
        attachment={"type": "template", "payload": {"template_type": "list"}},
    ),
    bad(
        "button template without text",
        422,
        "invalid_value",
        "attachment.payload.text",
        attachment={"type": "template", "payload": {"template_type": "button", "buttons": [{}]}},
    ),
    bad(
        "generic template with 11 elements",
        422,
        "too_many",
        "attachment.payload.elements",
        attachment={
            "type": "template",
            "payload": {"template_type": "generic", "elements": [{"title": "e"}] * 11},
        },
    ),
    # quick replies
    ok("quick replies", **qr({"title": "Yes", "payload": "YES"}, {"title": "No"})),
    ok("13 quick replies", **qr(*({"title": f"q{i}"} for i in range(13)))),
    ok(
        "phone and email quick replies",
        **qr({"content_type": "user_phone_number"}, {"content_type": "user_email"}),
    ),
    ok(
        "quick replies on an attachment",
        attachment={"type": "image", "payload": {"url": URL}},
        quick_replies=[{"title": "More"}],
    ),
    bad(
        "quick replies alone", 422, "missing_field", "quick_replies", quick_replies=[{"title": "a"}]
    ),
    bad(
        "quick replies not a list",
        422,
        "invalid_type",
        "quick_replies",
        text="x",
        quick_replies={"title": "a"},
    ),
    bad("no quick replies", 422, "invalid_value", "quick_replies", **qr()),
    bad(
        "14 quick replies",
        422,
        "too_many",
        "quick_replies",
        **qr(*({"title": f"q{i}"} for i in range(14))),
    ),
    bad("a quick reply not an object", 422, "invalid_type", "quick_replies[0]", **qr("Yes")),
    bad(
        "a quick reply without a title",
        422,
        "missing_field",
        "quick_replies[0].title",
        **qr({"payload": "P"}),
    ),
    bad(
        "a title of 21 characters",
        422,
        "too_long",
        "quick_replies[0].title",
        **qr({"title": "t" * 21}),
    ),
    bad(
        "a title a number",
        422,
        "invalid_type",
        "quick_replies[1].title",
        **qr({"title": "a"}, {"title": 7}),
    ),
    bad(
        "a payload object (was sent as a Python repr)",
        422,
        "invalid_type",
        "quick_replies[0].payload",
        **qr({"title": "a", "payload": {"k": [1, 2]}}),
    ),
    bad(
        "a payload number",
        422,
        "invalid_type",
        "quick_replies[0].payload",
        **qr({"title": "a", "payload": 12}),
    ),
    bad(
        "a payload of 5,000 characters",
        422,
        "too_long",
        "quick_replies[0].payload",
        **qr({"title": "a", "payload": "p" * 5000}),
    ),
    bad(
        "content_type location",
        422,
        "invalid_value",
        "quick_replies[0].content_type",
        **qr({"content_type": "location", "title": "a"}),
    ),
    bad(
        "an email quick reply with a title",
        422,
        "conflicting_fields",
        "quick_replies[0].title",
        **qr({"content_type": "user_email", "title": "Mail"}),
    ),
    bad(
        "an email quick reply on Instagram",
        422,
        "invalid_value",
        "quick_replies[0].content_type",
        page_id="ig7",
        **qr({"content_type": "user_email"}),
    ),
    bad(
        "a quick reply with an unknown field",
        422,
        "unknown_field",
        "quick_replies[0].color",
        **qr({"title": "a", "color": "red"}),
    ),
    bad(
        "image_url not a URL",
        422,
        "invalid_value",
        "quick_replies[0].image_url",
        **qr({"title": "a", "image_url": "red.png"}),
    ),
    # messaging types and tags
    bad(
        "unknown messaging_type",
        422,
        "invalid_value",
        "messaging_type",
        text="x",
        messaging_type="PROMO",
    ),
    bad(
        "MESSAGE_TAG without a tag",
        422,
        "missing_field",
        "tag",
        text="x",
        messaging_type="MESSAGE_TAG",
    ),
    bad("a tag on RESPONSE", 422, "conflicting_fields", "tag", text="x", tag="HUMAN_AGENT"),
    bad(
        "a retired tag",
        422,
        "invalid_value",
        "tag",
        text="x",
        messaging_type="MESSAGE_TAG",
        tag="CONFIRMED_EVENT_UPDATE",
    ),
    bad(
        "an unknown tag",
        422,
        "invalid_value",
        "tag",
        text="x",
        messaging_type="MESSAGE_TAG",
        tag="WHENEVER",
    ),
    bad(
        "a tag a list",
        422,
        "invalid_type",
        "tag",
        text="x",
        messaging_type="MESSAGE_TAG",
        tag=["HUMAN_AGENT"],
    ),
    ok("HUMAN_AGENT", text="tagged", messaging_type="MESSAGE_TAG", tag="HUMAN_AGENT"),
    ok("UPDATE", text="update", messaging_type="UPDATE"),
    ok("Instagram text", page_id="ig7", text="ig", quick_replies=[{"title": "ok"}]),
    # sender actions
    ok("typing_on", sender_action="typing_on"),
    bad("unknown sender_action", 422, "invalid_value", "sender_action", sender_action="dance"),
    bad(
        "sender_action with text",
        422,
        "conflicting_fields",
        "text",
        sender_action="mark_seen",
        text="x",
    ),
    # headers
    Case(
        "Idempotency-Key too long",
        BASE | {"text": "x"},
        400,
        "invalid_idempotency_key",
        "Idempotency-Key",
        headers={**AUTH, "idempotency-key": "k" * 201},
    ),
]


@pytest.fixture
def api_settings(settings: Settings, tmp_path: Path) -> Settings:
    pages_file = tmp_path / "pages.yaml"
    pages_file.write_text(PAGES_YAML)
    return replace(settings, pages_file=pages_file)


async def _ready(client: httpx.AsyncClient) -> bool:
    return (await client.get("/readyz")).status_code == 200


async def _post(client: httpx.AsyncClient, case: Case) -> httpx.Response:
    content = case.body if isinstance(case.body, bytes) else orjson.dumps(case.body)
    return await client.post("/api/messages", content=content, headers=case.headers)


async def test_every_class_of_request_gets_its_deliberate_answer(api_settings: Settings) -> None:
    app = create_app(api_settings)
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as client:
        await wait_until(lambda: _ready(client))
        answers = [await _post(client, case) for case in CASES]
        after = await _post(client, ok("still serving", text="after the table"))
    got = [
        (case.name, r.status_code, r.json().get("error", ""), r.json().get("field", ""))
        for case, r in zip(CASES, answers, strict=True)
    ]
    want = [(c.name, c.status, c.error, c.where) for c in CASES]
    assert got == want
    assert all(r.headers["content-type"] == "application/json" for r in answers)
    assert all(r.json()["message"] for r in answers if r.status_code != 202)
    assert after.status_code == 202
    accepted = [r.json()["command_id"] for r in answers if r.status_code == 202]
    records = await read_topic(api_settings.kafka, "outbound", expected=len(accepted) + 1)
    commands = {c.command_id: c for c in (decode_command(r.value) for r in records)}
    assert set(commands) == {*accepted, after.json()["command_id"]}  # only the accepted
    for command in commands.values():
        for reply in (command.message or {}).get("quick_replies", []):
            assert isinstance(reply.get("payload", ""), str)
    ig = next(c for c in commands.values() if c.page_id == "ig7")
    assert ig.platform == "instagram"


async def test_the_accepted_command_on_outbound_and_idempotency(api_settings: Settings) -> None:
    app = create_app(api_settings)
    good = {**BASE, "text": "Hello", "quick_replies": [{"title": "Yes", "payload": "YES"}]}
    keyed_body = {
        **BASE,
        "recipient_id": "u2",
        "attachment": {"type": "image", "payload": {"url": URL}},
    }
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as client:
        await wait_until(lambda: _ready(client))
        accepted = await client.post("/api/messages", json=good, headers=AUTH)
        keyed = [
            await client.post(
                "/api/messages", headers={**AUTH, "idempotency-key": "k1"}, json=keyed_body
            )
            for _ in range(2)
        ]
    assert accepted.status_code == 202
    assert [r.status_code for r in keyed] == [202, 202]
    assert keyed[0].json() == keyed[1].json()  # same Idempotency-Key, same command id
    records = await read_topic(api_settings.kafka, "outbound", expected=3)
    commands = [decode_command(r.value) for r in records]
    first = next(c for c in commands if c.recipient_id == "u1")
    assert first.command_id == accepted.json()["command_id"]
    assert first.message == {
        "text": "Hello",
        "quick_replies": [{"content_type": "text", "title": "Yes", "payload": "YES"}],
    }
    assert first.origin == "api" and first.conversation_id == "1001:u1"
    assert {r.key for r in records} == {b"1001:u1", b"1001:u2"}


async def test_without_a_pages_file_no_page_is_known(settings: Settings) -> None:
    app = create_app(settings)
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as client:
        response = await client.post("/api/messages", json={**BASE, "text": "x"}, headers=AUTH)
    assert response.status_code == 404
    assert response.json()["error"] == "unknown_page"
    assert "no pages file" in response.json()["message"]


async def test_disabled_without_an_api_key(settings: Settings) -> None:
    app = create_app(replace(settings, ingress=replace(settings.ingress, api_key=Secret(""))))
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as client:
        response = await client.post("/api/messages", content=orjson.dumps({}), headers=AUTH)
    assert response.status_code == 503
    assert response.json()["error"] == "api_disabled"
    assert "HOOKSTREAM_API_KEY" in response.json()["message"]
