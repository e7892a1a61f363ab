"""An HTTP fuzz test of the ingress (issue 11): seeded hostile requests, signed and unsigned,
over real HTTP against the broker. No answer is a 5xx; unsigned input writes nothing (the
records on `inbound` are exactly the events of the signed requests answered 200); the ingress
is alive afterwards and still answers a normal message.

    HOOKSTREAM_FUZZ_CASES=20000 HOOKSTREAM_FUZZ_SEED=7 pytest tests/integration/test_ingress_fuzz.py
    make fuzz FUZZ_CASES=20000

A failure names the seed and the case number: the same seed replays the same cases.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
from typing import Any

import httpx
import pytest

from hookstream.runtime.settings import Settings
from ingress.app import create_app
from ingress.signature import sign
from tests.conftest import TEST_SECRET
from tests.support.http import serve
from tests.support.kafka import read_topic
from tests.support.meta_samples import CHANGES, INSTAGRAM, MESSENGER, one_message_body

pytestmark = pytest.mark.integration

CASES = int(os.environ.get("HOOKSTREAM_FUZZ_CASES", "2000"))
SEED = int(os.environ.get("HOOKSTREAM_FUZZ_SEED", "11"))
CONCURRENCY = 8
NESTED = re.compile(r'"@@nest:(\d+):([ao])@@"')

HOSTILE: list[Any] = [
    1e20,
    1e300,
    -1e300,
    18446744073709551615,
    -9223372036854775808,
    0,
    -1,
    0.5,
    "nan",
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "1e25",
    "",
    " ",
    "0001-01-01",
    "9999-12-31T23:59:59Z",
    None,
    True,
    [],
    {},
    "\u0000",
    "\u202e\u200b",
    "\\",
    "_",
    "0",
    "a\nb",
    "\ud83d\ude00",
]
# Spelled in the body itself: what no Python value dumps to.
LITERALS = [
    b"1e400",
    b"-1e400",
    b"18446744073709551616",
    b"1" + b"0" * 400,
    b"-0",
    b"1E+2",
    b"0.0000000000000000000000000001",
]


def samples() -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []
    for _, event, _, _ in MESSENGER:
        bodies.append(
            {"object": "page", "entry": [{"id": "1001", "time": 1, "messaging": [event]}]}
        )
    for _, event, _, _ in INSTAGRAM:
        bodies.append(
            {"object": "instagram", "entry": [{"id": "17841400000000001", "messaging": [event]}]}
        )
    for obj, field, value, _, _ in CHANGES:
        bodies.append(
            {
                "object": obj,
                "entry": [{"id": "1001", "time": 1, "changes": [{"field": field, "value": value}]}],
            }
        )
    return bodies


def nested(rng: random.Random) -> str:
    """A marker that `encode` spells as arrays/objects nested this deep (deeper than any
    Python encoder can write)."""
    depth = rng.choice([rng.randint(1, 140), rng.randint(120, 300), rng.randint(900, 1100)])
    return f"@@nest:{depth}:{rng.choice('ao')}@@"


def _spell_nested(match: re.Match[str]) -> str:
    depth, kind = int(match.group(1)), match.group(2)
    if kind == "a":
        return "[" * depth + "1" + "]" * depth
    return '{"k":' * depth + "null" + "}" * depth


def hostile(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.6:
        return rng.choice(HOSTILE)
    if roll < 0.75:
        return nested(rng)
    if roll < 0.85:
        return rng.randint(-(2**70), 2**70)
    if roll < 0.95:
        return "".join(chr(rng.randint(0, 0x2FFF)) for _ in range(rng.randint(0, 40)))
    return "z" * (1_000_000 if rng.random() < 0.02 else rng.choice([5_000, 100_000]))


def printable(value: Any) -> str:
    return str(value)[:3000].encode("utf-8", "replace").decode()


def mutate(value: Any, rng: random.Random, budget: list[int]) -> Any:
    """A copy of `value` with some of its values swapped for hostile ones, keys dropped or
    added, lists repeated."""
    if budget[0] <= 0:
        return value
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            roll = rng.random()
            if roll < 0.05:
                budget[0] -= 1
                continue  # key dropped
            if roll < 0.25:
                budget[0] -= 1
                out[key] = hostile(rng)
            else:
                out[key] = mutate(item, rng, budget)
        if rng.random() < 0.1:
            out[rng.choice(["timestamp", "watermark", "mid", "id", "sender", "time", "x"])] = (
                hostile(rng)
            )
        return out
    if isinstance(value, list):
        items = [mutate(item, rng, budget) for item in value]
        if items and rng.random() < 0.1:
            items = items * rng.randint(2, 30)
        return items
    if rng.random() < 0.2:
        budget[0] -= 1
        return hostile(rng)
    return value


def encode(value: Any, rng: random.Random) -> bytes:
    """JSON the way a sender might spell it: stdlib json (any int, any float, escaped or raw
    non-ASCII), sometimes with a literal no Python value dumps to."""
    text = json.dumps(value, ensure_ascii=rng.random() < 0.7)
    text = NESTED.sub(_spell_nested, text)
    if rng.random() < 0.1:
        text = text.replace("1001", rng.choice(LITERALS).decode(), 1)
    return (
        text.encode("utf-8", "surrogatepass")
        if rng.random() < 0.02
        else text.encode("utf-8", "replace")
    )


def garble(body: bytes, rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.3 and body:
        return body[: rng.randint(0, len(body))]
    if roll < 0.6 and body:
        data = bytearray(body)
        for _ in range(rng.randint(1, 5)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if roll < 0.8:
        return rng.randbytes(rng.randint(0, 300))
    return rng.choice(
        [b"", b"null", b"[]", b"{}", b'{"entry":null}', b'{"entry":[]}', b"\xff\xfe{", b"[" * 2000]
    )


def request(
    rng: random.Random, bodies: list[dict[str, Any]]
) -> tuple[str, bytes, dict[str, Any], bool]:
    """(path, body, headers, signed with the right secret)."""
    path = rng.choice(["/webhook", "/webhook", "/webhooks/messenger", "/webhooks/instagram"])
    base = rng.choice(bodies)
    body = encode(mutate(base, rng, [rng.randint(1, 6)]), rng)
    if rng.random() < 0.15:
        body = garble(body, rng)
    headers: dict[str, Any] = {
        "content-type": rng.choice(
            ["application/json"] * 8 + ["application/json; charset=utf-8", "text/plain", ""]
        )
    }
    roll = rng.random()
    right = False
    if roll < 0.55:
        headers["x-hub-signature-256"] = sign(body, TEST_SECRET)
        right = True
    elif roll < 0.65:
        headers["x-hub-signature-256"] = sign(body, "wrong-secret")
    elif roll < 0.75:
        headers["x-hub-signature-256"] = rng.choice(
            ["", "sha256=", "sha256=zz", "md5=1", "sha256=" + "0" * 64, "x" * 2000]
        )
    elif roll < 0.85:
        headers["x-hub-signature"] = sign(body, TEST_SECRET, "sha1")  # legacy fallback is off
    if rng.random() < 0.1:
        headers["x-request-id"] = rng.choice([b"r\t1", b"r" * 5000, b"\xe4\xff", b""])
    return path, body, headers, right


async def test_no_request_makes_the_ingress_answer_5xx_or_write_unsigned_input(
    settings: Settings,
) -> None:
    rng = random.Random(SEED)
    bodies = samples()
    accepted = 0
    seen: dict[int, int] = {}
    async with (
        serve(create_app(settings)) as url,
        httpx.AsyncClient(base_url=url, timeout=60) as client,
    ):

        async def one(number: int) -> None:
            nonlocal accepted
            path, body, headers, right = request(rng, bodies)
            if rng.random() < 0.03:  # the verification endpoint, with a hostile query
                response = await client.get(
                    path, params={"hub.mode": printable(hostile(rng)), "hub.challenge": "1"}
                )
                assert response.status_code == 403, f"seed {SEED} case {number}"
                return
            try:
                response = await client.post(path, content=body, headers=headers)
            except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError):
                # The ingress answers 413 to a body over its limit and closes the connection
                # without reading the rest; a client still writing may see the close first.
                # So does it to a big body without a signature header (401 before reading).
                unsigned = "x-hub-signature-256" not in headers
                big = (
                    settings.ingress.small_body_bytes
                    if unsigned
                    else settings.ingress.max_body_bytes
                )
                assert len(body) > big, f"seed {SEED} case {number}"
                seen[-1] = seen.get(-1, 0) + 1  # closed before the answer could be read
                return
            status = response.status_code
            seen[status] = seen.get(status, 0) + 1
            where = (
                f"seed {SEED} case {number}: {status} {response.text[:300]!r} for {body[:300]!r}"
            )
            assert status < 500, where
            if not right:
                assert status in (401, 413, 415), where  # refused before anything is parsed
            if status == 200:
                assert right, where
                accepted += response.json()["accepted"]

        for start in range(0, CASES, CONCURRENCY):
            await asyncio.gather(*(one(n) for n in range(start, min(CASES, start + CONCURRENCY))))
        assert (await client.get("/healthz")).status_code == 200
        normal = one_message_body(mid="after-fuzz")
        after = await client.post(
            "/webhook",
            content=normal,
            headers={
                "content-type": "application/json",
                "x-hub-signature-256": sign(normal, TEST_SECRET),
            },
        )
        assert after.status_code == 200
    print(f"fuzz seed {SEED}, {CASES} cases: answers {dict(sorted(seen.items()))}")
    assert seen.get(200, 0) > CASES // 10, seen  # the fuzz reaches the broker, not only 4xx
    records = await read_topic(
        settings.kafka, "inbound", expected=accepted + 1, idle_s=2.0, timeout_s=120
    )
    assert len(records) == accepted + 1, seen  # nothing from unsigned or refused requests
