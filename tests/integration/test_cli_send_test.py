"""`hookstream send-test` beside a running pipeline (real ingress, processors, sender, sandbox on
the real broker), found through the stack file: one signed webhook in, the reply it caused out;
a reply Meta refuses is shown with Meta's error; the Test-button sample expects no reply."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx
import pytest

from hookstream.cli import main
from hookstream.embedded import stack_file
from hookstream.runtime.settings import KafkaSettings, Settings
from ingress.app import create_app
from tests.conftest import TEST_SECRET, settings_for
from tests.support.http import serve
from tests.support.processors_rig import Service, service_env
from tests.support.sender_rig import (
    make_pages,
    running_sender,
    sandbox_and_url,
    sender_settings,
    set_faults,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


async def hookstream(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


async def test_send_test_shows_the_reply_and_a_refused_one(
    kafka_settings: KafkaSettings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = service_env(kafka_settings, tmp_path)  # writes tmp/pages.yaml: page 1001 answers
    pages = make_pages()
    processors = Service("processors", env, tmp_path).start()
    async with (
        sandbox_and_url(pages) as (_sandbox, sandbox_url),
        running_sender(sender_settings(Settings(kafka=kafka_settings), sandbox_url), pages),
        serve(create_app(settings_for(kafka_settings))) as ingress_url,
    ):
        try:
            await processors.ready()
            terminal = tmp_path / "terminal"
            terminal.mkdir()
            monkeypatch.chdir(terminal)
            for name in list(os.environ):
                if name.startswith(("KAFKA_", "HOOKSTREAM_", "GRAPH_")):
                    monkeypatch.delenv(name)
            monkeypatch.setenv("HOOKSTREAM_APP_SECRETS", TEST_SECRET)
            stack_file.write(
                terminal / ".hookstream",
                bootstrap_servers=kafka_settings.bootstrap_servers,
                broker="embedded",
                idempotence=False,
                clickhouse_url="chdb://./.hookstream/analytics",
                topic_prefix=kafka_settings.topic_prefix,
                pages_file=tmp_path / "pages.yaml",
                ports={"ingress": port_of(ingress_url), "sandbox": port_of(sandbox_url)},
            )

            assert await hookstream("send-test", "--text", "what price?") == 0
            out = capsys.readouterr().out
            assert f"POST {ingress_url}/webhook  (page 1001, user send-test-" in out
            assert "ingress answered 200" in out
            assert "the sandbox received 1 reply to send-test-" in out
            assert "'Plans start at 9 EUR.' (RESPONSE, m_sandbox_" in out
            assert f"see it on {sandbox_url}/?recipient_id=send-test-" in out
            user = out.split("user ", 1)[1].split(",", 1)[0]
            async with httpx.AsyncClient() as client:
                shown = (await client.get(f"{sandbox_url}/", params={"recipient_id": user})).text
            assert "what price?" in shown and "Plans start at 9 EUR." in shown
            assert "<b>1</b> reply accepted (matching user" in shown

            await set_faults(
                sandbox_url, [{"page_id": "1001", "code": 100, "subcode": 2018001, "count": 1}]
            )
            assert await hookstream("send-test", "--user", "u-refused", "--timeout", "60") == 1
            out = capsys.readouterr().out
            assert "the sandbox rejected a reply: HTTP 400, Meta error 100" in out, out

            assert await hookstream("send-test", "--test-button") == 0
            out = capsys.readouterr().out
            assert "(page 0, user 12334" in out and "no reply expected" in out

            assert await hookstream("send-test", "--curl") == 0
            curl = capsys.readouterr().out
            assert "X-Hub-Signature-256: sha256=" in curl and "--data-binary" in curl
            assert TEST_SECRET not in curl
        finally:
            processors.stop()
