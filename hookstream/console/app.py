"""The console's routes: overview, search (trace), dead letters and their redrive, login.

    app = console_routes(sources, access, templates)  # Starlette routes for ServiceHttp

Every handler answers a page: a malformed search is a 400 page that says what is accepted, an
id that matches nothing a 404 page, an action without the key a 401 page, a cross-site form a
403 page; a source that is down is shown on the page, never a traceback.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from hookstream.console.auth import CSRF_FIELD, SESSION_COOKIE, Access
from hookstream.console.dead_letters import DeadLetterView, redrive_ids
from hookstream.console.sources import ConsoleSources
from hookstream.ops.analytics_source import AnalyticsUnavailable
from hookstream.ops.trace import found, no_reply_reasons, timeline
from hookstream.runtime.clickhouse import ClickHouseUnavailable
from hookstream.runtime.logging import event, get_logger
from sinks.trace import BadTraceId

TEMPLATES = Path(__file__).parent / "templates"
Handler = Callable[[Request], Awaitable[Response]]
log = get_logger("hookstream.console")


class Console:
    def __init__(self, sources: ConsoleSources, access: Access) -> None:
        self.sources, self.access = sources, access
        self.templates = Jinja2Templates(directory=str(TEMPLATES))
        self.templates.env.filters["clock"] = _clock

    def page(self, request: Request, name: str, status: int = 200, **context: Any) -> Response:
        context |= {
            "signed_in": self.access.authenticated(request.headers, request.cookies),
            "actions_enabled": self.access.actions_enabled,
            "csrf_field": CSRF_FIELD,
            "csrf_token": self.access.form_token() if self.access.actions_enabled else "",
            "refresh_s": self.sources.settings.console.refresh_s,
        }
        return self.templates.TemplateResponse(request, name, context, status_code=status)

    def problem(self, request: Request, status: int, title: str, detail: str) -> Response:
        return self.page(request, "problem.html", status, title=title, detail=detail)

    def readable(self, handler: Handler) -> Handler:
        async def guarded(request: Request) -> Response:
            if not self.access.may_read(request.headers, request.cookies):
                return self.problem(
                    request,
                    401,
                    "Sign in to read this console",
                    "The console listens beyond loopback, so every page needs the API key "
                    "(HOOKSTREAM_API_KEY): sign in, or send Authorization: Bearer <key>.",
                )
            return await handler(request)

        return guarded

    async def overview(self, request: Request) -> Response:
        now_ms = int(time.time() * 1000)
        figures: dict[str, Any] = {"pages": []}
        figures_error = ""
        try:
            figures = await self.sources.page_figures(now_ms)
        except (AnalyticsUnavailable, ClickHouseUnavailable) as exc:
            figures_error = str(exc)
        sender = await self.sources.sender_pages()
        lag = self.sources.lag
        return self.page(
            request,
            "overview.html",
            figures=figures,
            figures_error=figures_error,
            sender=sender,
            max_rate=self.sources.settings.sender.page_rate_per_s,
            lag_rows=lag[0].rows if lag else (),
            groups={g.group: g for g in lag[0].groups} if lag else {},
            statuses={k: v.name for k, v in lag[1].items()} if lag else {},
            lag_error=self.sources.lag_error,
            window_minutes=self.sources.settings.console.window_minutes,
        )

    async def search(self, request: Request) -> Response:
        text = request.query_params.get("q", "")
        if not text.strip():
            return self.page(request, "search.html", query="")
        try:
            query = self.sources.trace_query(text)
            facts = await self.sources.trace(query)
        except BadTraceId as exc:
            return self.problem(request, 400, "Not an id the console can search", str(exc))
        except (AnalyticsUnavailable, ClickHouseUnavailable) as exc:
            return self.problem(request, 503, "ClickHouse did not answer", str(exc))
        if not found(facts):
            days = self.sources.settings.console.lookback_days
            detail = f"no such message in the last {days} days: {query.id}"
            return self.problem(request, 404, "Nothing found", detail)
        return self.page(
            request,
            "trace.html",
            query=query.id,
            steps=timeline(facts),
            facts=facts,
            no_reply=no_reply_reasons(facts),
            conversation=":" in query.id and not facts["replies"] == [],
        )

    async def dead_letters(self, request: Request) -> Response:
        view = DeadLetterView.from_params(dict(request.query_params))
        try:
            letters, redriven = await view.load(self.sources.settings.kafka)
        except Exception as exc:  # noqa: BLE001 - the broker's trouble is shown, not raised
            return self.problem(request, 503, "The dlq topic could not be read", str(exc)[:300])
        return self.page(
            request, "dead_letters.html", view=view, letters=letters, redriven=redriven
        )

    async def dead_letter(self, request: Request) -> Response:
        wanted = request.path_params["letter_id"]
        letters, redriven = await DeadLetterView(ids=(wanted,)).load(self.sources.settings.kafka)
        if not letters:
            return self.problem(request, 404, "No such dead letter", f"no dead letter {wanted}")
        letter = letters[-1]
        return self.page(
            request,
            "dead_letter.html",
            letter=letter,
            original=letter.original_bytes().decode(errors="replace")[:20_000],
            redriven=letter.dead_letter_id in redriven,
        )

    async def redrive(self, request: Request) -> Response:
        refusal = await self.refuse_action(request)
        if refusal is not None:
            return refusal
        form = await request.form()
        ids = tuple(str(v) for v in form.getlist("id") if str(v))
        if not ids:
            return self.problem(request, 400, "Nothing selected", "tick the letters to redrive")
        try:
            outcome = await redrive_ids(self.sources.settings, ids)
        except Exception as exc:  # noqa: BLE001 - what failed is shown, with what was done
            return self.problem(request, 502, "Redrive failed", str(exc)[:500])
        event(log, "console_redrive", sent=outcome.sent, skipped=len(outcome.skipped))
        return self.page(request, "redriven.html", outcome=outcome)

    async def refuse_action(self, request: Request) -> Response | None:
        if not self.access.actions_enabled:
            return self.problem(
                request,
                401,
                "Actions are disabled",
                "Set HOOKSTREAM_API_KEY for the console to enable redrive.",
            )
        if not self.access.authenticated(request.headers, request.cookies):
            return self.problem(
                request, 401, "Sign in first", "Redrive needs the API key: sign in on /login."
            )
        form = await request.form()
        token = str(form.get(CSRF_FIELD, ""))
        if not self.access.form_allowed(request.headers, token):
            return self.problem(
                request,
                403,
                "Refused: not a form of this console",
                "The request came from another site or without the console's form token.",
            )
        return None

    async def login(self, request: Request) -> Response:
        if request.method == "GET":
            return self.page(request, "login.html", failed=False)
        form = await request.form()
        if not self.access.key_matches(str(form.get("key", ""))):
            return self.page(request, "login.html", 401, failed=True)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            SESSION_COOKIE, self.access.session_value(), httponly=True, samesite="strict"
        )
        return response

    async def logout(self, request: Request) -> Response:
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    def routes(self) -> list[Route]:
        return [
            Route("/", self.readable(self.overview)),
            Route("/search", self.readable(self.search)),
            Route("/dead-letters", self.readable(self.dead_letters)),
            Route("/dead-letters/redrive", self.redrive, methods=["POST"]),
            Route("/dead-letters/{letter_id:path}", self.readable(self.dead_letter)),
            Route("/login", self.login, methods=["GET", "POST"]),
            Route("/logout", self.logout, methods=["POST"]),
        ]


def _clock(ms: int | None) -> str:
    if not ms:
        return "—"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"
