"""The sandbox's Send API endpoint as plain ASGI, in front of its Starlette app, and its page.

`POST /{version}/{page_id}/messages` is the only hot path: the sender's benchmark pushes
thousands of calls a second through it, and Starlette's Request/Response and middleware layers
cost more than the sandbox's own work (validation, storing the message). A call the sandbox
rejects is kept (bounded) with Meta's error, for the page.

Also served here: `GET /` (the page, `?page_id=` / `?recipient_id=` filter it and its counts,
`?refresh=S` reloads it every S seconds) and `POST /sandbox/inbound` ({"page_id",
"sender_id", "text", "mid"?, "at_ms"?} or a list): what users said, as Meta would know it;
`hookstream send-test` and `simulate` report the messages they posted, and the page shows
them beside the replies; `GET /sandbox/rejected` (`?page_id=&recipient_id=`): the rejected
calls kept, with Meta's error. Everything else goes to the Starlette app (`POST
/sandbox/reset` forgets these too).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from hookstream.sandbox.app import Reply, Sandbox
from hookstream.sandbox.html import PageView, render

MAX_REJECTED = 1000
MAX_INBOUND = 10_000
MAX_TEXT = 500  # characters kept of a client-supplied text


@dataclass
class FrontState:
    """What the page shows besides the store: rejected calls and inbound messages."""

    rejected: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=MAX_REJECTED))
    inbound: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=MAX_INBOUND))

    def reject(self, page_id: str, body: bytes, reply: Reply) -> None:
        self.rejected.append(rejected_call(page_id, body, reply))

    def reset(self) -> None:
        self.rejected.clear()
        self.inbound.clear()


def _text(value: Any) -> str | None:
    return value[:MAX_TEXT] if isinstance(value, str) else None


def rejected_call(page_id: str, body: bytes, reply: Reply) -> dict[str, Any]:
    """A rejected Send API call: who it was for, what it tried, and Meta's error (pure)."""
    try:
        sent = orjson.loads(body)
    except orjson.JSONDecodeError:
        sent = None
    sent = sent if isinstance(sent, dict) else {}
    recipient = sent.get("recipient")
    message = sent.get("message")
    try:
        answer = orjson.loads(reply.body)
    except orjson.JSONDecodeError:
        answer = None
    error = answer.get("error") if isinstance(answer, dict) else None
    error = error if isinstance(error, dict) else {}
    return {
        "at_ms": int(time.time() * 1000),
        "page_id": page_id[:64],
        "recipient_id": str(recipient.get("id", ""))[:64] if isinstance(recipient, dict) else "",
        "text": _text(message.get("text")) if isinstance(message, dict) else None,
        "status": reply.status,
        "code": error.get("code"),
        "subcode": error.get("error_subcode"),
        "message": _text(error.get("message"))
        or (reply.body[:120].decode("utf-8", "replace") if not error else ""),
    }


MAX_NOTES_PER_CALL = 5000
WEEK_MS = 7 * 24 * 3600 * 1000


def _when(value: Any, now_ms: int) -> int:
    """The client's time of the message if it is a plausible one, else now."""
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and -WEEK_MS < value - now_ms < 60_000
    ):
        return value
    return now_ms


def inbound_message(data: Any) -> dict[str, Any] | None:
    """One note of a `POST /sandbox/inbound` body as stored, None if it is not one (pure)."""
    if not isinstance(data, dict):
        return None
    page_id, sender_id, text = data.get("page_id"), data.get("sender_id"), data.get("text")
    if not isinstance(page_id, str | int) or not isinstance(sender_id, str | int):
        return None
    if not isinstance(text, str):
        return None
    return {
        "page_id": str(page_id)[:64],
        "sender_id": str(sender_id)[:64],
        "text": text[:MAX_TEXT],
        "mid": str(data.get("mid", ""))[:128],
        "at_ms": _when(data.get("at_ms"), int(time.time() * 1000)),
    }


def send_api_page(scope: Scope) -> str | None:
    """The page id of a Send API call (`POST /{version}/{page_id}/messages`), else None."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    parts = scope["path"].split("/")
    if len(parts) != 4 or parts[0] or parts[3] != "messages" or not parts[1] or not parts[2]:
        return None
    return str(parts[2])


def access_token(scope: Scope) -> str:
    """`access_token` from the query string, else a bearer token."""
    for name, value in parse_qsl(scope["query_string"].decode("latin-1")):
        if name == "access_token":
            return str(value)
    for name, value in scope["headers"]:
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            return str(value[7:].decode("latin-1").strip())
    return ""


async def read_body(receive: Receive) -> bytes:
    chunks, more = [], True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b""
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


def query(scope: Scope) -> dict[str, str]:
    return dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))


class SendFront:
    def __init__(self, sandbox: Sandbox, fallback: ASGIApp) -> None:
        self.sandbox, self.fallback = sandbox, fallback
        self.state = FrontState()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        page_id = send_api_page(scope)
        if page_id is not None:
            body = await read_body(receive)
            reply = await self.sandbox.answer(page_id, access_token(scope), body)
            if reply.status != 200:
                self.state.reject(page_id, body, reply)
            await respond(send, reply)
            return
        if scope["type"] == "http":
            path, method = scope["path"], scope["method"]
            if path == "/" and method in ("GET", "HEAD"):
                await respond(send, self.page(query(scope)))
                return
            if path == "/sandbox/inbound" and method == "POST":
                await respond(send, self.note_inbound(await read_body(receive)))
                return
            if path == "/sandbox/rejected" and method == "GET":
                await respond(send, self.rejected(query(scope)))
                return
            if path == "/sandbox/reset" and method == "POST":
                self.state.reset()
        await self.fallback(scope, receive, send)

    def page(self, params: dict[str, str]) -> Reply:
        refresh = params.get("refresh", "")
        view = PageView(
            store=self.sandbox.store,
            faults=[fault.as_dict() for fault in self.sandbox.faults],
            rejected=list(self.state.rejected),
            inbound=list(self.state.inbound),
            page_id=params.get("page_id", "")[:64],
            recipient_id=params.get("recipient_id", "")[:64],
            refresh_s=int(refresh) if refresh.isdigit() else 0,
        )
        return Reply(200, render(view).encode(), b"text/html; charset=utf-8")

    def rejected(self, params: dict[str, str]) -> Reply:
        page_id, recipient_id = params.get("page_id", ""), params.get("recipient_id", "")
        calls = [
            call
            for call in self.state.rejected
            if (not page_id or call["page_id"] == page_id)
            and (not recipient_id or call["recipient_id"] == recipient_id)
        ]
        return Reply(200, orjson.dumps({"total": len(calls), "rejected": calls}))

    def note_inbound(self, body: bytes) -> Reply:
        """One note or a list of them (at most MAX_NOTES_PER_CALL); all or none are kept."""
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = None
        items = data if isinstance(data, list) else [data]
        entries = [inbound_message(item) for item in items[:MAX_NOTES_PER_CALL]]
        if not items or len(items) > MAX_NOTES_PER_CALL or any(e is None for e in entries):
            problem = {
                "error": "expected JSON {page_id, sender_id, text, mid?, at_ms?} or a list of "
                f"at most {MAX_NOTES_PER_CALL}"
            }
            return Reply(400, orjson.dumps(problem))
        self.state.inbound.extend(e for e in entries if e is not None)
        return Reply(200, orjson.dumps({"ok": True, "kept": len(entries)}))


async def respond(send: Send, reply: Reply) -> None:
    headers = [
        (b"content-type", reply.content_type),
        (b"content-length", str(len(reply.body)).encode()),
    ]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})
