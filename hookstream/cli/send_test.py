"""`hookstream send-test`: one correctly signed webhook, as Meta would send it, and its reply.

    hookstream send-test                      # beside `hookstream up`: the stack's ingress/sandbox
    hookstream send-test --page 1001 --text "what is the price?"
    hookstream send-test --test-button        # exactly the dashboard's Test sample (entry id "0")
    hookstream send-test --curl               # print the signed body and a curl command instead

The body is serialized the way Meta sends it (non-ASCII as \\uXXXX, "/" as "\\/") and signed
over those bytes (X-Hub-Signature-256 with the app secret). The user is new for every run, so
the conversation starts fresh. The sandbox is told what the user said (the page shows it beside
the reply), then asked for the reply until it arrives or --timeout passes.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import sys
import time
from dataclasses import dataclass
from typing import Any

import httpx

from hookstream.cli._common import stack_of
from hookstream.embedded.stack import DEV_DEFAULTS
from hookstream.embedded.stack_file import StackFile
from hookstream.runtime.errors import ConfigError
from hookstream.runtime.pages import load_pages
from hookstream.runtime.services_table import port_of
from hookstream.runtime.settings import Settings
from ingress.signature import sign

DEFAULT_INGRESS = f"http://127.0.0.1:{port_of('ingress')}/webhook"
DEFAULT_SANDBOX = f"http://127.0.0.1:{port_of('sandbox')}"
META_GRAPH = "graph.facebook.com"
DEFAULT_TEXT = "Hello from hookstream send-test: what is the price?"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "send-test", help="post one signed sample webhook and show the reply the sandbox got"
    )
    parser.add_argument(
        "--url", help=f"the ingress webhook URL (default: the stack's, {DEFAULT_INGRESS})"
    )
    parser.add_argument(
        "--page", help="page id (default: the first answering page of the pages file)"
    )
    parser.add_argument("--user", help="sender id (default: a new one per run)")
    parser.add_argument("--text", default=DEFAULT_TEXT, help="the message text")
    parser.add_argument("--sandbox", help="the Send API sandbox to ask for the reply")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the reply")
    parser.add_argument(
        "--test-button",
        action="store_true",
        help="Meta's Test button sample as is (entry id 0, fake ids): no reply expected",
    )
    parser.add_argument("--curl", action="store_true", help="print a signed curl command only")
    parser.set_defaults(run=run)


def meta_bytes(data: Any) -> bytes:
    """JSON the way Meta sends it: ASCII only (\\uXXXX escapes) and "\\/" for "/"."""
    return json.dumps(data, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/").encode()


def sample_body(page_id: str, user_id: str, text: str, mid: str, now_ms: int) -> dict[str, Any]:
    return {
        "object": "page",
        "entry": [
            {
                "id": page_id,
                "time": now_ms,
                "messaging": [
                    {
                        "sender": {"id": user_id},
                        "recipient": {"id": page_id},
                        "timestamp": now_ms,
                        "message": {"mid": mid, "text": text},
                    }
                ],
            }
        ],
    }


def test_button_body(now_ms: int) -> dict[str, Any]:
    """The Messenger `messages` sample of the app dashboard's Test button."""
    return {
        "object": "page",
        "entry": [
            {
                "id": "0",
                "time": now_ms,
                "messaging": [
                    {
                        "sender": {"id": "12334"},
                        "recipient": {"id": "23245"},
                        "timestamp": "1527459824",
                        "message": {"mid": "test_message_id", "text": "test_message"},
                    }
                ],
            }
        ],
    }


@dataclass(frozen=True)
class Target:
    url: str
    sandbox: str | None
    page_id: str
    secret: str


def answering_page(settings: Settings) -> str | None:
    if settings.pages_file is None:
        return None
    try:
        pages = load_pages(settings.pages_file, os.environ)
    except ConfigError:
        return None
    for page_id, page in pages.pages.items():
        if page.responder != "none" and page.platform != "instagram":
            return page_id
    return None


def sandbox_url(
    args: argparse.Namespace, settings: Settings, stack: StackFile | None
) -> str | None:
    if args.sandbox:
        return str(args.sandbox).rstrip("/")
    if stack is not None and stack.url("sandbox"):
        return stack.url("sandbox")
    base = settings.sender.graph_api_base_url
    return None if META_GRAPH in base else base


def target(args: argparse.Namespace, settings: Settings) -> Target:
    stack = stack_of(args)
    secrets_ = settings.ingress.app_secrets
    return Target(
        url=args.url or (stack.url("ingress", "/webhook") if stack else None) or DEFAULT_INGRESS,
        sandbox=sandbox_url(args, settings, stack),
        page_id=args.page or answering_page(settings) or "1001",
        secret=secrets_[0].reveal() if secrets_ else DEV_DEFAULTS["HOOKSTREAM_APP_SECRETS"],
    )


def curl_command(url: str, body: bytes, signature: str) -> str:
    return (
        f"curl -sS -X POST {shlex.quote(url)} -H 'Content-Type: application/json' "
        f"-H {shlex.quote('X-Hub-Signature-256: ' + signature)} --data-binary "
        f"{shlex.quote(body.decode())}"
    )


