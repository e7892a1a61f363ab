from __future__ import annotations

import httpx
import orjson
import pytest

from hookstream.runtime.settings import SenderSettings
from senders.classify import (
    Usage,
    classify_answer,
    retry_after_s,
    usage_of,
    usage_percent,
    wait_asked,
)
from senders.errors import (
    PageStoppedError,
    PermanentSendError,
    SendError,
    TemporarySendError,
    ThrottledError,
)
from senders.graph import GraphClient


def error(code: int, subcode: int = 0) -> bytes:
    body: dict[str, object] = {"message": "x", "type": "OAuthException", "code": code}
    if subcode:
        body["error_subcode"] = subcode
    return orjson.dumps({"error": body})


def test_success_gives_the_message_id() -> None:
    answer = classify_answer(200, b'{"recipient_id":"1","message_id":"m_1"}')
    assert (answer.recipient_id, answer.message_id) == ("1", "m_1")


@pytest.mark.parametrize("code", [1, 2, 1200])
def test_temporary_codes_are_retried(code: int) -> None:
    with pytest.raises(TemporarySendError) as caught:
        classify_answer(500, error(code))
    assert caught.value.retriable and caught.value.code == code


@pytest.mark.parametrize(
    "status,body",
    [(502, b"<html>Bad Gateway</html>"), (200, b"nope"), (503, b""), (500, b'{"no_error": 1}')],
)
def test_non_json_answers_and_5xx_are_temporary(status: int, body: bytes) -> None:
    with pytest.raises(TemporarySendError):
        classify_answer(status, body)


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80006])
def test_throttling_codes_slow_the_page(code: int) -> None:
    with pytest.raises(ThrottledError) as caught:
        classify_answer(400, error(code))
    assert caught.value.throttled and caught.value.retriable


@pytest.mark.parametrize("code", [190, 368])
def test_token_and_policy_stop_the_page(code: int) -> None:
    with pytest.raises(PageStoppedError) as caught:
        classify_answer(400, error(code))
    assert caught.value.stops_page and not caught.value.retriable


@pytest.mark.parametrize(
    "code,subcode,reason",
    [
        (10, 2018278, "outside_window"),
        (10, 2534022, "outside_window"),
        (10, 2018108, "person_unavailable"),
        (551, 0, "person_unavailable"),
        (1545041, 0, "person_unavailable"),
        (100, 2018001, "no_matching_user"),
        (100, 0, "bad_request"),
        (200, 0, "permission"),
        (10, 2018300, "thread_owned_by_other_app"),
        (2018300, 0, "thread_owned_by_other_app"),
        (12345, 0, "rejected"),
    ],
)
def test_permanent_errors_name_the_reason(code: int, subcode: int, reason: str) -> None:
    with pytest.raises(PermanentSendError) as caught:
        classify_answer(400, error(code, subcode))
    assert caught.value.reason == reason and not caught.value.retriable
    assert (caught.value.code, caught.value.subcode) == (code, subcode)


def test_unknown_error_with_5xx_is_temporary() -> None:
    with pytest.raises(SendError) as caught:
        classify_answer(503, error(99999))
    assert caught.value.retriable


def test_usage_headers_give_the_highest_percentage() -> None:
    headers = {
        "x-app-usage": '{"call_count": 12, "total_time": 40, "total_cputime": 3}',
        "x-business-use-case-usage": '{"123": [{"type": "pages", "call_count": 97}]}',
        "x-page-usage": "not json",
    }
    assert usage_percent(headers) == 97
    assert usage_percent({}) == 0


def test_business_use_case_usage_gives_the_time_to_regain_access() -> None:
    headers = {
        "x-business-use-case-usage": orjson.dumps(
            {
                "112130216863063": [
                    {
                        "type": "pages",
                        "call_count": 100,
                        "total_cputime": 30,
                        "total_time": 20,
                        "estimated_time_to_regain_access": 19,
                    },
                    {"type": "messenger", "call_count": 4, "estimated_time_to_regain_access": 0},
                ]
            }
        ).decode(),
        "x-page-usage": '{"call_count": 5, "total_cputime": 2, "total_time": 3}',
    }
    assert usage_of(headers) == Usage(percent=100.0, regain_s=19 * 60.0)
    assert wait_asked(headers) == 19 * 60.0


@pytest.mark.parametrize(
    "raw",
    [
        "[1, 2]",
        '{"call_count": "90", "total_time": true}',
        '{"a": {"b": {"c": {"call_count": 99}}}}',  # deeper than Meta's two levels: ignored
        '{"call_count": -5, "estimated_time_to_regain_access": -3}',
        "[" * 2000 + "]" * 2000,
        "",
    ],
)
def test_usage_headers_that_say_nothing_usable_count_as_zero(raw: str) -> None:
    assert usage_of({"x-app-usage": raw}) == Usage()


@pytest.mark.parametrize(
    "value,seconds",
    [
        ("7", 7.0),
        (" 2.5 ", 2.5),
        ("-3", 0.0),
        ("soon", 0.0),
        ("nan", 0.0),
        ("1e400", 24 * 3600.0),  # read as the longest wait, never forever
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # in the past
        ("Wed, 21 Oct 2015 07:28:30", 0.0),  # no zone: unreadable
    ],
)
def test_retry_after_in_seconds_or_as_a_date(value: str, seconds: float) -> None:
    now = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    assert retry_after_s(value, now) == seconds
    assert wait_asked({"retry-after": value}, now) == seconds


def test_429_is_throttling_and_408_temporary() -> None:
    with pytest.raises(ThrottledError):
        classify_answer(429, b"{}")
    with pytest.raises(TemporarySendError):
        classify_answer(408, b"{}")


async def test_the_graph_client_reads_retry_after_and_usage_from_the_answer() -> None:
    answers = iter(
        [
            httpx.Response(503, headers={"retry-after": "12"}, content=b"<html>down</html>"),
            httpx.Response(
                400,
                headers={
                    "x-business-use-case-usage": '{"1": [{"call_count": 100, '
                    '"estimated_time_to_regain_access": 2}]}'
                },
                content=error(32),
            ),
            httpx.Response(
                200,
                headers={"x-app-usage": '{"call_count": 85}'},
                content=b'{"recipient_id": "u", "message_id": "m_1"}',
            ),
        ]
    )
    client = GraphClient(
        SenderSettings(graph_api_base_url="http://graph.test"),
        httpx.MockTransport(lambda _request: next(answers)),
    )
    try:
        with pytest.raises(TemporarySendError) as down:
            await client.send("1001", "token", {"recipient": {"id": "u"}})
        with pytest.raises(ThrottledError) as limited:
            await client.send("1001", "token", {"recipient": {"id": "u"}})
        answer = await client.send("1001", "token", {"recipient": {"id": "u"}})
    finally:
        await client.close()
    assert down.value.retry_after == 12.0
    assert limited.value.retry_after == 120.0 and limited.value.usage == 100.0
    assert answer.success.message_id == "m_1" and answer.usage_percent == 85.0
