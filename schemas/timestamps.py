"""Meta sends milliseconds for messaging but seconds for some events: normalize by magnitude.

Whatever the input (a float of 1e300, `"1e25"`, `"nan"`, `"Infinity"`, an integer beyond 64
bits), the result is an epoch in milliseconds between 1970 and the end of year 9999, or None:
an out-of-range time is dropped, never passed on (orjson cannot encode an integer beyond 64
bits, ClickHouse's DateTime64 cannot hold one after year 9999).
"""

from __future__ import annotations

import math
from datetime import datetime

# Anything below 10^11 is seconds (10^11 s is year 5138; 10^11 ms is 1973).
_SECONDS_BELOW = 100_000_000_000
MAX_EPOCH_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
_MAX_TEXT = 64  # a longer string is no time (and never parsed)


def to_millis(value: object) -> int | None:
    """Normalize an epoch in s or ms (int, float, numeric string or ISO-8601) to ms; None for
    anything that is not a time between 1970 and 9999."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        value = _parse_text(value)
        if value is None:
            return None
    if isinstance(value, int):
        if value <= 0 or value > MAX_EPOCH_MS:
            return None
        return value * 1000 if value < _SECONDS_BELOW else value
    if not isinstance(value, float) or not math.isfinite(value) or value <= 0:
        return None
    millis = value * 1000 if value < _SECONDS_BELOW else value
    return int(millis) if millis <= MAX_EPOCH_MS else None


def _parse_text(text: str) -> float | None:
    if len(text) > _MAX_TEXT:
        return None
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except (ValueError, OverflowError):
        return None
