"""The sandbox's Graph endpoints around the Send API, in process (httpx's ASGI transport)."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette

from hookstream.runtime.pages import appsecret_proof
from hookstream.sandbox.app import Sandbox, sandbox_tokens
from hookstream.sandbox.graph import PROOF_INVALID, PROOF_MISSING
from hookstream.sandbox.server import sandbox_front

TEXT = {"recipient": {"id": "u1"}, "message": {"text": "hi"}}


def client(sandbox: Sandbox) -> httpx.AsyncClient:
    app = sandbox_front(sandbox, Starlette(routes=list(sandbox.routes())))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox")


def box() -> Sandbox:
    return Sandbox(sandbox_tokens({"1001": "tok-a", "1002": "tok-b"}, []))


async def test_debug_token_reports_validity_expiry_and_scopes() -> None:
    sandbox = box()
    sandbox.graph.configure({"tokens": {"tok-b": {"expired": True}}})
    async with client(sandbox) as http:
        good = (
            await http.get(
                "/v27.0/debug_token", params={"input_token": "tok-a", "access_token": "1|s"}
            )
        ).json()
        bad = (
            await http.get(
                "/v27.0/debug_token", params={"input_token": "tok-b", "access_token": "tok-a"}
            )
        ).json()
        unknown = (
            await http.get(
                "/v27.0/debug_token", params={"input_token": "x", "access_token": "tok-a"}
            )
        ).json()
        as_expired = await http.get(
            "/v27.0/debug_token", params={"input_token": "tok-a", "access_token": "tok-b"}
        )
    data = good["data"]
    assert data["is_valid"] and data["expires_at"] == 0 and data["profile_id"] == "1001"
    assert "pages_messaging" in data["scopes"]
    assert bad["data"]["is_valid"] is False and bad["data"]["error"]["subcode"] == 463
    assert unknown["data"]["is_valid"] is False and unknown["data"]["error"]["code"] == 190
    error = as_expired.json()["error"]
    assert as_expired.status_code == 400 and (error["code"], error["error_subcode"]) == (190, 463)


async def test_me_and_page_fields_and_wrong_page() -> None:
    async with client(box()) as http:
        me = await http.get("/v27.0/me", params={"fields": "id,name", "access_token": "tok-a"})
        page = await http.get("/v27.0/1001", params={"fields": "id", "access_token": "tok-a"})
        other = await http.get("/v27.0/1002", params={"access_token": "tok-a"})
        nobody = await http.get("/v27.0/me", params={"access_token": "nope"})
    assert me.json()["id"] == "1001" and "name" in me.json()
    assert page.json() == {"id": "1001"}
    assert other.status_code == 400 and other.json()["error"]["code"] == 210
    assert nobody.json()["error"]["code"] == 190


async def test_subscribed_apps_set_read_validate_and_remove() -> None:
    sandbox = box()
    sandbox.graph.configure({"tokens": {"tok-b": {"scopes": ["pages_messaging"]}}})
    async with client(sandbox) as http:
        empty = await http.get("/v27.0/1001/subscribed_apps", params={"access_token": "tok-a"})
        post = await http.post(
            "/v27.0/1001/subscribed_apps",
            params={"access_token": "tok-a", "subscribed_fields": "messages,message_reads"},
        )
        read = await http.get("/v27.0/1001/subscribed_apps", params={"access_token": "tok-a"})
        typo = await http.post(
            "/v27.0/1001/subscribed_apps",
            params={"access_token": "tok-a", "subscribed_fields": "mesages"},
        )
        denied = await http.get("/v27.0/1002/subscribed_apps", params={"access_token": "tok-b"})
        gone = await http.delete("/v27.0/1001/subscribed_apps", params={"access_token": "tok-a"})
    assert empty.json() == {"data": []}
    assert post.json() == {"success": True}
    assert read.json()["data"][0]["subscribed_fields"] == ["messages", "message_reads"]
    assert typo.status_code == 400 and typo.json()["error"]["code"] == 100
    assert denied.status_code == 400 and denied.json()["error"]["code"] == 200
    assert gone.json() == {"success": True} and sandbox.graph.subscriptions == {}


async def test_require_app_secret_applies_to_every_graph_call() -> None:
    sandbox = box()
    sandbox.graph.configure({"require_appsecret_proof": True, "app_secrets": ["sec"]})
    proof = appsecret_proof("sec", "tok-a")
    async with client(sandbox) as http:
        missing = await http.post(
            "/v27.0/1001/messages", params={"access_token": "tok-a"}, json=TEXT
        )
        wrong = await http.post(
            "/v27.0/1001/messages",
            params={"access_token": "tok-a", "appsecret_proof": "00"},
            json=TEXT,
        )
        signed = await http.post(
            "/v27.0/1001/messages",
            params={"access_token": "tok-a", "appsecret_proof": proof},
            json=TEXT,
        )
        own_page = await http.get("/sandbox/stats")
    assert missing.status_code == 400 and missing.json()["error"]["message"] == PROOF_MISSING
    assert missing.json()["error"]["type"] == "GraphMethodException"
    assert wrong.json()["error"]["message"] == PROOF_INVALID
    assert signed.status_code == 200 and signed.json()["message_id"]
    assert own_page.status_code == 200  # the sandbox's own pages need no proof


async def test_send_api_knows_retired_tags_stickers_expired_and_missing_permission() -> None:
    sandbox = box()
    sandbox.graph.configure(
        {"tokens": {"tok-b": {"expired": True}, "tok-a": {"scopes": ["pages_show_list"]}}}
    )
    retired = {**TEXT, "messaging_type": "MESSAGE_TAG", "tag": "ACCOUNT_UPDATE"}
    async with client(box()) as http:
        tag = await http.post(
            "/v27.0/1001/messages", params={"access_token": "tok-a"}, json=retired
        )
        sticker = await http.post(
            "/v27.0/1001/messages",
            params={"access_token": "tok-a"},
            json={"recipient": {"id": "u1"}, "message": {"sticker_id": 767226160478561}},
        )
    async with client(sandbox) as http:
        expired = await http.post(
            "/v27.0/1002/messages", params={"access_token": "tok-b"}, json=TEXT
        )
        denied = await http.post(
            "/v27.0/1001/messages", params={"access_token": "tok-a"}, json=TEXT
        )
    assert tag.status_code == 400 and tag.json()["error"]["code"] == 100
    assert sticker.status_code == 200 and sticker.json()["message_id"]
    assert expired.json()["error"]["error_subcode"] == 463
    assert denied.json()["error"]["code"] == 10
