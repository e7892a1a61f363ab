from __future__ import annotations

import random

import pytest

from hookstream.sandbox.app import sandbox_tokens
from hookstream.sandbox.faults import FaultConfigError, choose_fault, parse_faults
from hookstream.sandbox.meta import meta_error, validate_send


def body(**message: object) -> dict[str, object]:
    return {"recipient": {"id": "u"}, "messaging_type": "RESPONSE", "message": message}


@pytest.mark.parametrize(
    "request_body,problem",
    [
        (body(text="hi"), None),
        ({"recipient": {"id": "u"}, "sender_action": "typing_on"}, None),
        (body(attachment={"type": "image", "payload": {"attachment_id": "1"}}), None),
        ({"message": {"text": "hi"}}, "recipient"),
        (body(text="x" * 2001), "2000"),
        (body(text="x", quick_replies=[{}] * 14), "13"),
        ({**body(text="x"), "messaging_type": "MESSAGE_TAG"}, "tag"),
        ({**body(text="x"), "messaging_type": "PROMO"}, "messaging_type"),
        ({**body(text="x"), "sender_action": "typing_on"}, "Exactly one"),
        (body(), "Exactly one"),
        (body(attachment={"type": "image", "payload": {}}), "attachment"),
    ],
)
def test_validation_like_meta(request_body: dict[str, object], problem: str | None) -> None:
    error = validate_send(request_body)
    if problem is None:
        assert error is None
    else:
        assert error is not None and error.code == 100 and problem in error.message


def test_meta_error_shape_and_status() -> None:
    assert meta_error(2).status == 500 and meta_error(190).status == 400
    shaped = meta_error(10, 2018278).body("trace")["error"]
    assert shaped["code"] == 10 and shaped["error_subcode"] == 2018278
    assert shaped["fbtrace_id"] == "trace" and shaped["type"] == "OAuthException"


def test_faults_fire_per_page_at_a_rate_and_up_to_a_count() -> None:
    faults = parse_faults('[{"page_id": "1", "code": 2, "count": 2}, {"code": 613, "rate": 0.5}]')
    rng = random.Random(3)
    first = [choose_fault(faults, "1", rng) for _ in range(2)]
    assert [f.code for f in first if f] == [2, 2]
    other = [choose_fault(faults, "2", rng) for _ in range(400)]
    assert 120 < sum(1 for f in other if f is not None) < 280
    assert parse_faults("") == []
    assert parse_faults({"status": 502})[0].status == 502  # type: ignore[arg-type]


@pytest.mark.parametrize("raw", ["{", '[{"rate": 1}]', '[{"code": 2, "rate": 2}]', "3"])
def test_bad_fault_config_is_refused(raw: str) -> None:
    with pytest.raises(FaultConfigError):
        parse_faults(raw)


def test_tokens_from_pages_and_extra_entries() -> None:
    tokens = sandbox_tokens({"1001": "a", "1002": "", "1003": "a"}, ["free", "2002:b"])
    assert tokens == {
        "a": frozenset({"1001", "1003"}),
        "free": frozenset({"*"}),
        "b": frozenset({"2002"}),
    }
