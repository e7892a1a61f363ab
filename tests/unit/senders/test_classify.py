from __future__ import annotations

import orjson
import pytest

from senders.classify import classify_answer, usage_percent
from senders.errors import (
    PageStoppedError,
    PermanentSendError,
    SendError,
    TemporarySendError,
    ThrottledError,
)


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
