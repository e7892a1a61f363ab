"""The lag collector closes every client it started, on every path (a failed start, a failed
close of one of them), so no Kafka connection outlives it."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from hookstream.ops import collect
from hookstream.ops.collect import LagCollector
from hookstream.runtime.settings import KafkaSettings


@dataclass
class FakeClient:
    name: str
    fail_start: bool = False
    fail_close: bool = False
    started: bool = False
    closed: bool = False

    async def start(self) -> None:
        if self.fail_start:
            raise OSError(f"{self.name} cannot start")
        self.started = True

    async def stop(self) -> None:
        self.closed = True
        if self.fail_close:
            raise RuntimeError(f"{self.name} cannot close")

    close = stop


def fakes(monkeypatch: pytest.MonkeyPatch, **failing: bool) -> list[FakeClient]:
    made: list[FakeClient] = []

    def admin(_settings: KafkaSettings) -> FakeClient:
        made.append(FakeClient("admin", fail_close=failing.get("admin_close", False)))
        return made[-1]

    def consumer(_settings: KafkaSettings, group_id: str | None = None, **_: object) -> FakeClient:
        name = group_id or "reader"
        made.append(
            FakeClient(
                name,
                fail_start=failing.get(f"{name}_start", False),
                fail_close=failing.get(f"{name}_close", False),
            )
        )
        return made[-1]

    monkeypatch.setattr(collect, "new_admin", admin)
    monkeypatch.setattr(collect, "new_consumer", consumer)
    return made


async def test_a_failed_start_closes_what_had_started(monkeypatch: pytest.MonkeyPatch) -> None:
    made = fakes(monkeypatch, reader_start=True)
    collector = LagCollector(KafkaSettings())
    with pytest.raises(OSError, match="reader cannot start"):
        await collector.start()
    assert [(c.name, c.closed) for c in made] == [("admin", True), ("reader", True)]
    await collector.close()  # nothing left: a second close is harmless


async def test_a_failed_close_still_closes_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    made = fakes(monkeypatch, reader_close=True)
    collector = LagCollector(KafkaSettings())
    await collector.start()
    await collector.group_client("g1")
    with pytest.raises(RuntimeError, match="reader cannot close"):
        await collector.close()
    assert {c.name: c.closed for c in made} == {"admin": True, "reader": True, "g1": True}


async def test_a_group_client_that_cannot_start_is_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    made = fakes(monkeypatch, g2_start=True)
    collector = LagCollector(KafkaSettings())
    await collector.start()
    with pytest.raises(OSError, match="g2 cannot start"):
        await collector.group_client("g2")
    await collector.close()
    assert all(c.closed for c in made)
