from __future__ import annotations

from pathlib import Path

import pytest

from hookstream.runtime.clickhouse import parse_clickhouse_url
from hookstream.runtime.errors import ConfigError
from hookstream.runtime.settings import Settings
from schemas.clickhouse import TABLE_COLUMNS, load_migrations, pending, split_statements


def test_server_url_parts_and_password_never_described() -> None:
    target = parse_clickhouse_url("https://bob:s3cr%40t@ch.example:8443/analytics")
    assert (target.kind, target.host, target.port, target.secure) == (
        "http",
        "ch.example",
        8443,
        True,
    )
    assert (target.username, target.database) == ("bob", "analytics")
    assert target.password.reveal() == "s3cr@t"
    assert "s3cr" not in target.describe() and "s3cr" not in repr(target)
    plain = parse_clickhouse_url("http://ch:8123")
    assert (plain.port, plain.database, plain.username) == (8123, "hookstream", "default")


def test_embedded_urls_absolute_and_relative(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert parse_clickhouse_url("chdb:///var/lib/hs").path == "/var/lib/hs"
    monkeypatch.chdir(tmp_path)
    target = parse_clickhouse_url("chdb://./.hookstream/analytics")
    assert target.embedded and target.path == str(tmp_path / ".hookstream" / "analytics")
    assert target.database == "hookstream"


@pytest.mark.parametrize("url", ["", "ftp://x", "chdb://", "chdb://memory", "http://"])
def test_bad_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        parse_clickhouse_url(url)


def test_sink_settings_from_env() -> None:
    settings = Settings.from_env(
        {
            "CLICKHOUSE_URL": "chdb:///x",
            "HOOKSTREAM_SINK_BATCH_ROWS": "5",
            "HOOKSTREAM_SINK_BATCH_AGE_S": "0.5",
            "HOOKSTREAM_SINK_TTL_DAYS": "30",
        }
    )
    sink = settings.sink
    assert (sink.clickhouse_url, sink.batch_rows, sink.batch_age_s, sink.ttl_days) == (
        "chdb:///x",
        5,
        0.5,
        30,
    )
    assert Settings.from_env({}).sink.clickhouse_url == "chdb://./.hookstream/analytics"


def test_migrations_are_versioned_and_substituted() -> None:
    migrations = load_migrations("hs_test", 30)
    assert [m.version for m in migrations] == sorted(m.version for m in migrations)
    assert [m.version for m in pending(migrations, {1})] == [m.version for m in migrations[1:]]
    sql = "\n".join(s for m in migrations for s in m.statements)
    assert "{db}" not in sql and "{ttl_days}" not in sql and "{ttl_seconds}" not in sql
    assert "INTERVAL 30 DAY" in sql and "hs_test.messages" in sql
    assert "EmbeddedRocksDB(2592000)" in sql  # the ledger expires with the facts
    # every statement can run again: guarded, a setting, a projection build, or a ledger upsert
    idempotent = ("IF NOT EXISTS", "IF EXISTS", "MODIFY SETTING", "MATERIALIZE PROJECTION")
    for statement in (s for m in migrations for s in m.statements):
        assert any(word in statement for word in idempotent) or statement.startswith(
            "INSERT INTO hs_test.stored_facts SELECT"
        ), statement
    for table in TABLE_COLUMNS:
        assert f"CREATE TABLE IF NOT EXISTS hs_test.{table}\n" in sql


def test_bad_database_name_or_ttl_refused() -> None:
    with pytest.raises(ValueError):
        load_migrations("x; DROP", 30)
    with pytest.raises(ValueError):
        load_migrations("ok", 0)


def test_split_statements_drops_comments() -> None:
    assert split_statements("-- a; b\nSELECT 1;\n\nSELECT 2;\n") == ("SELECT 1", "SELECT 2")
