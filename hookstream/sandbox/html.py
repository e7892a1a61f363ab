"""The sandbox's plain HTML page: conversations and their messages, newest conversations first."""

from __future__ import annotations

from html import escape
from typing import Any

from hookstream.sandbox.store import Store


def _line(message: dict[str, Any]) -> str:
    if message["sender_action"]:
        what = f"<i>[{escape(message['sender_action'])}]</i>"
    elif message["text"] is not None:
        what = escape(message["text"])
    else:
        what = f"<i>[attachment {escape(str(message['attachment'])[:200])}]</i>"
    quick = message.get("quick_replies") or []
    if quick:
        titles = ", ".join(escape(str(q.get("title", ""))) for q in quick if isinstance(q, dict))
        what += f" <small>quick replies: {titles}</small>"
    return (
        f"<li><code>{escape(message['message_id'] or '-')}</code> "
        f"<small>{escape(message['messaging_type'])}</small> {what}</li>"
    )


def render(store: Store, limit_conversations: int = 200, limit_messages: int = 50) -> str:
    conversations = sorted(
        store.conversations().items(), key=lambda item: item[1][-1]["seq"], reverse=True
    )
    parts = [
        "<!doctype html><meta charset=utf-8><title>Send API sandbox</title>",
        "<h1>Send API sandbox</h1>",
        f"<p>{store.counts['accepted']} accepted, {store.counts['rejected']} rejected, "
        f"{len(conversations)} conversations. JSON: <a href=/sandbox/messages>"
        "/sandbox/messages</a>, <a href=/sandbox/stats>/sandbox/stats</a>, "
        "<a href=/sandbox/faults>/sandbox/faults</a></p>",
    ]
    for (page_id, recipient_id), messages in conversations[:limit_conversations]:
        parts.append(
            f"<h2>page {escape(page_id)} &rarr; {escape(recipient_id)} "
            f"<small>({len(messages)})</small></h2><ol>"
        )
        parts += [_line(m) for m in messages[-limit_messages:]]
        parts.append("</ol>")
    return "\n".join(parts)
