"""Encode/decode helpers shared by the versioned JSON records (orjson, schema_version checked)."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import types
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

import orjson

from schemas.errors import SchemaError

T = TypeVar("T")


def stable_id(prefix: str, *parts: object) -> str:
    """A short deterministic id: the same parts always give the same id (replays, retries)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=12).hexdigest()
    return f"{prefix}_{digest}"


def encode_record(record: Any) -> bytes:
    return orjson.dumps({f.name: getattr(record, f.name) for f in dataclasses.fields(record)})


def load_json_object(payload: bytes | None, what: str) -> dict[str, Any]:
    if not payload:
        raise SchemaError(f"empty {what} record")
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise SchemaError(f"{what} record is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise SchemaError(f"{what} record must be a JSON object")
    return data


@functools.cache
def _field_types(cls: type) -> dict[str, tuple[type, ...]]:
    """Runtime types accepted per field (None allowed for optional ones)."""
    accepted: dict[str, tuple[type, ...]] = {}
    for name, hint in get_type_hints(cls).items():
        options = get_args(hint) if get_origin(hint) in (Union, types.UnionType) else (hint,)
        accepted[name] = tuple(get_origin(o) or o for o in options)
    return accepted


def _check_type(cls: type, name: str, value: Any, what: str) -> None:
    accepted = _field_types(cls)[name]
    if isinstance(value, bool) and bool not in accepted:
        raise SchemaError(f"{what} field {name!r} has the wrong type (bool)")
    if not isinstance(value, accepted):
        raise SchemaError(f"{what} field {name!r} has the wrong type ({type(value).__name__})")


def build(cls: type[T], data: dict[str, Any], version: int, what: str) -> T:
    """Build a dataclass from a dict: version checked, missing required fields named."""
    if data.get("schema_version") != version:
        raise SchemaError(f"unsupported {what} schema_version {data.get('schema_version')!r}")
    values = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in data:
            _check_type(cls, f.name, data[f.name], what)
            values[f.name] = data[f.name]
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise SchemaError(f"{what} field {f.name!r} is missing")
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise SchemaError(f"invalid {what}: {exc}") from None
