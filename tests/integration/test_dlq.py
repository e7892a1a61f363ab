"""`hookstream dlq` against the embedded broker: list, show, redrive once."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from hookstream.cli import main
from hookstream.ops.dlq_topic import read_all
from hookstream.runtime.kafka import new_producer
from hookstream.runtime.settings import KafkaSettings
from schemas.dlq import dead_letter_for
from tests.support.kafka import read_topic

pytestmark = pytest.mark.integration


@pytest.fixture
def cli_env(kafka_settings: KafkaSettings, monkeypatch: pytest.MonkeyPatch) -> KafkaSettings:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_settings.bootstrap_servers)
    monkeypatch.setenv("HOOKSTREAM_TOPIC_PREFIX", kafka_settings.topic_prefix)
    monkeypatch.setenv("KAFKA_ENABLE_IDEMPOTENCE", "false")
    monkeypatch.setenv("KAFKA_PARTITIONS", str(kafka_settings.partitions))
    return kafka_settings


async def hookstream(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


async def put_dead_letters(settings: KafkaSettings) -> list[str]:
    inbound = settings.topic("inbound")
    letters = [
        dead_letter_for(
            topic=inbound,
            partition=1,
            offset=10 + i,
            key=f"1001:u{i}".encode(),
            value=orjson.dumps({"n": i}),
            reason=reason,
            error=f"cannot {i}",
            service="processors",
            failed_at_ms=1_795_000_000_000 + i * 60_000,
            page_id=page,
        )
        for i, (reason, page) in enumerate(
            [("invalid_envelope", "1001"), ("unknown_page", "2002"), ("invalid_envelope", "3003")]
        )
    ]
    producer = new_producer(settings, linger_ms=0)
    await producer.start()
    try:
        for dead in letters:
            await producer.send_and_wait(
                settings.topic("dlq"), dead.encode(), key=(dead.key or "").encode()
            )
        await producer.send_and_wait(settings.topic("dlq"), b"not json", key=b"x")
    finally:
        await producer.stop()
    return [dead.dead_letter_id for dead in letters]


async def test_list_show_and_redrive_once(
    cli_env: KafkaSettings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = cli_env
    ids = await put_dead_letters(settings)

    assert await hookstream("dlq", "list", "--reason", "invalid_envelope") == 0
    out = capsys.readouterr().out
    assert ids[0] in out and ids[2] in out and ids[1] not in out
    assert "2 of 3 dead letter(s); 1 record(s) on the dlq topic could not be decoded" in out

    assert await hookstream("dlq", "list", "--page", "2002", "--json") == 0
    rows = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["dead_letter_id"], r["redriven"]) for r in rows] == [(ids[1], False)]

    assert await hookstream("dlq", "show", ids[1]) == 0
    out = capsys.readouterr().out
    assert "reason:    unknown_page" in out and '{"n":1}' in out and "cannot 1" in out

    assert await hookstream("dlq", "redrive", "--reason", "invalid_envelope") == 0
    assert "redrove 2 record(s)" in capsys.readouterr().out
    redriven = await read_topic(settings, "inbound", expected=2)
    assert sorted((r.key, r.value) for r in redriven) == [
        (b"1001:u0", b'{"n":0}'),
        (b"1001:u2", b'{"n":2}'),
    ]

    # again, by id and by filter: nothing is sent twice
    assert await hookstream("dlq", "redrive", ids[0], ids[2]) == 0
    out = capsys.readouterr().out
    assert "nothing to redrive: 2 selected already redriven" in out
    assert await hookstream("dlq", "redrive", "--all") == 0
    assert "redrove 1 record(s)" in capsys.readouterr().out
    after = await read_topic(settings, "inbound", idle_s=1.0)
    assert sorted(r.key or b"" for r in after) == [b"1001:u0", b"1001:u1", b"1001:u2"]

    assert await hookstream("dlq", "list", "--json") == 0
    rows = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert all(r["redriven"] for r in rows) and len(rows) == 3


async def test_redrive_needs_a_selection(
    cli_env: KafkaSettings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert await hookstream("dlq", "redrive") == 1
    assert "select dead letters" in capsys.readouterr().err
    assert await hookstream("dlq", "show", "nope:0:0") == 1
    assert "no dead letter nope:0:0" in capsys.readouterr().err


TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def test_redrive_keeps_the_trace_and_refuses_a_truncated_original(
    cli_env: KafkaSettings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = cli_env
    inbound = settings.topic("inbound")
    fields = dict(
        topic=inbound, partition=0, key=b"1001:u7", reason="invalid_envelope", error="bad",
        service="processors", failed_at_ms=1_795_000_000_000, page_id="1001",
    )  # fmt: skip
    whole = dead_letter_for(offset=70, value=b'{"whole":true}', **fields)  # type: ignore[arg-type]
    cut = dead_letter_for(offset=71, value=b"x" * 100, max_original_bytes=10, **fields)  # type: ignore[arg-type]
    assert cut.original_truncated
    producer = new_producer(settings, linger_ms=0)
    await producer.start()
    try:  # as the services write them: the trace context in the dlq record's header
        for dead in (whole, cut):
            await producer.send_and_wait(
                settings.topic("dlq"), dead.encode(), key=b"1001:u7",
                headers=[("traceparent", TRACE.encode())],
            )  # fmt: skip
    finally:
        await producer.stop()

    assert await hookstream("dlq", "show", cut.dead_letter_id) == 0
    out = capsys.readouterr().out
    assert f"trace:     {TRACE}" in out and "head only, cannot be redriven" in out

    assert await hookstream("dlq", "redrive", whole.dead_letter_id, cut.dead_letter_id) == 1
    captured = capsys.readouterr()
    assert "redrove 1 record(s); skipped 0 already redriven; refused 1" in captured.out
    assert f"refused: {cut.dead_letter_id} not redriven: its original was too large" in (
        captured.err
    )
    assert f"{inbound} partition 0 offset 71" in captured.err
    [sent] = await read_all(settings, inbound)
    assert sent.value == b'{"whole":true}'
    headers = dict(sent.headers)
    assert headers["traceparent"] == TRACE.encode()  # the redriven record goes on in the trace
    assert headers["hookstream-redrive"] == whole.dead_letter_id.encode()

    assert await hookstream("dlq", "redrive", cut.dead_letter_id) == 1  # refused every time
    assert "nothing to redrive: 0 selected already redriven, 1 refused" in (capsys.readouterr().out)
