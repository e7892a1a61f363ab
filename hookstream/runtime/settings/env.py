"""Typed reads from an environment mapping, with errors that name the variable.

A renamed variable's former name still works: `Env.resolve` picks the name to read and logs one
line per former name that is set (what to rename it to, or that the new name wins). Nothing is
read or logged at import time; the lines go out when `Settings.from_env` runs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hookstream.runtime.errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

log = logging.getLogger(__name__)


class Secret:
    """A string that never prints itself (repr, str, logs, tracebacks)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('**********')" if self._value else "Secret('')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Env:
    """Read-only view of the environment (plus `.env`), with typed accessors."""

    values: Mapping[str, str]
    # former names already reported by this Env: one line each, however often they are read
    reported: set[str] = field(default_factory=set, compare=False, repr=False)

    def resolve(self, name: str, old: tuple[str, ...] = ()) -> str:
        """The variable to read for the setting called `name`, formerly one of `old`: `name`
        if it is set, else the first former name that is set (each one set is reported)."""
        new_is_set = name in self.values  # asked first: the reference lists `name` first
        given = [former for former in old if former in self.values]
        chosen = name if new_is_set or not given else given[0]
        for former in given:
            if former == chosen:
                self.deprecated(former, f"{former} is deprecated: rename it {name}")
            else:
                self.deprecated(
                    former, f"{former} is deprecated and ignored: {chosen} is set and wins"
                )
        return chosen

    def deprecated(self, name: str, line: str) -> None:
        """Log `line` (one line, no value: a variable may hold a secret) once for `name`."""
        if name not in self.reported:
            self.reported.add(name)
            log.warning("%s", line)

    def string(self, name: str, default: str = "") -> str:
        return self.values.get(name, default).strip()

    def integer(self, name: str, default: int) -> int:
        raw = self.string(name)
        if not raw:
            return default
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be an integer, got {raw!r}") from None

    def number(self, name: str, default: float) -> float:
        raw = self.string(name)
        if not raw:
            return default
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a number, got {raw!r}") from None

    def flag(self, name: str, default: bool) -> bool:
        raw = self.string(name).lower()
        if name not in self.values:
            return default
        if raw in _TRUE:
            return True
        if raw in _FALSE:
            return False
        raise ConfigError(f"{name} must be true or false, got {raw!r}")

    def csv(self, name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        raw = self.string(name)
        if not raw:
            return default
        return tuple(part.strip() for part in raw.split(",") if part.strip())

    def secret(self, name: str) -> Secret:
        return Secret(self.string(name))

    def secrets(self, name: str) -> tuple[Secret, ...]:
        return tuple(Secret(part) for part in self.csv(name))

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self.string(name, default).lower() or default
        if value not in allowed:
            raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        return value


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse a `.env` file: KEY=VALUE lines, `#` comments, optional quotes, `export` prefix."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        stripped = stripped.removeprefix("export ").strip()
        key, sep, value = stripped.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values
