"""ClickHouse side of the sink (synchronous; the service runs it in a worker thread).

`write(batch)` inserts each table's rows once: it first drops the facts ClickHouse already has
(a replay, a redelivery after a restart before the commit, a fact produced twice upstream;
`check(batch)` asks that ahead of the write, see `Prechecked`), then inserts one block per table
with a deduplication token (a retried insert that had landed is dropped by ClickHouse itself).
If ClickHouse refuses the data, the block is split in halves until the refused rows are
isolated; they come back as `Rejected` (bound for the dlq) and the rest goes in. Anything else
raises `WriteFailed` and nothing may be committed.

"Already has" costs the same however much is stored (schemas/sql/003_atomic_rollups.sql): the
batch's facts are looked up by (page, fact id) in the `stored_facts` ledger (a key-value table
filled from the fact tables on insert), and the ones it lacks in their fact table by the full
sorting key (page_id, ts, fact_id): a record re-read after a kill that cut the ledger entry off
repeats that key exactly. A fact found that way is added to the ledger. The minute rollups are
projections of the fact tables, written in the same part as the facts, so a fact found stored
is counted in its rollup too.

The fact-table lookup is only needed for a record that an insert which did not finish may have
carried: one handed to a writer before this process had the partition (a previous owner, killed
or not), or one of a batch whose write failed here. `Fresh` says from which offset on a
partition's records are past both (`assigned`: the partition's end offset when it was assigned;
`failed`: past a failed batch); their facts are looked up in the ledger only, which an insert
that finished always filled (a fact produced twice upstream is a second record with the same
id: the ledger has the first, or the first is suspect and found). This takes a previous owner to
fetch nothing once the partition was assigned elsewhere, as the group protocol has it (a
consumer whose event loop stalled past its session fetches nothing meanwhile either). Without
`Fresh` every record gets both lookups. In
bench/sink/check.py the fact-table lookup is ~80% of a check's time on fresh facts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from operator import itemgetter

from clickhouse_connect.driver.client import Client

from hookstream.runtime.consumer import Consumed as ConsumedRecord
from schemas.clickhouse import LEDGER_TABLE, TABLE_COLUMNS
from schemas.timestamps import MAX_EPOCH_MS
from sinks.batch import Batch, TableRows, dedup_token
from sinks.errors import WriteFailed
from sinks.retry import is_invalid_data, short_error
from sinks.rows import PAGE_COLUMN, Values

CHECK_CHUNK = 20_000
CHECK_SETTINGS = {"max_query_size": 16 * 1024 * 1024}
INSERT_SETTINGS = {"deduplicate_blocks_in_dependent_materialized_views": 1}
_FACT_ID, _TS = itemgetter(0), itemgetter(1)  # every table starts with (fact_id, ts)
_PAGE = {table: itemgetter(index) for table, index in PAGE_COLUMN.items()}


@dataclass(frozen=True, slots=True)
class Rejected:
    table: str
    values: Values
    source: ConsumedRecord
    error: str

    @property
    def page_id(self) -> str:
        page_id: str = _PAGE[self.table](self.values)
        return page_id


@dataclass(frozen=True)
class WriteResult:
    inserted: int
    skipped_existing: int
    rejected: tuple[Rejected, ...]


@dataclass(frozen=True)
class Prechecked:
    """The facts of a batch ClickHouse had when it was checked ahead of the write (while the
    previous batch was being inserted), plus the facts that previous batch stored after it."""

    stored: dict[str, set[str]]  # table -> fact ids found
    since: AbstractSet[str] = frozenset()
    unledgered: AbstractSet[str] = frozenset()  # found in a fact table, not in the ledger

    def of(self, table: str) -> AbstractSet[str]:
        found = self.stored.get(table, set())
        return found | self.since if found else self.since


class Fresh:
    """Per (topic, partition), the first offset whose records no unfinished insert can have
    carried (see the module docstring). A partition it does not know is not fresh anywhere."""

    def __init__(self) -> None:
        self.from_offset: dict[tuple[str, int], int] = {}

    def assigned(self, ends: Mapping[tuple[str, int], int]) -> None:
        """The partitions were (re)assigned; `ends` their end offsets at that moment."""
        for tp, end in ends.items():
            self.from_offset[tp] = max(end, self.from_offset.get(tp, 0))

    def failed(self, batch: Batch) -> None:
        """A write of `batch` failed: its records, and any before them, are suspect."""
        for tp, (_, last) in batch.ranges.items():
            self.from_offset[tp] = max(last + 1, self.from_offset.get(tp, 0))

    def suspect(self, source: ConsumedRecord) -> bool:
        start = self.from_offset.get((source.topic, source.partition))
        return start is None or source.offset < start


@dataclass
class ClickHouseWriter:
    client: Client
    database: str
    fresh: Fresh | None = None  # None: every record gets both lookups

    def write(self, batch: Batch, checked: Prechecked | None = None) -> WriteResult:
        """Insert what ClickHouse does not have yet; `checked` saves asking it again."""
        try:
            return self._write(batch, checked)
        except BaseException:
            if self.fresh is not None:
                self.fresh.failed(batch)  # some of it may be stored, without its ledger rows
            raise

    def _write(self, batch: Batch, checked: Prechecked | None) -> WriteResult:
        if checked is None:
            checked = self.check(batch)
        inserted = skipped = 0
        rejected: list[Rejected] = []
        for table, rows in batch.tables.items():
            fresh = _without(rows, checked.of(table))
            skipped += len(rows.values) - len(fresh.values)
            ok, bad = self._insert(table, fresh, batch.ranges)
            inserted += ok
            rejected += bad
        self._ledger(batch, checked.unledgered)
        return WriteResult(inserted, skipped, tuple(rejected))

    def check(self, batch: Batch) -> Prechecked:
        """Per table, the batch's fact ids ClickHouse already has (and which of them the ledger
        lacks)."""
        keys = {
            ledger_key(_PAGE[table](v), v[0]): v[0]
            for table, rows in batch.tables.items()
            for v in rows.values
        }
        ledgered = {keys[k] for k in self.ledgered(list(keys))}
        stored: dict[str, set[str]] = {}
        unledgered: set[str] = set()
        fresh = self.fresh
        for table, rows in batch.tables.items():
            found = {f for f in map(_FACT_ID, rows.values) if f in ledgered}
            if fresh is None:
                rest = [v for v in rows.values if v[0] not in found] if found else rows.values
            else:
                suspect = fresh.suspect
                rest = [
                    v
                    for v, src in zip(rows.values, rows.sources, strict=True)
                    if v[0] not in found and suspect(src)
                ]
            in_table = self.stored_ids(table, rest)
            unledgered |= in_table
            stored[table] = found | in_table
        return Prechecked(stored, unledgered=unledgered)

    def ledgered(self, keys: list[str]) -> set[str]:
        """The ledger keys (see `ledger_key`) the ledger has: point lookups in a key-value
        table."""
        found: set[str] = set()
        for start in range(0, len(keys), CHECK_CHUNK):
            chunk = keys[start : start + CHECK_CHUNK]
            sql = (
                f"SELECT key FROM {self.database}.{LEDGER_TABLE} "  # noqa: S608 - names fixed
                f"WHERE key IN ({_id_set(chunk)})"
            )
            found |= self._ids(sql, LEDGER_TABLE)
        return found

    def stored_ids(self, table: str, rows: list[Values]) -> set[str]:
        stored: set[str] = set()
        for start in range(0, len(rows), CHECK_CHUNK):
            stored |= self.existing_ids(table, rows[start : start + CHECK_CHUNK])
        return stored

    def existing_ids(self, table: str, rows: Sequence[Values]) -> set[str]:
        """The rows' facts stored in `table` under the same (page_id, ts, fact_id): a lookup
        in the table's sorting key, which reads only the granules holding those keys."""
        if not rows:
            return set()
        # Clamped: a row's ts can be anything its fact said (refused later, at the insert), and
        # an out-of-range literal here would fail the check of the whole batch again and again.
        stamps = ",".join(str(min(max(int(ts), 0), MAX_EPOCH_MS)) for ts in map(_TS, rows))
        pages, ids = _array(list(map(_PAGE[table], rows))), _array(list(map(_FACT_ID, rows)))
        stamped = f"arrayMap(x -> fromUnixTimestamp64Milli(toInt64(x), 'UTC'), [{stamps}])"
        zipped = f"arrayZip({pages}, {stamped}, {ids})"
        keys = f"SELECT k.1, k.2, k.3 FROM (SELECT arrayJoin({zipped}) AS k)"  # noqa: S608
        sql = (
            f"SELECT fact_id FROM {self.database}.{table} "  # noqa: S608 - names fixed, values quoted
            f"WHERE (page_id, ts, fact_id) IN ({keys})"
        )
        return self._ids(sql, table)

    def _ids(self, sql: str, table: str) -> set[str]:
        try:
            result = self.client.query(sql, settings=CHECK_SETTINGS)
        except Exception as exc:  # noqa: BLE001 - every failure here means "not now"
            raise WriteFailed(f"checking stored facts in {table}: {short_error(exc)}") from None
        return {r[0] for r in result.result_rows}

    def _ledger(self, batch: Batch, fact_ids: AbstractSet[str]) -> None:
        """Add facts found in a fact table to the ledger (an upsert: repeating it is harmless)."""
        if not fact_ids:
            return
        rows = [
            (ledger_key(_PAGE[table](v), v[0]), v[1])
            for table, table_rows in batch.tables.items()
            for v in table_rows.values
            if v[0] in fact_ids
        ]
        try:
            self.client.insert(f"{self.database}.{LEDGER_TABLE}", rows, column_names=["key", "ts"])
        except Exception as exc:  # noqa: BLE001 - the batch is retried, nothing committed
            raise WriteFailed(f"recording stored facts: {short_error(exc)}") from None

    def _insert(
        self, table: str, rows: TableRows, ranges: dict[tuple[str, int], tuple[int, int]]
    ) -> tuple[int, list[Rejected]]:
        if not rows.values:
            return 0, []
        token = dedup_token(table, ranges, map(_FACT_ID, rows.values))
        try:
            self.client.insert(
                f"{self.database}.{table}",
                rows.values,
                column_names=list(TABLE_COLUMNS[table]),
                settings={**INSERT_SETTINGS, "insert_deduplication_token": token},
            )
            return len(rows.values), []
        except Exception as exc:  # noqa: BLE001 - classified right below
            if not is_invalid_data(exc):
                raise WriteFailed(f"inserting into {table}: {short_error(exc)}") from None
            if len(rows.values) == 1:
                return 0, [Rejected(table, rows.values[0], rows.sources[0], short_error(exc))]
        half = len(rows.values) // 2
        ok_a, bad_a = self._half(table, rows, slice(0, half))
        ok_b, bad_b = self._half(table, rows, slice(half, None))
        return ok_a + ok_b, bad_a + bad_b

    def _half(self, table: str, rows: TableRows, part: slice) -> tuple[int, list[Rejected]]:
        half = TableRows(rows.values[part], rows.sources[part])
        return self._insert(table, half, _ranges_of(half.sources))


