"""The sandbox's plain-ASGI Send API endpoint, in process (httpx's ASGI transport)."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from hookstream.sandbox.app import Sandbox, sandbox_tokens
from hookstream.sandbox.faults import parse_faults
from hookstream.sandbox.front import SendFront, send_api_page

BODY = b'{"recipient": {"id": "u1"}, "message": {"text": "hi"}}'


def front(sandbox: Sandbox) -> httpx.AsyncClient:
    app = SendFront(sandbox, Starlette(routes=list(sandbox.routes())))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox")


@pytest.mark.parametrize(
    "method,path,page",
    [
        ("POST", "/v24.0/1001/messages", "1001"),
        ("POST", "/v24.0/me/messages", "me"),
        ("GET", "/v24.0/1001/messages", None),
        ("POST", "/v24.0/1001/other", None),
        ("POST", "/1001/messages", None),
        ("POST", "/sandbox/faults", None),
    ],
)
def test_which_requests_are_send_api_calls(method: str, path: str, page: str | None) -> None:
    assert send_api_page({"type": "http", "method": method, "path": path}) == page


async def test_send_api_answers_like_meta_and_the_rest_goes_to_starlette() -> None:
    sandbox = Sandbox(sandbox_tokens({"1001": "tok-a"}, ["2002:tok-b"]))
    async with front(sandbox) as http:
        sent = await http.post(
            "/v24.0/1001/messages", params={"access_token": "tok-a"}, content=BODY
        )
        bearer = await http.post(
            "/v24.0/2002/messages", content=BODY, headers={"authorization": "Bearer tok-b"}
        )
        wrong = await http.post(
            "/v24.0/2002/messages", params={"access_token": "tok-a"}, content=BODY
        )
        not_json = await http.post(
            "/v24.0/me/messages", params={"access_token": "tok-a"}, content=b"{"
        )
        stats = await http.get("/sandbox/stats")
    assert sent.status_code == 200 and sent.json()["message_id"].startswith("m_sandbox_")
    assert sent.headers["content-type"] == "application/json"
    assert bearer.status_code == 200 and bearer.json()["recipient_id"] == "u1"
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (400, 190)
    assert (not_json.status_code, not_json.json()["error"]["code"]) == (400, 100)
    assert stats.json() == {"accepted": 2, "rejected": 2, "error_190": 1, "error_100": 1}
    assert [m["page_id"] for m in sandbox.store.select()] == ["1001", "2002"]


async def test_injected_faults_answer_per_page() -> None:
    sandbox = Sandbox(
        sandbox_tokens({"1001": "a", "2002": "b"}, ()),
        parse_faults('[{"page_id": "1001", "code": 190}, {"status": 502}]'),
    )
    async with front(sandbox) as http:
        stopped = await http.post("/v24.0/1001/messages?access_token=a", content=BODY)
        down = await http.post("/v24.0/2002/messages?access_token=b", content=BODY)
    assert (stopped.status_code, stopped.json()["error"]["code"]) == (400, 190)
    assert down.status_code == 502 and down.headers["content-type"].startswith("text/html")
