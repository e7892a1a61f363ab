"""`hookstream pages`: connect the configured pages to the app and check they stay connected.

    hookstream pages subscribe [PAGE_ID ...] [--dry-run] [--json]
    hookstream pages status    [PAGE_ID ...] [--json]

`subscribe` subscribes each page through its own endpoint (`POST /{page-id}/subscribed_apps`
with the page's token; an Instagram Login account through graph.instagram.com `/me`), keeping
the fields already there; it reports per page what it did. `status` shows per page the
subscription and its fields, the token (valid, expiry, permissions against those needed), the
last webhook received (ClickHouse) and whether the sender has the page stopped; it exits 1 when
a page is not healthy, so it can run from cron or CI. Every Graph call carries appsecret_proof
when the page's app secret is known.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from hookstream.cli._common import add_sink_url_option
from hookstream.ops.analytics_source import AnalyticsUnavailable, read_analytics
from hookstream.ops.graph_client import GraphAnswer, GraphApi, GraphError
from hookstream.ops.pages_health import (
    PageFacts,
    PageHealth,
    TokenStatus,
    evaluate,
    needed_fields,
    plan_subscription,
    stopped_pages,
    subscribed_fields,
    subscription_target,
    token_problem_text,
    token_status,
)
from hookstream.ops.table import render_table
from hookstream.runtime.clickhouse import ClickHouseUnavailable, parse_clickhouse_url
from hookstream.runtime.pages import PageConfig, PagesConfig, app_secret_for, load_pages
from hookstream.runtime.settings import Settings
from hookstream.runtime.settings.graph_versions import version_warning
from sinks.overview import page_overview
from sinks.stats import StatsRange

DAY_MS = 86_400_000


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("pages", help="subscribe the configured pages; their health")
    actions = parser.add_subparsers(dest="pages_command", metavar="ACTION", required=True)
    subscribe = actions.add_parser("subscribe", help="subscribe each page to the app")
    subscribe.add_argument("page_ids", nargs="*", metavar="PAGE_ID", help="default: all pages")
    subscribe.add_argument("--dry-run", action="store_true", help="show what would change")
    subscribe.add_argument("--json", action="store_true", help="print JSON for scripts")
    subscribe.set_defaults(run=subscribe_command)
    status = actions.add_parser("status", help="per-page health; exit 1 when one is unhealthy")
    status.add_argument("page_ids", nargs="*", metavar="PAGE_ID", help="default: all pages")
    status.add_argument("--json", action="store_true", help="print JSON for scripts")
    status.add_argument(
        "--sender-url", default="", help="the sender (default HOOKSTREAM_OPS_SENDER_URL)"
    )
    add_sink_url_option(status)
    status.set_defaults(run=status_command)


class Context:
    """The pages file, the Graph client and the secrets, for one run of the command."""

    def __init__(self, settings: Settings, transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        self.pages: PagesConfig = load_pages(settings.pages_file, os.environ)
        sender = settings.sender
        self.graph = GraphApi(
            sender.graph_api_base_url,
            sender.graph_api_version,
            sender.instagram_api_base_url,
            transport=transport,
        )

    def secret(self, page: PageConfig) -> str:
        found = app_secret_for(self.pages, page, self.settings.ingress.app_secrets)
        return found.reveal() if found else ""

    def app_id(self, page: PageConfig) -> str:
        app = self.pages.app_of(page)
        return app.app_id if app else ""

    def select(self, page_ids: list[str]) -> tuple[list[PageConfig], list[tuple[str, str]]]:
        """The pages asked for (all by default), and (id, problem) for each id not configured."""
        if not page_ids:
            return list(self.pages.pages.values()), []
        chosen: dict[str, PageConfig] = {}
        unknown = []
        where = self.settings.pages_file or "no pages file (HOOKSTREAM_PAGES_FILE)"
        for page_id in page_ids:
            page = self.pages.page(page_id)
            if page is None:
                unknown.append((page_id, f"not in {where}; add it there or check the id"))
            else:
                chosen[page.page_id] = page
        return list(chosen.values()), unknown


# what a command does with the pages asked for: (args, context, pages, ids not configured) -> code
PagesWork = Callable[[argparse.Namespace, Context, list[PageConfig], list[tuple[str, str]]], int]


def on_pages(
    work: PagesWork,
    args: argparse.Namespace,
    settings: Settings,
    transport: httpx.BaseTransport | None = None,
) -> int:
    """What `subscribe` and `status` open with: the Graph version warning, the context, the
    pages asked for; exit 2 when no page is configured at all."""
    _warn_version(settings)
    ctx = Context(settings, transport)
    with ctx.graph:
        pages, unknown = ctx.select(args.page_ids)
        if not pages and not unknown:
            print("hookstream pages: no pages configured (HOOKSTREAM_PAGES_FILE)", file=sys.stderr)
            return 2
        return work(args, ctx, pages, unknown)


def graph_error_text(error: GraphError, needed: tuple[str, ...] = ()) -> str:
    """One line naming Meta's error and what to do."""
    if error.code == 190:
        return token_problem_text(error.code, error.subcode, error.message)
    if error.code in (10, 200) or 200 <= error.code < 300:
        wanted = f" (needs {', '.join(needed)})" if needed else ""
        return (
            f"permission missing ({error.code}: {error.message}){wanted}: grant it to the app "
            "and generate a new page token"
        )
    if error.code == 100 and "appsecret_proof" in error.message:
        return (
            f"{error.message} (100): the app requires appsecret_proof; give this page its app "
            "(apps: in the pages file) or a single HOOKSTREAM_APP_SECRETS"
        )
    if error.code == 0:
        return f"Graph API: {error.message}"
    label = f"{error.code}/{error.subcode}" if error.subcode else str(error.code)
    return f"Meta error {label}: {error.message}"


