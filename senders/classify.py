"""Turn a Send API answer (status, headers, body) into a success or a SendError, and read what
Meta says about pacing (usage headers, Retry-After). Pure (time is passed in or read once)."""

from __future__ import annotations

import email.utils
import time
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
    (2300052, None): "person_unavailable",  # "This person is not available right now" (2026-06-11)
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
    if status == 429:
        raise ThrottledError("Send API answered 429", status=status)
    if status == 408:
        raise TemporarySendError("Send API answered 408", status=status)
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
RETRY_AFTER = "retry-after"
_RAW_PACING_HEADERS = frozenset(name.encode() for name in (*USAGE_HEADERS, RETRY_AFTER))
_PERCENT_KEYS = ("call_count", "total_cputime", "total_time")
_REGAIN_KEY = "estimated_time_to_regain_access"  # minutes
MAX_WAIT_S = 24 * 3600.0  # a wait asked for beyond this is read as this


def usage_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Meta's usage headers and Retry-After among raw (name, value) pairs, names in lower case."""
    return {
        name.lower().decode(): value.decode("latin-1")
        for name, value in raw
        if name.lower() in _RAW_PACING_HEADERS
    }


@dataclass(frozen=True, slots=True)
class Usage:
    """What Meta's usage headers say: the highest percentage used (0-100) and how long until
    access is regained (seconds; 0 when not blocked)."""

    percent: float = 0.0
    regain_s: float = 0.0


def usage_of(headers: Mapping[str, str]) -> Usage:
    """X-App-Usage / X-Page-Usage: `{"call_count": 28, "total_cputime": 25, "total_time": 25}`
    (percent); X-Business-Use-Case-Usage: `{"<business object id>": [{"type": "pages",
    "call_count": 100, ..., "estimated_time_to_regain_access": 19}]}` (minutes). Anything else
    in them is ignored."""
    percent = regain_min = 0.0
    for name in USAGE_HEADERS:
        raw = headers.get(name)
        if not raw:
            continue
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        for entry in _usage_entries(value):
            percent = max(percent, *(_number(entry.get(k)) for k in _PERCENT_KEYS))
            regain_min = max(regain_min, _number(entry.get(_REGAIN_KEY)))
    return Usage(min(percent, 1000.0), min(regain_min * 60.0, MAX_WAIT_S))


def usage_percent(headers: Mapping[str, str]) -> float:
    """Highest usage (0-100) in Meta's X-App-Usage / X-Page-Usage / X-Business-Use-Case-Usage."""
    return usage_of(headers).percent


def _usage_entries(value: Any) -> list[dict[str, Any]]:
    """The objects carrying counters: the header itself (app, page) or, for the business use
    case header, the entries of each business object's list. Two levels, no deeper."""
    if not isinstance(value, dict):
        return []
    entries = [value]
    for item in value.values():
        if isinstance(item, list):
            entries += [entry for entry in item if isinstance(entry, dict)]
        elif isinstance(item, dict):
            entries.append(item)
    return entries


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    number = float(value)
    return number if 0.0 <= number < float("inf") else 0.0


def retry_after_s(value: str, now_epoch_s: float) -> float:
    """Seconds asked for by a Retry-After header (delta-seconds or an HTTP date); 0 when
    absent or unreadable."""
    value = value.strip()
    if not value:
        return 0.0
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return 0.0
        if when.tzinfo is None:
            return 0.0
        seconds = when.timestamp() - now_epoch_s
    if seconds != seconds:  # NaN
        return 0.0
    return min(max(0.0, seconds), MAX_WAIT_S)


def wait_asked(headers: Mapping[str, str], now_epoch_s: float | None = None) -> float:
    """How long Meta asked us to wait before calling again (Retry-After, or the usage
    headers' time to regain access), in seconds; 0 when it asked nothing."""
    now = time.time() if now_epoch_s is None else now_epoch_s
    return max(retry_after_s(headers.get(RETRY_AFTER, ""), now), usage_of(headers).regain_s)
