"""Meta sends milliseconds for messaging but seconds for some events: normalize by magnitude."""

from __future__ import annotations

from datetime import datetime

# Anything below 10^11 is seconds (10^11 s is year 5138; 10^11 ms is 1973).
_SECONDS_BELOW = 100_000_000_000


def to_millis(value: object) -> int | None:
    """Normalize an epoch in s or ms (int, float, numeric string or ISO-8601) to ms."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        value = _parse_text(value)
        if value is None:
            return None
    if not isinstance(value, int | float) or value <= 0:
        return None
    return int(value * 1000) if value < _SECONDS_BELOW else int(value)


def _parse_text(text: str) -> float | None:
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