def newest_seq(client: httpx.Client, sandbox: str, page_id: str, user_id: str) -> int:
    found = client.get(
        f"{sandbox}/sandbox/messages", params={"page_id": page_id, "recipient_id": user_id}
    ).json()["messages"]
    return max((int(m["seq"]) for m in found), default=0)


def wait_for_reply(
    client: httpx.Client, sandbox: str, page_id: str, user_id: str, since: int, timeout_s: float
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(replies, rejected calls) for the user, once a reply or a rejection shows up."""
    deadline = time.monotonic() + timeout_s
    params = {"page_id": page_id, "recipient_id": user_id}
    while True:
        replies = client.get(
            f"{sandbox}/sandbox/messages", params={**params, "since": since}
        ).json()["messages"]
        rejected = client.get(f"{sandbox}/sandbox/rejected", params=params).json()["rejected"]
        texts = [r for r in replies if not r.get("sender_action")]
        if texts or rejected or time.monotonic() > deadline:
            return replies, rejected
        time.sleep(0.25)


def describe_reply(reply: dict[str, Any], sent_ms: int) -> str:
    text = reply.get("text")
    what = repr(text) if text is not None else f"attachment {reply.get('attachment')}"
    quick = [q.get("title") for q in reply.get("quick_replies") or [] if isinstance(q, dict)]
    extra = f", quick replies {quick}" if quick else ""
    after = (int(reply["received_at_ms"]) - sent_ms) / 1000
    return (
        f"  {what}{extra} ({reply['messaging_type']}, {reply['message_id']}, {after:.2f} s after)"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    where = target(args, settings)
    now_ms = int(time.time() * 1000)
    user_id = args.user or f"send-test-{secrets.token_hex(4)}"
    mid = f"m_send_test_{secrets.token_hex(8)}"
    data = (
        test_button_body(now_ms)
        if args.test_button
        else sample_body(where.page_id, user_id, args.text, mid, now_ms)
    )
    body = meta_bytes(data)
    signature = sign(body, where.secret)
    if args.curl:
        print(curl_command(where.url, body, signature))
        return 0
    with httpx.Client(timeout=10.0) as client:
        since = 0
        if where.sandbox and not args.test_button:
            try:
                since = newest_seq(client, where.sandbox, where.page_id, user_id)
                client.post(
                    f"{where.sandbox}/sandbox/inbound",
                    json={
                        "page_id": where.page_id,
                        "sender_id": user_id,
                        "text": args.text,
                        "mid": mid,
                    },
                )
            except httpx.HTTPError:
                where = Target(where.url, None, where.page_id, where.secret)
        print(
            f"POST {where.url}  (page {data['entry'][0]['id']}, user "
            f"{data['entry'][0]['messaging'][0]['sender']['id']}, X-Hub-Signature-256 over "
            f"{len(body)} bytes)"
        )
        try:
            answer = client.post(
                where.url,
                content=body,
                headers={"content-type": "application/json", "x-hub-signature-256": signature},
            )
        except httpx.HTTPError as exc:
            print(
                f"hookstream send-test: no ingress at {where.url}: {type(exc).__name__} "
                "(is `hookstream up` running? else --url)",
                file=sys.stderr,
            )
            return 1
        print(f"ingress answered {answer.status_code}: {answer.text.strip()[:200]}")
        if answer.status_code != 200:
            if answer.status_code == 401:
                print(
                    "  the signature was refused: is the app secret the ingress's? "
                    "(HOOKSTREAM_APP_SECRETS)"
                )
            return 1
        if args.test_button:
            print("Meta's Test sample (entry id 0, fake ids): stored on inbound, no reply expected")
            return 0
        if where.sandbox is None:
            print("no sandbox to ask for the reply (--sandbox URL); done")
            return 0
        try:
            replies, rejected = wait_for_reply(
                client, where.sandbox, where.page_id, user_id, since, args.timeout
            )
        except httpx.HTTPError as exc:
            print(
                f"hookstream send-test: the sandbox at {where.sandbox} did not answer: "
                f"{type(exc).__name__}",
                file=sys.stderr,
            )
            return 1
    for call in rejected:
        print(
            f"the sandbox rejected a reply: HTTP {call['status']}, Meta error {call['code']}"
            f" {call.get('message') or ''}".rstrip()
        )
    texts = [r for r in replies if not r.get("sender_action")]
    if texts:
        print(
            f"the sandbox received {len(texts)} repl{'y' if len(texts) == 1 else 'ies'} "
            f"to {user_id}:"
        )
        for reply in texts:
            print(describe_reply(reply, now_ms))
        print(f"see it on {where.sandbox}/?recipient_id={user_id}")
        return 0
    if not rejected:
        print(
            f"no reply within {args.timeout:g} s: does the pages file answer page "
            f"{where.page_id}? (`hookstream lag` shows whether the processors and the sender "
            "keep up)"
        )
    return 1
