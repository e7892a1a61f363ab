"""The sandbox's HTTP app: Meta's Send API shape, plus endpoints to see and steer it.

POST /{version}/{page_id}/messages?access_token=...   (also /{version}/me/messages; served
                                                       as plain ASGI by front.SendFront)
GET  /sandbox/messages[?page_id=&recipient_id=&since=]   what was accepted, in order
GET  /sandbox/stats       counters;   POST /sandbox/reset   forget everything
GET  /sandbox/faults      PUT /sandbox/faults  (JSON list, see faults.py)
GET  /                    plain HTML: conversations and their messages
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from hookstream.sandbox.faults import Fault, FaultConfigError, choose_fault, parse_faults
from hookstream.sandbox.html import render
from hookstream.sandbox.meta import MetaError, meta_error, validate_send
from hookstream.sandbox.store import Store

ANY_PAGE = "*"


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status, media_type="application/json")


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer of the Send API: status, body, content type."""

    status: int
    body: bytes
    content_type: bytes = b"application/json"


@dataclass
class Sandbox:
    """`tokens`: token -> the page ids it is valid for ("*" among them: any page)."""

    tokens: Mapping[str, frozenset[str]]
    faults: list[Fault] = field(default_factory=list)
    store: Store = field(default_factory=Store)
    rng: random.Random = field(default_factory=random.Random)

    def routes(self) -> Sequence[BaseRoute]:
        """Everything but the Send API itself, which `SendFront` serves (plain ASGI)."""
        return [
            Route("/sandbox/messages", self.messages, methods=["GET"]),
            Route("/sandbox/stats", self.stats, methods=["GET"]),
            Route("/sandbox/reset", self.reset, methods=["POST"]),
            Route("/sandbox/faults", self.get_faults, methods=["GET"]),
            Route("/sandbox/faults", self.set_faults, methods=["PUT", "POST"]),
            Route("/", self.page, methods=["GET"]),
        ]

    def _error(self, error: MetaError) -> Reply:
        self.store.rejected(error.code)
        return Reply(error.status, orjson.dumps(error.body(uuid.uuid4().hex[:12])))

    def _page_for_token(self, token: str, page_id: str) -> str | None:
        allowed = self.tokens.get(token)
        if not allowed:
            return None
        if page_id == "me":  # a page token names its page; a wildcard token names none
            return next(iter(allowed)) if len(allowed) == 1 and ANY_PAGE not in allowed else None
        return page_id if ANY_PAGE in allowed or page_id in allowed else None

    async def answer(self, page_id: str, token: str, body: bytes) -> Reply:
        """What the Send API answers to `POST /{version}/{page_id}/messages` with this token."""
        page = self._page_for_token(token, page_id)
        if page is None:
            return self._error(meta_error(190))
        fault = choose_fault(self.faults, page, self.rng) if self.faults else None
        if fault is not None:
            return await self._inject(fault)
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return self._error(meta_error(100, message="(#100) The request body is not JSON"))
        problem = validate_send(data)
        if problem is not None:
            return self._error(problem)
        entry = self.store.add(page, data)
        answer = {"recipient_id": entry["recipient_id"]}
        if entry["message_id"]:
            answer["message_id"] = entry["message_id"]
        return Reply(200, orjson.dumps(answer))

    async def _inject(self, fault: Fault) -> Reply:
        if fault.timeout_s:
            await asyncio.sleep(fault.timeout_s)
        if fault.status and not fault.code:
            self.store.rejected(fault.status)
            return Reply(
                fault.status,
                b"<html><body>Service Unavailable</body></html>",
                b"text/html; charset=utf-8",
            )
        if fault.code:
            return self._error(meta_error(fault.code, fault.subcode, status=fault.status))
        return self._error(meta_error(2))

    async def messages(self, request: Request) -> Response:
        query = request.query_params
        selected = self.store.select(
            query.get("page_id", ""),
            query.get("recipient_id", ""),
            int(query.get("since", "0") or 0),
        )
        return _json({"total": self.store.counts["accepted"], "messages": selected})

    async def stats(self, _: Request) -> Response:
        return _json(dict(self.store.counts))

    async def reset(self, _: Request) -> Response:
        self.store.reset()
        self.faults = []
        return _json({"ok": True})

    async def get_faults(self, _: Request) -> Response:
        return _json([fault.as_dict() for fault in self.faults])

    async def set_faults(self, request: Request) -> Response:
        try:
            self.faults = parse_faults(await request.body())
        except FaultConfigError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return _json([fault.as_dict() for fault in self.faults])

    async def page(self, _: Request) -> Response:
        return HTMLResponse(render(self.store))


def sandbox_tokens(
    page_tokens: Mapping[str, str], extra: Sequence[str]
) -> dict[str, frozenset[str]]:
    """token -> page ids, from the pages file (page -> token) and "token" / "page:token" entries.
    Several pages may share a token (as pages of one system user can)."""
    tokens: dict[str, set[str]] = {}
    for page_id, token in page_tokens.items():
        if token:
            tokens.setdefault(token, set()).add(page_id)
    for item in extra:
        page_id, sep, token = item.rpartition(":")
        tokens.setdefault(token, set()).add(page_id if sep and page_id else ANY_PAGE)
    return {token: frozenset(pages) for token, pages in tokens.items()}
