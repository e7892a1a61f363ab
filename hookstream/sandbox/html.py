"""The sandbox's page: what the Send API accepted and rejected, per conversation, at a glance.

Pure: a `PageView` in, HTML out. Newest conversations first; each shows its replies with their
time, and what the user said before each reply when the sandbox knows it (`POST
/sandbox/inbound`, e.g. from `hookstream send-test`). Rejected calls are listed with Meta's error,
active faults (error injection) on top. `page_id` / `recipient_id` filter the conversations, the
rejected calls and the counts shown; every count says what it counts.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any
from urllib.parse import urlencode

from hookstream.sandbox.store import Store

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1c1e21;
background:#f0f2f5}
header{background:#1877f2;color:#fff;padding:12px 24px}
header h1{font-size:20px;margin:0}
header p{margin:4px 0 0;opacity:.9}
main{padding:16px 24px;max-width:1200px}
section{background:#fff;border-radius:8px;box-shadow:0 1px 2px rgba(0,0,0,.15);
padding:12px 16px;margin-bottom:16px}
h2{font-size:16px;margin:0 0 8px}
h3{font-size:14px;margin:0 0 6px;font-weight:600}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e4e6eb;vertical-align:top}
th{font-size:12px;color:#65676b;font-weight:600}
td.time,td.id{white-space:nowrap;font:12px ui-monospace,monospace;color:#65676b}
td.user{color:#050505;background:#f0f2f5}
table.conv{table-layout:fixed}
col.time{width:110px} col.user{width:27%} col.page{width:31%} col.type{width:100px}
td.id{overflow:hidden;text-overflow:ellipsis}
.ok{color:#2e7d32}
td.page{color:#0b3d91}
.counts span{display:inline-block;margin-right:18px}
.counts b{font-size:18px}
.bad{color:#c62828}
.warn{background:#fff4e5;border-left:4px solid #f5a623}
.muted{color:#65676b}
form{display:inline}
input{font:inherit;padding:2px 6px;width:12em}
button,a.button{font:inherit;padding:2px 10px;border:1px solid #ccd0d5;border-radius:4px;
background:#f5f6f7;color:#1c1e21;text-decoration:none;cursor:pointer}
"""


@dataclass(frozen=True)
class PageView:
    store: Store
    faults: Sequence[dict[str, Any]] = ()
    rejected: Sequence[dict[str, Any]] = ()
    inbound: Sequence[dict[str, Any]] = ()
    page_id: str = ""
    recipient_id: str = ""
    refresh_s: int = 0
    limit_conversations: int = 100
    limit_messages: int = 50
    limit_rejected: int = 50
    now_ms: int = field(default_factory=lambda: int(time.time() * 1000))

    def wanted(self, page_id: str, user_id: str) -> bool:
        return (not self.page_id or page_id == self.page_id) and (
            not self.recipient_id or user_id == self.recipient_id
        )

    @property
    def filtered(self) -> bool:
        return bool(self.page_id or self.recipient_id)


def _plural(n: int, one: str, many: str) -> str:
    return one if n == 1 else many


def clock(ms: int) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}"


def _reply_text(message: dict[str, Any]) -> str:
    if message.get("sender_action"):
        return f"<i>[{escape(str(message['sender_action']))}]</i>"
    if message.get("text") is not None:
        what = escape(str(message["text"]))
    else:
        what = f"<i>[attachment {escape(str(message.get('attachment'))[:200])}]</i>"
    quick = message.get("quick_replies") or []
    titles = ", ".join(escape(str(q.get("title", ""))) for q in quick if isinstance(q, dict))
    if titles:
        what += f" <small class=muted>quick replies: {titles}</small>"
    return what


def timeline(
    replies: Sequence[dict[str, Any]], said: Sequence[dict[str, Any]]
) -> list[tuple[int, str, str, dict[str, Any] | None]]:
    """Rows (time, what the user said, what the page replied, the reply) in time order: each
    reply beside the user's message before it, when the sandbox knows that message."""
    events = sorted(
        [(m["at_ms"], 0, m) for m in said] + [(m["received_at_ms"], 1, m) for m in replies],
        key=lambda e: (e[0], e[1]),
    )
    rows: list[tuple[int, str, str, dict[str, Any] | None]] = []
    open_row = -1  # the index of a user message still without a reply beside it
    for at_ms, kind, item in events:
        if kind == 0:
            rows.append((at_ms, escape(item["text"]), "", None))
            open_row = len(rows) - 1
        elif open_row >= 0:
            at, user, _, _ = rows[open_row]
            after = f" <small class=muted>{(at_ms - at) / 1000:.1f} s later</small>"
            rows[open_row] = (at, user, _reply_text(item) + after, item)
            open_row = -1
        else:
            rows.append((at_ms, "", _reply_text(item), item))
    return rows


