"""The pages file, reloaded when it changes (its mtime is polled; a broken edit keeps the old)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from hookstream.runtime.errors import ConfigError
from hookstream.runtime.logging import event, get_logger
from hookstream.runtime.pages import PagesConfig, load_pages

log = get_logger("processors.pages")


def mtime_of(path: Path | None) -> float | None:
    if path is None:
        return None
    try:
        return path.stat().st_mtime_ns / 1e9
    except OSError:
        return None


class PagesWatcher:
    """`current()` is the last good config. `check()` reloads if the file changed: True if it
    did reload, False if nothing changed; a broken file raises ConfigError and keeps the old."""

    def __init__(self, path: Path | None, environ: Mapping[str, str]) -> None:
        self.path, self.environ = path, environ
        self._mtime = mtime_of(path)
        self._config = load_pages(path, environ)  # a broken file at start is fatal

    def current(self) -> PagesConfig:
        return self._config

    def check(self) -> bool:
        mtime = mtime_of(self.path)
        if mtime is None or mtime == self._mtime:
            return False
        self._mtime = mtime
        try:
            self._config = load_pages(self.path, self.environ)
        except ConfigError as exc:
            event(log, "pages_reload_failed", logging.ERROR, error=str(exc))
            raise
        event(log, "pages_reloaded", pages=len(self._config.pages))
        return True
