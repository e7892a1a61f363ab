from __future__ import annotations

from clickhouse_connect.driver.exceptions import DatabaseError, DataError, OperationalError

from sinks.retry import Backoff, error_code, is_invalid_data, short_error


def test_backoff_doubles_and_caps() -> None:
    backoff = Backoff(base_s=0.5, max_s=4.0)
    assert [backoff.delay_s(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 4.0]


def test_refused_data_is_told_apart_from_outages() -> None:
    assert is_invalid_data(DataError("Unable to create native array for column `n`"))
    assert is_invalid_data(ValueError("invalid literal for int()"))
    assert is_invalid_data(DatabaseError("Code: 53. DB::Exception: Type mismatch (TYPE_MISMATCH)"))
    assert not is_invalid_data(OperationalError("Connection refused"))
    assert not is_invalid_data(DatabaseError("Code: 241. Memory limit exceeded"))
    assert not is_invalid_data(DatabaseError("Code: 60. Unknown table"))
    assert not is_invalid_data(ConnectionError("reset"))


def test_error_code_and_short_error() -> None:
    assert error_code("Code: 27. DB::Exception: ...") == 27
    assert error_code("no code") is None
    assert short_error(RuntimeError("a\n  b"), limit=3) == "a b"
    assert short_error(RuntimeError()) == "RuntimeError"
