"""Turn a Send API answer (status, headers, body) into a success or a SendError. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from senders.errors import (
    PageStoppedError,
    PermanentSendError,
    SendError,
    TemporarySendError,
    ThrottledError,
)

TEMPORARY_CODES = frozenset({1, 2, 1200})
THROTTLING_CODES = frozenset({4, 17, 32, 613, 80006})
STOP_PAGE_CODES = frozenset({190, 368})
# (code, subcode) pairs that stop the page too: 10/1893063 "Page temporarily restricted from
# sending messages" (Messenger Platform changelog, 2026-06-25), held and alerted like 190/368.
STOP_PAGE_PAIRS = frozenset({(10, 1893063)})
# (code, subcode) pairs with a precise reason; a code alone applies to every subcode.
PERMANENT_REASONS: dict[tuple[int, int | None], str] = {
    (10, 2018278): "outside_window",
    (10, 2534022): "outside_window",
    (10, 2018108): "person_unavailable",
    (551, None): "person_unavailable",
    (1545041, None): "person_unavailable",
    (100, 2018001): "no_matching_user",
    (100, None): "bad_request",
    (200, None): "permission",
    (10, None): "permission",
    (2018300, None): "thread_owned_by_other_app",
}
PERMANENT_SUBCODES: dict[int, str] = {
    2018300: "thread_owned_by_other_app",
    1545041: "person_unavailable",
}


@dataclass(frozen=True, slots=True)
class SendSuccess:
    recipient_id: str
    message_id: str


def classify_answer(status: int, body: bytes) -> SendSuccess:
    """Return the success, or raise the SendError that says what to do next."""
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        raise TemporarySendError(f"Send API answered {status} without JSON", status=status)
    error = data.get("error")
    if isinstance(error, dict):
        raise error_from_meta(status, error)
    if status >= 500:
        raise TemporarySendError(f"Send API answered {status}", status=status)
    if status >= 400:
        raise PermanentSendError(f"Send API answered {status} without an error", status=status)
    return SendSuccess(str(data.get("recipient_id", "")), str(data.get("message_id", "")))


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def error_from_meta(status: int, error: Mapping[str, Any]) -> SendError:
    code, subcode = _int(error.get("code")), _int(error.get("error_subcode"))
    text = str(error.get("message", ""))[:300]
    message = f"Meta error {code}/{subcode}: {text}" if subcode else f"Meta error {code}: {text}"
    fields = {"code": code, "subcode": subcode, "status": status}
    if code in TEMPORARY_CODES or error.get("is_transient") is True:
        return TemporarySendError(message, **fields)
    if code in THROTTLING_CODES:
        return ThrottledError(message, **fields)
    if code in STOP_PAGE_CODES or (code, subcode) in STOP_PAGE_PAIRS:
        return PageStoppedError(message, **fields)
    reason = (
        PERMANENT_REASONS.get((code, subcode))
        or PERMANENT_SUBCODES.get(subcode)
        or PERMANENT_REASONS.get((code, None))
    )
    if reason is None and status >= 500:
        return TemporarySendError(message, **fields)
    permanent = PermanentSendError(message, **fields)
    permanent.reason = reason or "rejected"
    return permanent


USAGE_HEADERS = ("x-app-usage", "x-page-usage", "x-business-use-case-usage")
_RAW_USAGE_HEADERS = frozenset(name.encode() for name in USAGE_HEADERS)


def usage_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Meta's usage headers among raw (name, value) pairs, names in lower case."""
    return {
        name.lower().decode(): value.decode("latin-1")
        for name, value in raw
        if name.lower() in _RAW_USAGE_HEADERS
    }


def usage_percent(headers: Mapping[str, str]) -> float:
    """Highest usage (0-100) in Meta's X-App-Usage / X-Page-Usage / X-Business-Use-Case-Usage."""
    highest = 0.0
    for name in USAGE_HEADERS:
        raw = headers.get(name)
        if not raw:
            continue
        try:
            highest = max(highest, _max_usage(orjson.loads(raw)))
        except orjson.JSONDecodeError:
            continue
    return highest


def _max_usage(value: Any) -> float:
    if isinstance(value, list):
        return max((_max_usage(item) for item in value), default=0.0)
    if not isinstance(value, dict):
        return 0.0
    found = [
        float(v)
        for k, v in value.items()
        if k in ("call_count", "total_cputime", "total_time") and isinstance(v, int | float)
    ]
    nested = [_max_usage(v) for v in value.values() if isinstance(v, dict | list)]
    return max(found + nested, default=0.0)
