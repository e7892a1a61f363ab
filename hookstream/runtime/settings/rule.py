"""The one rule that names every environment variable, and the reader that applies it.

A setting's variable is `<PREFIX>_<FIELD>`, upper-case, where FIELD is the dataclass field's name
and PREFIX is its section's: `HOOKSTREAM_<SECTION>` with SECTION the attribute of `Settings` that
holds the section (`HOOKSTREAM_SENDER_CONCURRENCY` fills `settings.sender.concurrency`),
`HOOKSTREAM` for the top-level fields (`HOOKSTREAM_LOG_LEVEL`), and `KAFKA` for the Kafka section
(named after the contract's `KAFKA_BOOTSTRAP_SERVERS`, so the connection settings read as they do
in every Kafka tool: `KAFKA_SECURITY_PROTOCOL`).

A field declares only what the rule cannot say, with `setting(default, ...)`: a name fixed by the
public contract or by a standard (`name=`, each one commented where it is declared), the former
names still read (`old=`, with one deprecation line each), the values a choice allows, and a
clean-up of the raw value. Everything else is a plain dataclass field; its type says how it is
parsed (str, int, float, bool, Secret, Path, `Path | None`, tuples of str or Secret).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from hookstream.runtime.settings.env import Env, Secret

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

SECTION_PREFIXES: Mapping[str, str] = {"": "HOOKSTREAM", "kafka": "KAFKA"}

_SPEC = "hookstream.env"  # the key of a field's Spec in its dataclass metadata

T = TypeVar("T")
D = TypeVar("D", bound="DataclassInstance")


def env_name(section: str, field: str) -> str:
    """The rule: the variable of `field` in the section `section` ("" for the top level)."""
    prefix = SECTION_PREFIXES.get(section, f"HOOKSTREAM_{section.upper()}")
    return f"{prefix}_{field.upper()}"


@dataclass(frozen=True)
class Spec:
    """What a field says about its variable beyond the rule."""

    name: str = ""  # an exception to the rule: the contract's or a standard's name
    old: tuple[str, ...] = ()  # former names, still read
    choices: tuple[str, ...] = ()  # a string setting that allows only these (case-insensitive)
    clean: Callable[[str], str] | None = None  # applied to a string setting's value


def setting(
    default: T,
    *,
    name: str = "",
    old: tuple[str, ...] = (),
    choices: tuple[str, ...] = (),
    clean: Callable[[str], str] | None = None,
) -> T:
    """A settings field with a default and what its variable needs beyond the rule."""
    spec = Spec(name, old, choices, clean)
    return dataclasses.field(default=default, metadata={_SPEC: spec})


def no_trailing_slash(value: str) -> str:
    return value.rstrip("/")


def spec_of(field: dataclasses.Field[Any]) -> Spec:
    found = field.metadata.get(_SPEC)
    return found if isinstance(found, Spec) else Spec()


def variable_of(section: str, field: dataclasses.Field[Any]) -> str:
    """The variable that fills `field`: its declared exception, else the rule's name."""
    return spec_of(field).name or env_name(section, field.name)


def sections(cls: type[DataclassInstance]) -> dict[str, type[DataclassInstance]]:
    """The nested sections of `cls` (a dataclass-typed field is a section), by field name."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if _is_dataclass(hints[f.name])}


def names(cls: type[DataclassInstance], section: str = "") -> list[tuple[str, ...]]:
    """Per field of `cls` (nested sections included): its variable, then its former names."""
    hints = typing.get_type_hints(cls)
    found: list[tuple[str, ...]] = []
    for field in dataclasses.fields(cls):
        if _is_dataclass(hints[field.name]):
            found += names(hints[field.name], field.name)
        else:
            found.append((variable_of(section, field), *spec_of(field).old))
    return found


def read_section(cls: type[D], env: Env, section: str = "") -> D:
    """An instance of the settings dataclass `cls`, each field read from its variable; nested
    sections are read under their own field's name."""
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        if _is_dataclass(hint):
            values[field.name] = read_section(hint, env, field.name)
            continue
        spec = spec_of(field)
        name = env.resolve(variable_of(section, field), spec.old)
        values[field.name] = _read(env, name, hint, field.default, spec)
    return cls(**values)


def _is_dataclass(hint: object) -> bool:
    return isinstance(hint, type) and dataclasses.is_dataclass(hint)


def _read(env: Env, name: str, hint: Any, default: Any, spec: Spec) -> Any:
    """One field's value, parsed as its type says."""
    if hint is bool:
        return env.flag(name, default)
    if hint is int:
        return env.integer(name, default)
    if hint is float:
        return env.number(name, default)
    if hint is Secret:
        return env.secret(name)
    if hint is Path:
        return Path(env.string(name, str(default)))
    if hint == (Path | None):
        raw = env.string(name)
        return Path(raw) if raw else default
    if typing.get_origin(hint) is tuple:
        if typing.get_args(hint)[0] is Secret:
            return env.secrets(name)
        return env.csv(name, default)
    if hint is str:
        value = (
            env.choice(name, default, spec.choices) if spec.choices else env.string(name, default)
        )
        return spec.clean(value) if spec.clean else value
    raise TypeError(f"{name}: no reader for a setting of type {hint!r}")