def _conversation(
    view: PageView, key: tuple[str, str], replies: list[dict[str, Any]], said: list[dict[str, Any]]
) -> str:
    page_id, user_id = key
    shown = replies[-view.limit_messages :]
    since = shown[0]["received_at_ms"] if len(shown) < len(replies) else 0
    known = [m for m in said if m["at_ms"] >= since]
    rows = timeline(shown, known)
    link = "?" + urlencode({"page_id": page_id, "recipient_id": user_id})
    more = f", the last {len(shown)} shown" if len(shown) < len(replies) else ""
    unknown = "" if known else " <small class=muted>(what the user said is not known here)</small>"
    user_col = "<col class=user>" if known else ""
    user_head = "<th>user said</th>" if known else ""
    parts = [
        f"<section><h3>page {escape(page_id)} &harr; user <a href='{escape(link)}'>"
        f"{escape(user_id)}</a> <small class=muted>{len(replies)} "
        f"{_plural(len(replies), 'reply', 'replies')}{more}</small>{unknown}</h3>",
        f"<table class=conv><colgroup><col class=time>{user_col}<col class=page>"
        f"<col class=type><col></colgroup><tr><th>time (UTC)</th>{user_head}"
        "<th>page replied</th><th>type</th><th>message id</th></tr>",
    ]
    for at_ms, user, page, reply in rows:
        kind = escape(str(reply.get("messaging_type", ""))) if reply else ""
        if reply and reply.get("tag"):
            kind += f" <small>{escape(str(reply['tag']))}</small>"
        mid = escape(str(reply.get("message_id") or "-")) if reply else ""
        user_cell = f"<td class=user>{user or '<span class=muted>-</span>'}</td>" if known else ""
        parts.append(
            f"<tr><td class=time>{clock(at_ms)}</td>{user_cell}"
            f"<td class=page>{page}</td><td>{kind}</td><td class=id>{mid}</td></tr>"
        )
    parts.append("</table></section>")
    return "\n".join(parts)


def _faults(view: PageView) -> str:
    active = [f for f in view.faults if not f.get("count") or f.get("fired", 0) < f["count"]]
    if not active:
        return (
            "<section><h2>Active faults</h2><p class=muted>none: every valid call succeeds"
            " (PUT /sandbox/faults to inject errors)</p></section>"
        )
    rows = []
    for fault in active:
        if fault.get("code"):
            what = f"Meta error {fault['code']}" + (
                f"/{fault['subcode']}" if fault.get("subcode") else ""
            )
        elif fault.get("status"):
            what = f"HTTP {fault['status']}"
        else:
            what = f"no answer for {fault.get('timeout_s', 0)} s"
        limit = (
            f"{fault.get('fired', 0)} of {fault['count']}"
            if fault.get("count")
            else (f"{fault.get('fired', 0)} so far, no limit")
        )
        rows.append(
            f"<tr><td>{escape(str(fault.get('page_id', '*')))}</td><td>{escape(what)}</td>"
            f"<td>{float(fault.get('rate', 1.0)) * 100:.0f}%</td><td>{escape(limit)}</td></tr>"
        )
    return (
        "<section class=warn><h2>Active faults</h2><table><tr><th>page</th><th>answer</th>"
        "<th>share of calls</th><th>fired</th></tr>" + "".join(rows) + "</table></section>"
    )


def _rejected(view: PageView, rejected: list[dict[str, Any]]) -> str:
    if not rejected:
        return ""
    shown = rejected[-view.limit_rejected :][::-1]
    rows = []
    for call in shown:
        code = "" if call.get("code") is None else str(call["code"])
        if call.get("subcode"):
            code += f"/{call['subcode']}"
        rows.append(
            f"<tr><td class=time>{clock(call['at_ms'])}</td><td>{escape(call['page_id'])}</td>"
            f"<td>{escape(call['recipient_id'])}</td><td class=bad>{call['status']}</td>"
            f"<td class=bad>{escape(code)}</td><td>{escape(call.get('message') or '')}</td>"
            f"<td>{escape(call.get('text') or '')}</td></tr>"
        )
    return (
        f"<section><h2>Rejected calls <small class=muted>(newest first, {len(shown)} of "
        f"{len(rejected)} kept)</small></h2><table><tr><th>time (UTC)</th><th>page</th>"
        "<th>recipient</th><th>HTTP</th><th>Meta error</th><th>message</th>"
        "<th>text it tried</th></tr>" + "".join(rows) + "</table></section>"
    )


