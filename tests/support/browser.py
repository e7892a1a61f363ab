"""A real browser for the page tests: Debian's chromium, headless, driven by Playwright.

Playwright's own browser download cannot work here, so it launches `/usr/bin/chromium` (`.ci/run`
installs Debian's `chromium` when it is missing). `--no-sandbox` is what lets chromium run as
root (CI machines, containers); the other switches keep a headless run from reaching out to
the network for updates, sync or components. Without chromium the page tests skip, unless
`HOOKSTREAM_TEST_BROWSER=required` (set by `.ci/run`), where a missing browser fails them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.async_api import Browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",  # a container's small /dev/shm crashes tabs otherwise
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def browser_required() -> bool:
    return os.environ.get("HOOKSTREAM_TEST_BROWSER", "").strip().lower() == "required"


def skip_without_chromium() -> None:
    if CHROMIUM.exists():
        return
    why = f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    if browser_required():
        pytest.fail(f"{why}, and HOOKSTREAM_TEST_BROWSER=required")
    pytest.skip(why)


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """A headless chromium for one test, closed after it."""
    skip_without_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as driver:
        browser = await driver.chromium.launch(
            executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS), headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()
