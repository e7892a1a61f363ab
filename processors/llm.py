"""The LLM responder: an OpenAI-compatible chat-completions call over httpx.

The conversation history is the context; a timeout, an error or an unusable answer gives the
page's fallback reply (or a default one), never an exception into the stream.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from hookstream.runtime.logging import event, get_logger
from hookstream.runtime.pages import LlmConfig, PageConfig
from processors.errors import ResponderFailed
from processors.rules import FALLBACK_RULE, Reply
from schemas.messages import NormalizedMessage

log = get_logger("processors.llm")
DEFAULT_FALLBACK = {"text": "Thanks! We will get back to you soon."}
MAX_TEXT = 2000


def chat_messages(
    config: LlmConfig, history: Sequence[dict[str, Any]], message: NormalizedMessage
) -> list[dict[str, str]]:
    """System prompt, then the conversation (user = in, assistant = out), then this message."""
    chat = [{"role": "system", "content": config.system_prompt}]
    for item in history:
        if item.get("event_id") == message.event_id or not item.get("text"):
            continue
        chat.append(
            {
                "role": "assistant" if item.get("direction") == "out" else "user",
                "content": str(item["text"]),
            }
        )
    chat.append({"role": "user", "content": message.text or message.postback_title or "(no text)"})
    return chat


def answer_text(body: Any) -> str:
    try:
        text = body["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise ResponderFailed("chat completion has no choices[0].message.content") from None
    if not isinstance(text, str) or not text.strip():
        raise ResponderFailed("chat completion answered no text")
    return text.strip()[:MAX_TEXT]


async def complete(
    client: httpx.AsyncClient, config: LlmConfig, chat: list[dict[str, str]], timeout_s: float
) -> str:
    headers = {"Authorization": f"Bearer {config.api_key.reveal()}"} if config.api_key else {}
    try:
        response = await client.post(
            f"{config.base_url}/chat/completions",
            headers=headers,
            timeout=timeout_s,
            json={"model": config.model, "messages": chat},
        )
    except httpx.HTTPError as exc:
        raise ResponderFailed(f"chat completion request failed: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise ResponderFailed(f"chat completion answered HTTP {response.status_code}")
    try:
        return answer_text(response.json())
    except ValueError:
        raise ResponderFailed("chat completion answered no JSON") from None


def fallback_reply(page: PageConfig) -> Reply:
    return Reply(dict(page.fallback or DEFAULT_FALLBACK), "fallback", FALLBACK_RULE)


class LlmResponder:
    """Replies through the page's LLM; counts failures through `on_failure`."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        timeout_s: float,
        on_failure: Callable[[], None] = lambda: None,
    ) -> None:
        self.client, self.timeout_s, self.on_failure = client, timeout_s, on_failure

    async def reply(
        self, page: PageConfig, message: NormalizedMessage, history: Sequence[dict[str, Any]]
    ) -> Reply:
        if page.llm is None:
            return fallback_reply(page)
        chat = chat_messages(page.llm, history, message)
        try:
            text = await complete(self.client, page.llm, chat, self.timeout_s)
        except ResponderFailed as exc:
            self.on_failure()
            event(log, "llm_failed", logging.WARNING, page_id=page.page_id, error=str(exc))
            return fallback_reply(page)
        return Reply({"text": text}, "llm", page.llm.model)
