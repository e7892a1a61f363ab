"""ClickHouse DDL: versioned, idempotent migrations in `schemas/sql/NNN_name.sql`.

    apply_migrations(client, database="hookstream", ttl_days=365)

Each file is a list of `;`-separated statements with `{db}`, `{ttl_days}` and `{ttl_seconds}`
placeholders; every statement is idempotent (IF NOT EXISTS, upserts), and
`{db}.schema_migrations` records which versions ran, so starting the sink any number of times,
or several sinks at once, converges on one schema.
`TABLE_COLUMNS` is the column order the sink inserts in (see `sinks/rows.py`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from clickhouse_connect.driver.client import Client

SQL_PACKAGE = "schemas"
_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "messages": (
        "fact_id",
        "ts",
        "event_id",
        "event_time",
        "processed_at",
        "processing_ms",
        "platform",
        "page_id",
        "conversation_id",
        "user_id",
        "direction",
        "kind",
        "text_length",
        "attachment_types",
        "rate_limited",
        "test",
        "no_reply",
        "request_id",
        "source_topic",
        "source_partition",
        "source_offset",
    ),
    "replies": (
        "fact_id",
        "ts",
        "planned_at",
        "plan_ms",
        "command_id",
        "event_id",
        "page_id",
        "conversation_id",
        "responder",
        "rule_id",
        "messaging_type",
    ),
    "deliveries": (
        "fact_id",
        "ts",
        "created_at",
        "command_id",
        "page_id",
        "conversation_id",
        "status",
        "attempts",
        "latency_ms",
        "e2e_ms",
        "has_e2e",
        "is_error",
        "error_code",
        "error_subcode",
        "error_message",
        "message_id",
    ),
    "dead_letters": (
        "fact_id",
        "ts",
        "dead_letter_id",
        "source_topic",
        "service",
        "reason",
        "page_id",
        "conversation_id",
    ),
    "duplicates": (
        "fact_id",
        "ts",
        "event_id",
        "page_id",
        "conversation_id",
        "platform",
        "kind",
        "first_received_at",
        "processed_at",
        "request_id",
        "source_topic",
        "source_partition",
        "source_offset",
    ),
}
ROLLUP_TABLES = (  # views
    "messages_1m",
    "replies_1m",
    "deliveries_1m",
    "dead_letters_1m",
    "duplicates_1m",
)
LEDGER_TABLE = "stored_facts"  # fact_id -> ts of every stored fact (003_atomic_rollups.sql)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


def split_statements(sql: str) -> tuple[str, ...]:
    """`;`-terminated statements, `--` comment lines dropped (no `;` inside literals here)."""
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    return tuple(s.strip() for s in "\n".join(lines).split(";") if s.strip())


def load_migrations(database: str, ttl_days: int) -> tuple[Migration, ...]:
    if not _IDENTIFIER.match(database):
        raise ValueError(f"invalid ClickHouse database name {database!r}")
    if ttl_days < 1:
        raise ValueError("analytics TTL must be at least one day")
    found = []
    for entry in resources.files(SQL_PACKAGE).joinpath("sql").iterdir():
        match = _NAME.match(entry.name)
        if match is None:
            continue
        sql = entry.read_text(encoding="utf-8")
        sql = sql.replace("{db}", database).replace("{ttl_days}", str(ttl_days))
        sql = sql.replace("{ttl_seconds}", str(ttl_days * 86_400))
        found.append(Migration(int(match.group(1)), match.group(2), split_statements(sql)))
    return tuple(sorted(found, key=lambda m: m.version))


def pending(migrations: tuple[Migration, ...], applied: set[int]) -> tuple[Migration, ...]:
    return tuple(m for m in migrations if m.version not in applied)


def applied_versions(client: Client, database: str) -> set[int]:
    result = client.query(
        f"SELECT DISTINCT version FROM {database}.schema_migrations"  # noqa: S608 - checked name
    )
    return {int(row[0]) for row in result.result_rows}


def apply_migrations(client: Client, database: str, ttl_days: int) -> list[int]:
    """Create the database and apply what has not run yet; returns the versions applied."""
    migrations = load_migrations(database, ttl_days)
    client.command(f"CREATE DATABASE IF NOT EXISTS {database}")
    client.command(
        f"CREATE TABLE IF NOT EXISTS {database}.schema_migrations (version UInt32, name String,"
        " applied_at DateTime DEFAULT now()) ENGINE = ReplacingMergeTree ORDER BY version"
    )
    done = []
    for migration in pending(migrations, applied_versions(client, database)):
        for statement in migration.statements:
            client.command(statement)
        client.insert(
            f"{database}.schema_migrations",
            [(migration.version, migration.name)],
            column_names=["version", "name"],
        )
        done.append(migration.version)
    return done
