"""Fixtures of the integration tests.

A chDB path per test module (one process hosts one chDB path at a time, so every client of a
module is closed at the module's end); a headless chromium for the page tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from clickhouse_connect.driver.client import Client

from hookstream.runtime.clickhouse import connect, parse_clickhouse_url
from schemas.clickhouse import apply_migrations
from tests.support.browser import chromium


@pytest.fixture(scope="module")
def chdb_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"chdb://{tmp_path_factory.mktemp('chdb') / 'engine'}"


@pytest.fixture(scope="module")
def ch(chdb_url: str) -> Iterator[Client]:
    """A client on the module's engine, schema applied."""
    target = parse_clickhouse_url(chdb_url)
    client = connect(target)
    apply_migrations(client, target.database, 3650)
    yield client
    client.close()


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    """Debian's chromium, headless (tests/support/browser.py); skips without it."""
    async with chromium() as launched:
        yield launched
