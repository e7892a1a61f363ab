from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from processors.table_store import LocalStore, RocksStore, store_url

rocksdict = pytest.importorskip("rocksdict")
OFFSET_KEY = b"__faust\0offset__"


def rocks_table(tmp_path: Path, partitions: int) -> Any:
    dbs = {}
    for p in range(partitions):
        options = rocksdict.Options(raw_mode=True)
        options.create_if_missing(True)
        dbs[p] = rocksdict.Rdict(str(tmp_path / f"p{p}.db"), options=options)
    store = SimpleNamespace(_dbs=dbs, offset_key=OFFSET_KEY)
    store._db_for_partition = dbs.__getitem__
    return SimpleNamespace(data=store)


def test_rocks_scan_walks_every_partition_in_bounded_steps_round_and_round(
    tmp_path: Path,
) -> None:
    table = rocks_table(tmp_path, 3)
    local = RocksStore(table)
    for p in range(3):
        for i in range(5):
            local.put(f"c{p}-{i}".encode(), b"v", p)
        table.data._dbs[p].put(OFFSET_KEY, b"7")  # faust's own bookkeeping: never scanned
    seen: list[tuple[bytes, int | None]] = []
    for _ in range(4):
        step = local.scan(4)
        assert len(step) <= 4
        seen += [(key, partition) for key, _value, partition in step]
    every = sorted((f"c{p}-{i}".encode(), p) for p in range(3) for i in range(5))
    assert sorted(seen[:15]) == every  # each once, in steps of at most 4
    assert seen[15:] == [(b"c0-0", 0)]  # then round again from the first partition


def test_rocks_get_put_delete_by_partition(tmp_path: Path) -> None:
    local = RocksStore(rocks_table(tmp_path, 2))
    local.put(b"k", b"v", 1)
    assert local.get(b"k", 1) == b"v"
    assert local.get(b"k", 0) is None
    local.delete(b"k", 1)
    assert local.get(b"k", 1) is None


def test_memory_scan_snapshots_a_pass_and_skips_keys_deleted_meanwhile() -> None:
    data = {f"k{i}".encode(): b"v" for i in range(5)}
    local = LocalStore(SimpleNamespace(data=SimpleNamespace(data=data)))
    assert [k for k, _, _ in local.scan(2)] == [b"k0", b"k1"]
    local.delete(b"k2", None)
    assert [k for k, _, _ in local.scan(2)] == [b"k3"]  # k2 gone meanwhile
    assert [k for k, _, _ in local.scan(2)] == [b"k4"]
    assert [k for k, _, _ in local.scan(2)] == [b"k0", b"k1"]  # the next pass


def test_store_url_by_setting() -> None:
    assert store_url("memory") == "memory://"
    assert store_url("rocksdb") == "rocksdb://"


def test_rocksdb_without_its_driver_falls_back_to_memory_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("processors.table_store.rocksdb_available", lambda: False)
    with caplog.at_level("WARNING"):
        assert store_url("rocksdb") == "memory://"
    assert [r.levelname for r in caplog.records if "store_fallback" in r.getMessage()] == [
        "WARNING"
    ]