def _token_of(page: PageConfig) -> tuple[str, str]:
    """(token, problem)."""
    if page.access_token:
        return page.access_token.reveal(), ""
    if page.access_token_ref:
        return "", f"no access token: {page.access_token_ref[4:]} is not set in the environment"
    return "", "no access token in the pages file"


def _warn_version(settings: Settings) -> None:
    warning = version_warning(settings.sender.graph_api_version, datetime.now(UTC).date())
    if warning:
        print(f"hookstream pages: warning: {warning}", file=sys.stderr)


# --- subscribe ---


def subscribe_page(ctx: Context, page: PageConfig, dry_run: bool) -> dict[str, Any]:
    result: dict[str, Any] = {"page_id": page.page_id, "ok": False, "changed": False}
    token, problem = _token_of(page)
    target = subscription_target(page)
    problem = problem or target.problem
    if problem:
        return {**result, "problem": problem}
    result["node"] = target.node if target.node != "me" else f"me ({target.host})"
    secret = ctx.secret(page)
    current = ctx.graph.subscribed_apps(target.node, token, secret, target.host)
    if not current.ok:
        assert current.error is not None  # noqa: S101 - not ok means an error
        return {**result, "problem": graph_error_text(current.error)}
    have = subscribed_fields(current.data, ctx.app_id(page))
    plan = plan_subscription(have or (), needed_fields(page))
    result.update(before=list(have or ()), added=list(plan.missing), fields=list(plan.send))
    if not plan.changes:
        return {**result, "ok": True, "action": "already subscribed"}
    if dry_run:
        return {**result, "ok": True, "action": "would subscribe"}
    answer: GraphAnswer = ctx.graph.subscribe(target.node, token, plan.send, secret, target.host)
    if not answer.ok:
        assert answer.error is not None  # noqa: S101 - not ok means an error
        return {**result, "problem": graph_error_text(answer.error)}
    if answer.data.get("success") not in (True, "true"):
        return {**result, "problem": f"Meta did not confirm the subscription: {answer.data}"}
    return {**result, "ok": True, "changed": True, "action": "subscribed"}


