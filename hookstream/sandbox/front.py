"""The sandbox's Send API endpoint as plain ASGI, in front of its Starlette app.

`POST /{version}/{page_id}/messages` is the only hot path: the sender's benchmark pushes
thousands of calls a second through it, and Starlette's Request/Response and middleware layers
cost more than the sandbox's own work (validation, storing the message). Everything else goes
to the Starlette app.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from hookstream.sandbox.app import Reply, Sandbox


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


class SendFront:
    def __init__(self, sandbox: Sandbox, fallback: ASGIApp) -> None:
        self.sandbox, self.fallback = sandbox, fallback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        page_id = send_api_page(scope)
        if page_id is None:
            await self.fallback(scope, receive, send)
            return
        reply = await self.sandbox.answer(page_id, access_token(scope), await read_body(receive))
        await respond(send, reply)


async def respond(send: Send, reply: Reply) -> None:
    headers = [
        (b"content-type", reply.content_type),
        (b"content-length", str(len(reply.body)).encode()),
    ]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})
