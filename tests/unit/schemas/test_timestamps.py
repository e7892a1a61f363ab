from __future__ import annotations

import pytest

from schemas.timestamps import to_millis


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_700_000_000_123, 1_700_000_000_123),  # ms stay ms
        (1_700_000_000, 1_700_000_000_000),  # seconds become ms
        (1_700_000_000.5, 1_700_000_000_500),
        ("1700000000", 1_700_000_000_000),  # numeric strings
        ("2023-11-14T22:13:20+0000", 1_700_000_000_000),
        ("2023-11-14T22:13:20Z", 1_700_000_000_000),
        (None, None),
        (True, None),
        ("soon", None),
        (-5, None),
        (0, None),
        ({}, None),
    ],
)
def test_to_millis_normalizes_by_magnitude(value: object, expected: int | None) -> None:
    assert to_millis(value) == expected