def subscribe_line(item: dict[str, Any]) -> str:
    page = f"page {item['page_id']}"
    if not item["ok"]:
        return f"{page}: FAILED: {item['problem']}"
    added = ", ".join(item.get("added") or []) or "-"
    if item["action"] == "already subscribed":
        return f"{page}: already subscribed ({', '.join(item['fields'])})"
    return f"{page}: {item['action']} on {item['node']}: +{added}"


def subscribe_command(
    args: argparse.Namespace, settings: Settings, transport: httpx.BaseTransport | None = None
) -> int:
    return on_pages(subscribe, args, settings, transport)


def subscribe(
    args: argparse.Namespace, ctx: Context, pages: list[PageConfig], unknown: list[tuple[str, str]]
) -> int:
    results = [subscribe_page(ctx, page, args.dry_run) for page in pages]
    results += [{"page_id": page_id, "ok": False, "problem": why} for page_id, why in unknown]
    if args.json:
        print(
            orjson.dumps(
                {"dry_run": args.dry_run, "pages": results}, option=orjson.OPT_INDENT_2
            ).decode()
        )
    else:
        for item in results:
            print(subscribe_line(item))
    return 0 if all(item["ok"] for item in results) else 1


# --- status ---


def inspect_token(ctx: Context, page: PageConfig, token: str) -> TokenStatus:
    secret = ctx.secret(page)
    if page.platform == "instagram" and page.login == "instagram":
        # graph.instagram.com has no debug_token: a call with the token says whether it works
        me = ctx.graph.node("me", token, "user_id,username", secret, "instagram")
        if me.ok:
            return TokenStatus(True, None, (), scopes_known=False)
        assert me.error is not None  # noqa: S101 - not ok means an error
        return _token_from_error(me.error)
    app_id = ctx.app_id(page)
    access, access_secret = (f"{app_id}|{secret}", secret) if app_id and secret else (token, secret)
    answer = ctx.graph.debug_token(token, access, access_secret)
    if not answer.ok:
        assert answer.error is not None  # noqa: S101 - not ok means an error
        return _token_from_error(answer.error)
    data = answer.data.get("data")
    return token_status(data if isinstance(data, dict) else {})


def _token_from_error(error: GraphError) -> TokenStatus:
    if error.code == 190:
        return TokenStatus(
            False,
            None,
            (),
            token_problem_text(190, error.subcode, error.message),
            190,
            error.subcode,
        )
    return TokenStatus(None, None, (), f"token: could not be inspected: {graph_error_text(error)}")


def last_webhooks(settings: Settings, sink_url: str) -> tuple[dict[str, int], str]:
    """page -> the start of the last minute with an inbound webhook, and a note when unknown."""
    now = int(time.time() * 1000)
    rng = StatsRange(now - DAY_MS, now)
    target = parse_clickhouse_url(settings.sink.clickhouse_url)
    try:
        body = read_analytics(
            target,
            sink_url or settings.sink.query_url,
            "/api/overview",
            {"from_ms": rng.from_ms, "to_ms": rng.to_ms},
            lambda client: page_overview(client, target.database, rng),
        )
    except (AnalyticsUnavailable, ClickHouseUnavailable) as exc:
        return {}, f"unknown: {exc}"
    found = {
        str(p["page_id"]): int(p["last_webhook_minute_ms"])
        for p in body.get("pages") or []
        if isinstance(p, dict) and p.get("last_webhook_minute_ms") is not None
    }
    return found, "none recorded in ClickHouse"


def sender_stops(url: str) -> tuple[dict[str, bool] | None, str]:
    try:
        response = httpx.get(f"{url}/metrics", timeout=5)
    except httpx.HTTPError:
        return None, f"unknown: no sender answered at {url} (HOOKSTREAM_OPS_SENDER_URL)"
    if response.status_code != 200:
        return None, f"unknown: the sender at {url} answered {response.status_code}"
    return stopped_pages(response.text), ""