def _filter_bar(view: PageView) -> str:
    here = {"page_id": view.page_id, "recipient_id": view.recipient_id}
    here = {k: v for k, v in here.items() if v}
    refresh = "?" + urlencode({**here, "refresh": "5"})
    stop = "?" + urlencode(here) if here else "/"
    auto = (
        f"auto-refresh every {view.refresh_s} s (<a href='{escape(stop)}'>stop</a>)"
        if view.refresh_s
        else f"<a href='{escape(refresh)}'>auto-refresh every 5 s</a>"
    )
    clear = " <a class=button href='/'>show all</a>" if view.filtered else ""
    return (
        "<section><form method=get action='/'>page <input name=page_id value='"
        f"{escape(view.page_id)}' placeholder='any page'> user <input name=recipient_id "
        f"value='{escape(view.recipient_id)}' placeholder='any user'> <button>filter</button>"
        f"</form>{clear} <a class=button href='{escape(stop)}'>refresh</a> {auto}</section>"
    )


def render(view: PageView | Store) -> str:
    if isinstance(view, Store):
        view = PageView(view)
    conversations = {
        key: replies for key, replies in view.store.conversations().items() if view.wanted(*key)
    }
    said: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for message in view.inbound:
        key = (message["page_id"], message["sender_id"])
        if view.wanted(*key):
            said.setdefault(key, []).append(message)
    for key in said:
        conversations.setdefault(key, [])

    def newest(item: tuple[tuple[str, str], list[dict[str, Any]]]) -> int:
        key, replies = item
        times = [m["received_at_ms"] for m in replies[-1:]] + [
            m["at_ms"] for m in said.get(key, [])[-1:]
        ]
        return max(times, default=0)

    ordered = sorted(conversations.items(), key=newest, reverse=True)
    rejected = [c for c in view.rejected if view.wanted(c["page_id"], c["recipient_id"])]
    accepted_here = sum(len(r) for r in conversations.values())
    scope = (
        "matching "
        + " and ".join(
            f"{name} {escape(value)}"
            for name, value in (("page", view.page_id), ("user", view.recipient_id))
            if value
        )
        if view.filtered
        else "all pages"
    )
    waiting = sum(1 for replies in conversations.values() if not replies)
    unanswered = f"; {waiting} without a reply" if waiting else ""
    counts = view.store.counts
    refresh = f"<meta http-equiv=refresh content={view.refresh_s}>" if view.refresh_s else ""
    shown = ordered[: view.limit_conversations]
    parts = [
        f"<!doctype html><meta charset=utf-8>{refresh}<title>Send API sandbox</title>",
        f"<style>{CSS}</style>",
        "<header><h1>Send API sandbox</h1><p>A local stand-in for Meta's Graph Send API: what "
        f"the sender sent, as Meta would have received it. Page rendered "
        f"{time.strftime('%Y-%m-%d', time.gmtime(view.now_ms / 1000))} {clock(view.now_ms)}"
        " UTC.</p></header><main>",
        "<section class=counts>"
        f"<span><b>{accepted_here}</b> {_plural(accepted_here, 'reply', 'replies')} accepted "
        f"({scope})</span>"
        f"<span><b class={'bad' if rejected else 'ok'}>{len(rejected)}</b> "
        f"{_plural(len(rejected), 'call', 'calls')} rejected ({scope}, of the last "
        f"{len(view.rejected)} kept)</span>"
        f"<span><b>{len(ordered)}</b> {_plural(len(ordered), 'conversation', 'conversations')}"
        f" ({scope}{unanswered})</span>"
        f"<br><small class=muted>since start or reset, all pages: {counts['accepted']} calls "
        f"accepted, {counts['rejected']} rejected. JSON: <a href=/sandbox/messages>"
        "/sandbox/messages</a> <a href=/sandbox/stats>/sandbox/stats</a> "
        "<a href=/sandbox/faults>/sandbox/faults</a></small></section>",
        _filter_bar(view),
        _faults(view),
        _rejected(view, rejected),
    ]
    title = (
        f"Conversations <small class=muted>(newest first; {len(shown)} of {len(ordered)} "
        "shown)</small>"
    )
    parts.append(f"<h2>{title}</h2>")
    if not ordered:
        parts.append(
            "<section class=muted>no replies yet"
            + (" for this filter" if view.filtered else "")
            + "</section>"
        )
    parts += [_conversation(view, key, replies, said.get(key, [])) for key, replies in shown]
    parts.append("</main>")
    return "\n".join(parts)