def ledger_key(page_id: str, fact_id: str) -> str:
    """A fact's key in the ledger: the same fact is the same id on the same page (the view in
    003_atomic_rollups.sql builds it as `concat(toString(length(page_id)), ':', page_id,
    fact_id)`, length in bytes)."""
    return f"{len(page_id.encode())}:{page_id}{fact_id}"


def _without(rows: TableRows, stored: AbstractSet[str]) -> TableRows:
    if not stored:
        return rows
    keep = [i for i, fact_id in enumerate(map(_FACT_ID, rows.values)) if fact_id not in stored]
    return TableRows([rows.values[i] for i in keep], [rows.sources[i] for i in keep])


def _quote(value: str) -> str:
    """A ClickHouse string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _strings(values: Sequence[str]) -> str:
    return ", ".join(map(_quote, values))


def _array(values: list[str]) -> str:
    """The strings as an Array(String) expression: one string literal split server-side
    (ClickHouse parses one long literal far faster than thousands of small ones, about 3x for
    a 10,000-row batch on chDB), or a literal array if a value holds the separator."""
    joined = "\n".join(values)
    if joined.count("\n") != len(values) - 1:
        return f"[{_strings(values)}]"
    return f"splitByChar('\\n', {_quote(joined)})"


def _id_set(ids: list[str]) -> str:
    return f"SELECT arrayJoin({_array(ids)})"


def _ranges_of(sources: list[ConsumedRecord]) -> dict[tuple[str, int], tuple[int, int]]:
    ranges: dict[tuple[str, int], tuple[int, int]] = {}
    for src in sources:
        tp = (src.topic, src.partition)
        first, last = ranges.get(tp, (src.offset, src.offset))
        ranges[tp] = (min(first, src.offset), max(last, src.offset))
    return ranges
