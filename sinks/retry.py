"""Pure retry policy for ClickHouse writes: back off on outages, isolate rows it calls invalid."""

from __future__ import annotations

import re
from dataclasses import dataclass

# ClickHouse error codes that mean "this data is wrong", not "try again later".
INVALID_DATA_CODES = frozenset(
    {
        6,  # CANNOT_PARSE_TEXT
        26,  # CANNOT_PARSE_QUOTED_STRING
        27,  # CANNOT_PARSE_INPUT_ASSERTION_FAILED
        38,  # CANNOT_PARSE_DATE
        41,  # CANNOT_PARSE_DATETIME
        53,  # TYPE_MISMATCH
        69,  # ARGUMENT_OUT_OF_BOUND
        70,  # CANNOT_CONVERT_TYPE
        72,  # CANNOT_PARSE_NUMBER
        117,  # INCORRECT_DATA
        131,  # TOO_LARGE_STRING_SIZE
        321,  # VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
        349,  # CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
    }
)
_CODE = re.compile(r"Code: (\d+)")


@dataclass(frozen=True)
class Backoff:
    base_s: float = 0.5
    max_s: float = 30.0

    def delay_s(self, attempt: int) -> float:
        """Delay before retry number `attempt` (1-based): exponential, capped."""
        return float(min(self.max_s, self.base_s * 2 ** max(attempt - 1, 0)))


def error_code(message: str) -> int | None:
    match = _CODE.search(message)
    return int(match.group(1)) if match else None


def is_invalid_data(exc: BaseException) -> bool:
    """True when ClickHouse (or the client serializing for it) refuses the data itself."""
    name = type(exc).__name__
    if name == "DataError" or isinstance(exc, ValueError | TypeError | OverflowError):
        return True
    code = error_code(str(exc))
    return code is not None and code in INVALID_DATA_CODES


def short_error(exc: BaseException, limit: int = 500) -> str:
    return " ".join(str(exc).split())[:limit] or type(exc).__name__