def status_of(
    ctx: Context,
    page: PageConfig,
    webhooks: tuple[dict[str, int], str],
    stops: tuple[dict[str, bool] | None, str],
) -> PageHealth:
    target = subscription_target(page)
    facts = PageFacts(page, target)
    token, problem = _token_of(page)
    if problem:
        facts.token = TokenStatus(False, None, (), f"token: {problem}")
    else:
        facts.token = inspect_token(ctx, page, token)
        if not target.problem:
            answer = ctx.graph.subscribed_apps(target.node, token, ctx.secret(page), target.host)
            if answer.ok:
                facts.fields = subscribed_fields(answer.data, ctx.app_id(page))
            elif answer.error is not None and not (
                answer.error.code == 190 and facts.token.problem
            ):
                facts.subscription_error = graph_error_text(answer.error)
            else:
                facts.subscription_error = "unknown until the token works"
    seen, note = webhooks
    ids = (page.page_id, *page.aliases)
    times = [seen[i] for i in ids if i in seen]
    facts.last_webhook_ms = max(times) if times else None
    facts.last_webhook_note = note
    stopped, sender_note = stops
    if stopped is not None:
        facts.sender_stopped = stopped.get(page.page_id, False)
    facts.sender_note = sender_note
    return evaluate(facts, int(time.time()))


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _token_cell(health: PageHealth) -> str:
    if health.token_valid is None:
        return "unknown"
    if not health.token_valid:
        return "INVALID"
    if health.token_expires_at:
        return f"valid until {_when(health.token_expires_at * 1000)}"
    return "valid" + (", never expires" if health.token_expires_at == 0 else "")


def _permissions_cell(health: PageHealth) -> str:
    if not health.permissions_checked:
        return "-"
    if health.missing_permissions:
        return "missing " + ",".join(health.missing_permissions)
    return "ok"


def render_status(healths: list[PageHealth]) -> str:
    rows = [
        [
            h.page_id,
            h.platform if h.platform == "messenger" else f"instagram/{h.login}",
            "unknown" if h.subscribed is None else ("yes" if h.subscribed else "NO"),
            str(len(h.fields)) + (f" (-{len(h.missing_fields)})" if h.missing_fields else ""),
            _token_cell(h),
            _permissions_cell(h),
            _when(h.last_webhook_ms),
            "unknown"
            if h.sender_stopped is None
            else ("STOPPED" if h.sender_stopped else "sending"),
            "ok" if h.healthy else "UNHEALTHY",
        ]
        for h in healths
    ]
    headers = (
        "PAGE",
        "PLATFORM",
        "SUBSCRIBED",
        "FIELDS",
        "TOKEN",
        "PERMISSIONS",
        "LAST_WEBHOOK",
        "SENDER",
        "HEALTH",
    )
    lines = [render_table(rows, headers)]
    for h in healths:
        lines += [f"page {h.page_id}: {problem}" for problem in h.problems]
        lines += [f"page {h.page_id}: note: {note}" for note in h.notes]
    return "\n".join(lines)


def status_command(
    args: argparse.Namespace, settings: Settings, transport: httpx.BaseTransport | None = None
) -> int:
    return on_pages(status, args, settings, transport)


def status(
    args: argparse.Namespace, ctx: Context, pages: list[PageConfig], unknown: list[tuple[str, str]]
) -> int:
    webhooks = last_webhooks(ctx.settings, args.sink_url)
    stops = sender_stops(args.sender_url or ctx.settings.ops.sender_url)
    healths = [status_of(ctx, page, webhooks, stops) for page in pages]
    if args.json:
        body = {
            "pages": [h.as_dict() for h in healths],
            "unknown": [{"page_id": i, "problem": why} for i, why in unknown],
            "healthy": all(h.healthy for h in healths) and not unknown,
        }
        print(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
    else:
        print(render_status(healths))
        for page_id, why in unknown:
            print(f"page {page_id}: {why}")
    return 0 if all(h.healthy for h in healths) and not unknown else 1
