from __future__ import annotations

import os
from pathlib import Path

import pytest

from hookstream.runtime.errors import ConfigError
from processors.pages_watch import PagesWatcher

GOOD = 'pages:\n  "1001":\n    rules: [{name: a, match: {keywords: [x]}, reply: {text: one}}]\n'
OTHER = 'pages:\n  "1001":\n    rules: [{name: b, match: {keywords: [x]}, reply: {text: two}}]\n'
BROKEN = 'pages:\n  "1001":\n    rules: [{name: c, match: {regex: "("}, reply: {text: x}}]\n'


def touch(path: Path, text: str, bump: int) -> None:
    path.write_text(text)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + bump * 1_000_000_000))


def rule_name(watcher: PagesWatcher) -> str:
    page = watcher.current().page("1001")
    assert page is not None
    return page.rules[0].name


def test_reloads_when_the_file_changes_and_keeps_the_last_good_on_errors(tmp_path: Path) -> None:
    path = tmp_path / "pages.yaml"
    path.write_text(GOOD)
    watcher = PagesWatcher(path, {})
    assert not watcher.check() and rule_name(watcher) == "a"
    touch(path, OTHER, 1)
    assert watcher.check() and rule_name(watcher) == "b"
    touch(path, BROKEN, 2)
    with pytest.raises(ConfigError, match=r"pages\.yaml:3"):
        watcher.check()
    assert rule_name(watcher) == "b"


def test_a_broken_file_at_start_is_a_config_error_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "pages.yaml"
    path.write_text(BROKEN)
    with pytest.raises(ConfigError, match=r"pages.yaml:3: rule 'c': regex does not compile"):
        PagesWatcher(path, {})
