"""The sandbox's HTTP app: Meta's Send API shape, plus endpoints to see and steer it.

POST /{version}/{page_id}/messages?access_token=...   (also /{version}/me/messages; served
                                                       as plain ASGI by front.SendFront)
GET  /sandbox/messages[?page_id=&recipient_id=&since=]   what was accepted, in order
GET  /sandbox/stats       counters;   POST /sandbox/reset   forget everything
GET  /sandbox/faults      PUT /sandbox/faults  (JSON list, see faults.py)
GET  /sandbox/graph       PUT /sandbox/graph   (tokens, subscriptions, appsecret_proof; graph.py)
GET  /{version}/debug_token, /{version}/me, /{version}/{node}, and GET/POST/DELETE
     /{version}/{node}/subscribed_apps: the Graph calls of `hookstream pages` (see graph.py)
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
from hookstream.sandbox.graph import (
    GraphConfigError,
    GraphState,
    check_fields,
    debug_data,
    error_body,
    expired_error,
    fields_param,
    is_app_token,
    node_answer,
    subscribed_answer,
)
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
    graph: GraphState = field(default_factory=GraphState)
    instagram_ids: frozenset[str] = frozenset()  # nodes that are Instagram accounts

    def routes(self) -> Sequence[BaseRoute]:
        """Everything but the Send API itself, which `SendFront` serves (plain ASGI)."""
        return [
            Route("/sandbox/messages", self.messages, methods=["GET"]),
            Route("/sandbox/stats", self.stats, methods=["GET"]),
            Route("/sandbox/reset", self.reset, methods=["POST"]),
            Route("/sandbox/faults", self.get_faults, methods=["GET"]),
            Route("/sandbox/faults", self.set_faults, methods=["PUT", "POST"]),
            Route("/sandbox/graph", self.get_graph, methods=["GET"]),
            Route("/sandbox/graph", self.set_graph, methods=["PUT", "POST"]),
            Route("/", self.page, methods=["GET"]),
            Route("/{version}/debug_token", self.debug_token, methods=["GET"]),
            Route(
                "/{version}/{node}/subscribed_apps",
                self.subscribed_apps,
                methods=["GET", "POST", "DELETE"],
            ),
            Route("/{version}/{node}", self.node, methods=["GET"]),
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
        if self.graph.tokens:
            info = self.graph.tokens.get(token)
            if info is not None and info.expired:
                return self._error(expired_error())
            if info is not None and not _can_message(info.scopes):
                return self._error(
                    meta_error(
                        10, message="(#10) Requires pages_messaging permission to manage the object"
                    )
                )
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
        # total: the messages this filter matched (the page's counts are per filter too)
        counts = self.store.counts
        return _json(
            {
                "total": len(selected),
                "accepted_all": counts["accepted"],
                "rejected_all": counts["rejected"],
                "messages": selected,
            }
        )

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

    # --- the Graph calls of `hookstream pages` (graph.py has the rules) ---

    def _graph_error(self, error: MetaError) -> Response:
        self.store.rejected(error.code)
        return Response(error_body(error), error.status, media_type="application/json")

    def _token(self, request: Request) -> str:
        token = request.query_params.get("access_token", "")
        header = request.headers.get("authorization", "")
        return token or (header[7:].strip() if header[:7].lower() == "bearer " else "")

    def _node_for(self, request: Request, node: str) -> tuple[str, str] | Response:
        """(page id, token) of a call on `node` ("me" included), or Meta's error answer."""
        token = self._token(request)
        problem = self.graph.token_problem(token, bool(self.tokens.get(token)))
        if problem is not None:
            return self._graph_error(problem)
        page = self._page_for_token(token, node)
        if page is None:
            return self._graph_error(
                meta_error(
                    210, message="(#210) A page access token is required to request this resource."
                )
            )
        return page, token

    async def get_graph(self, _: Request) -> Response:
        return _json(self.graph.as_dict())

    async def set_graph(self, request: Request) -> Response:
        try:
            data = orjson.loads(await request.body())
            self.graph.configure(data)
            if isinstance(data, dict) and "instagram_ids" in data:
                self.instagram_ids = frozenset(str(i) for i in data["instagram_ids"])
        except (orjson.JSONDecodeError, GraphConfigError) as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return _json(self.graph.as_dict())

    async def debug_token(self, request: Request) -> Response:
        access = self._token(request)
        if not is_app_token(access):
            problem = self.graph.token_problem(access, bool(self.tokens.get(access)))
            if problem is not None:
                return self._graph_error(problem)
        input_token = request.query_params.get("input_token", "")
        if not input_token:
            return self._graph_error(
                meta_error(100, message="(#100) The parameter input_token is required")
            )
        pages = self.tokens.get(input_token)
        return _json({"data": debug_data(input_token, pages, self.graph.info(input_token))})

    async def node(self, request: Request) -> Response:
        found = self._node_for(request, request.path_params["node"])
        if isinstance(found, Response):
            return found
        page, _ = found
        requested = fields_param(request.query_params.get("fields", ""))
        return _json(node_answer(page, requested, page in self.instagram_ids))

    async def subscribed_apps(self, request: Request) -> Response:
        found = self._node_for(request, request.path_params["node"])
        if isinstance(found, Response):
            return found
        page, token = found
        instagram = page in self.instagram_ids
        needed = "instagram_business_manage_messages" if instagram else "pages_manage_metadata"
        if needed not in self.graph.info(token).scopes:
            return self._graph_error(
                meta_error(200, message=f"(#200) Requires {needed} permission to manage the object")
            )
        if request.method == "GET":
            return _json(subscribed_answer(self.graph.subscriptions.get(page, ())))
        if request.method == "DELETE":
            self.graph.subscriptions.pop(page, None)
            return _json({"success": True})
        form = await request.form()
        raw = request.query_params.get("subscribed_fields") or str(
            form.get("subscribed_fields") or ""
        )
        requested = fields_param(raw)
        if not requested:
            return self._graph_error(
                meta_error(100, message="(#100) The parameter subscribed_fields is required.")
            )
        problem = check_fields(requested, instagram)
        if problem is not None:
            return self._graph_error(problem)
        self.graph.subscriptions[page] = tuple(dict.fromkeys(requested))
        return _json({"success": True})


def _can_message(scopes: tuple[str, ...]) -> bool:
    return any(
        scope in scopes
        for scope in (
            "pages_messaging",
            "instagram_manage_messages",
            "instagram_business_manage_messages",
        )
    )


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
