from __future__ import annotations

import httpx
import pytest

from hookstream.runtime.pages import LlmConfig, PageConfig, PagesConfig
from hookstream.runtime.settings import ProcessorSettings, Secret
from processors.core import Processor
from processors.llm import LlmResponder
from processors.state import ConversationState
from tests.support.fake_llm import serve_fake_llm
from tests.support.processors_unit import T0, text_message


def llm_page(base_url: str) -> PageConfig:
    return PageConfig(
        page_id="1001",
        responder="llm",
        fallback={"text": "later"},
        llm=LlmConfig(base_url, "tiny-model", Secret("sk-test"), "Be brief."),
    )


async def test_llm_reply_uses_the_history_as_context() -> None:
    async with serve_fake_llm() as (fake, base_url), httpx.AsyncClient() as client:
        page = llm_page(base_url)
        failures: list[int] = []
        processor = Processor(
            ProcessorSettings(),
            lambda: PagesConfig({"1001": page}),
            LlmResponder(client, 2.0, lambda: failures.append(1)),
        )
        first = await processor.process(ConversationState(), text_message("m1", "hello"), T0)
        second = await processor.process(
            first.state, text_message("m2", "price?", at_ms=T0 + 1), T0 + 1
        )
    assert second.commands[0].message == {"text": "echo: price?"}
    assert second.commands[0].origin == "llm"
    chat = fake.requests[-1]
    assert chat["model"] == "tiny-model"
    assert chat["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hello"},
        {"role": "user", "content": "price?"},
    ]
    assert fake.headers[-1]["authorization"] == "Bearer sk-test"
    assert not failures


@pytest.mark.parametrize("mode", ["error", "slow", "garbage"])
async def test_llm_failure_or_timeout_gives_the_fallback(mode: str) -> None:
    async with serve_fake_llm() as (fake, base_url), httpx.AsyncClient() as client:
        fake.mode = mode
        failures: list[int] = []
        responder = LlmResponder(client, 0.5, lambda: failures.append(1))
        reply = await responder.reply(llm_page(base_url), text_message("m1", "hi"), ())
    assert (reply.message, reply.responder) == ({"text": "later"}, "fallback")
    assert failures == [1]


async def test_unreachable_llm_gives_the_fallback() -> None:
    async with httpx.AsyncClient() as client:
        responder = LlmResponder(client, 0.5)
        reply = await responder.reply(
            llm_page("http://127.0.0.1:9/v1"), text_message("m1", "hi"), ()
        )
    assert reply.responder == "fallback"
