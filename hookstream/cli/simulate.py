"""`hookstream simulate`: signed synthetic webhook traffic against an ingress.

Beside `hookstream up` it posts to the stack's ingress and, unless `--pages N` is given, to the
pages of the stack's pages file (Messenger pages and Instagram accounts), so every simulated
conversation can be answered. The seed differs per run (message ids too, so a second run is new
traffic, not duplicates); `--seed S` repeats a run. The summary counts the events sent to pages
that the pages file does not answer for.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from hookstream.cli._common import stack_of
from hookstream.embedded.stack import DEV_DEFAULTS
from hookstream.runtime.errors import ConfigError
from hookstream.runtime.pages import PagesConfig, load_pages
from hookstream.runtime.services_table import port_of
from hookstream.runtime.settings import Settings
from hookstream.simulate.runner import LoadResult, run_load
from hookstream.simulate.traffic import TrafficModel

DEFAULT_URL = f"http://127.0.0.1:{port_of('ingress')}/webhook"
# About 100 events/s (a body carries ~4 events): well within what the embedded stack answers on
# two cores (see the benchmarks); raise --rate to find the machine's limit.
DEFAULT_RATE = 25.0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("simulate", help="send signed synthetic webhook traffic")
    parser.add_argument("--url", help=f"webhook URL (default: the stack's ingress, {DEFAULT_URL})")
    parser.add_argument(
        "--rate",
        type=float,
        default=DEFAULT_RATE,
        help=f"requests per second, ~4 events each (default {DEFAULT_RATE:g})",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds")
    parser.add_argument(
        "--pages",
        type=int,
        default=None,
        help="N synthetic pages 1001.. (default: the pages of the pages file, else 10)",
    )
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--duplicates", type=float, default=0.02, help="share of redeliveries")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight at most")
    parser.add_argument("--seed", type=int, default=None, help="repeat a run (default: random)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON only")
    parser.add_argument(
        "--acked-ids",
        type=Path,
        default=None,
        metavar="FILE",
        help="write the event ids of every acknowledged body to FILE, one a line (benchmarks)",
    )
    parser.set_defaults(run=run)


@dataclass(frozen=True)
class PagePlan:
    """Which pages to simulate, and which of them the pages file answers for."""

    messenger: tuple[str, ...] | None  # None: synthetic ids
    instagram: tuple[str, ...]
    answered: frozenset[str] | None  # None: no pages file, unknown
    source: str  # the pages file, or "" when there is none


def page_plan(pages: PagesConfig | None, synthetic: int | None) -> PagePlan:
    """The pages file's pages unless a synthetic count was asked for (pure)."""
    if pages is None:
        return PagePlan(None, (), None, "")
    answered = frozenset(p for p, c in pages.pages.items() if c.responder != "none")
    source = str(pages.source or "")
    if synthetic is not None or not pages.pages:
        return PagePlan(None, (), answered, source)
    messenger = tuple(p for p, c in pages.pages.items() if c.platform != "instagram")
    instagram = tuple(p for p, c in pages.pages.items() if c.platform == "instagram")
    return PagePlan(messenger, instagram, answered, source)


def unanswered(model: TrafficModel, plan: PagePlan) -> dict[str, Any]:
    """Events sent to pages the pages file does not answer for (pure)."""
    if plan.answered is None:
        return {"unanswered_pages": None, "unanswered_events": None}
    missing = sorted(p for p in model.events_by_page if p not in plan.answered)
    return {
        "unanswered_pages": missing,
        "unanswered_events": sum(model.events_by_page[p] for p in missing),
    }


def read_pages(settings: Settings, environ: Mapping[str, str]) -> PagesConfig | None:
    if settings.pages_file is None:
        return None
    try:
        return load_pages(settings.pages_file, environ)
    except ConfigError:
        return None  # simulate still runs; the processors report a broken file


def tell_sandbox(sandbox: str, notes: list[dict[str, Any]], chunk: int = 5000) -> int:
    """Tell the stack's sandbox what the simulated users said (its page shows it beside the
    replies); the number of notes it kept (0 if it did not answer)."""
    kept = 0
    try:
        with httpx.Client(timeout=10.0) as client:
            for start in range(0, len(notes), chunk):
                answer = client.post(
                    f"{sandbox}/sandbox/inbound", json=notes[start : start + chunk]
                )
                kept += int(answer.json().get("kept", 0)) if answer.status_code == 200 else 0
    except (httpx.HTTPError, ValueError):
        return kept
    return kept


def human_lines(summary: dict[str, Any], plan: PagePlan) -> list[str]:
    shown = dict(summary)
    shown.pop("sandbox_notes", None)
    latency = shown.pop("latency_ms")
    missing = shown.pop("unanswered_pages")
    missing_events = shown.pop("unanswered_events")
    lines = [f"{key:>17}: {value}" for key, value in shown.items()]
    lines.append(f"{'latency':>17}: " + ", ".join(f"{k} {v} ms" for k, v in latency.items()))
    if missing is None:
        lines.append(f"{'unanswered':>17}: unknown (no pages file: no page is answered)")
    elif missing:
        listed = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        lines.append(
            f"{'unanswered':>17}: {missing_events} event(s) to {len(missing)} page(s) the pages "
            f"file {plan.source} does not answer for ({listed})"
        )
    else:
        lines.append(f"{'unanswered':>17}: none (every page is in {plan.source})")
    lines.append(f"repeat this run with --seed {summary['seed']}")
    if summary["rejected"]:
        lines.append("rejected requests: is the app secret the ingress's? (HOOKSTREAM_APP_SECRETS)")
    return lines


def run_fast(load: Coroutine[Any, Any, LoadResult]) -> LoadResult:
    """The load on uvloop when it is installed (less CPU per request), else asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(load)
    return uvloop.run(load)


def run(args: argparse.Namespace, settings: Settings) -> int:
    app_secrets = settings.ingress.app_secrets
    secret = app_secrets[0].reveal() if app_secrets else DEV_DEFAULTS["HOOKSTREAM_APP_SECRETS"]
    stack = stack_of(args)
    url = args.url or (stack.url("ingress", "/webhook") if stack else None) or DEFAULT_URL
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    plan = page_plan(read_pages(settings, os.environ), args.pages)
    sandbox = stack.url("sandbox") if stack else None
    model = TrafficModel(
        keep_notes=sandbox is not None,
        pages=args.pages or 10,
        users=args.users,
        duplicate_rate=args.duplicates,
        seed=seed,
        page_ids=plan.messenger,
        instagram_ids=plan.instagram,
    )
    load = run_load(
        url,
        secret,
        model,
        args.rate,
        args.duration,
        args.concurrency,
        progress=not args.json,
        with_ids=args.acked_ids is not None,
    )
    result = run_fast(load)
    summary = {**result.summary(), "seed": seed, **unanswered(model, plan)}
    if args.acked_ids is not None:
        args.acked_ids.write_text("".join(f"{i}\n" for i in sorted(result.acked_ids)))
    if sandbox is not None:
        summary["sandbox_notes"] = tell_sandbox(sandbox, list(model.notes))
    if args.json:
        print(orjson.dumps(summary).decode())
    else:
        print(
            f"simulated {url}, pages {', '.join(model.all_pages[:6])}"
            + (" ..." if len(model.all_pages) > 6 else "")
        )
        print("\n".join(human_lines(summary, plan)))
        if sandbox is not None:
            print(f"the replies, beside what the users said: {sandbox}/")
    return 0 if summary["sent"] == summary["accepted"] else 1
