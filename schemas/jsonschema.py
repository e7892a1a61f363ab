"""JSON Schema of the envelope, generated from the same dataclass, for non-Python consumers.

python -m schemas.jsonschema --write     # regenerate schemas/json/*.json
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import orjson

from schemas.envelope import (
    ENVELOPE_SCHEMA_VERSION,
    FIELD_DOCS,
    JSON_TYPES,
    SOURCES,
    envelope_fields,
)

JSON_DIR = Path(__file__).parent / "json"
ENVELOPE_SCHEMA_PATH = JSON_DIR / f"inbound_envelope.v{ENVELOPE_SCHEMA_VERSION}.schema.json"


def envelope_json_schema() -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for name, py_type in envelope_fields():
        prop: dict[str, Any] = {"type": JSON_TYPES.get(py_type, "object")}
        prop["description"] = FIELD_DOCS[name]
        properties[name] = prop
    properties["schema_version"]["const"] = ENVELOPE_SCHEMA_VERSION
    properties["source"]["enum"] = list(SOURCES)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://hookstream.dev/schemas/{ENVELOPE_SCHEMA_PATH.name}",
        "title": "hookstream inbound envelope",
        "type": "object",
        "required": [name for name, _ in envelope_fields()],
        "properties": properties,
        "additionalProperties": False,
    }


def render(schema: dict[str, Any]) -> bytes:
    return orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="write the files (else print)")
    args = parser.parse_args()
    rendered = render(envelope_json_schema())
    if args.write:
        JSON_DIR.mkdir(exist_ok=True)
        ENVELOPE_SCHEMA_PATH.write_bytes(rendered)
        print(f"wrote {ENVELOPE_SCHEMA_PATH}")
    else:
        print(rendered.decode())


if __name__ == "__main__":
    main()
