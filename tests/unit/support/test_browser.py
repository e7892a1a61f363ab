"""The page tests' browser: skipped without chromium, failed without it where CI requires it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import browser


def test_no_chromium_skips(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "chromium")
    monkeypatch.delenv("HOOKSTREAM_TEST_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        browser.skip_without_chromium()


def test_no_chromium_fails_where_it_is_required(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "chromium")
    monkeypatch.setenv("HOOKSTREAM_TEST_BROWSER", "required")
    with pytest.raises(pytest.fail.Exception, match="HOOKSTREAM_TEST_BROWSER=required"):
        browser.skip_without_chromium()


def test_chromium_there_goes_ahead(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "chromium").write_text("")
    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "chromium")
    monkeypatch.setenv("HOOKSTREAM_TEST_BROWSER", "required")
    browser.skip_without_chromium()  # neither skips nor fails


def test_root_can_run_it_headless() -> None:
    assert {"--headless", "--no-sandbox"} <= set(browser.CHROMIUM_ARGS)
