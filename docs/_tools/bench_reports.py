"""Dated benchmark reports for the docs site, from the JSON the benchmarks write.

    python docs/_tools/bench_reports.py [--results bench/results] [--out docs/benchmarks/reports]

Each `bench/results/<name>.json` (written by `make bench-<name>`; `bench/results/` is not
committed) becomes `docs/benchmarks/reports/<date>-<name>.md`: the date is the JSON's own `when`
(or `date`) if it has one, else the file's modification time (UTC). The figures are rendered as
they are, nested keys flattened to `a.b.c`, so any shape a benchmark writes comes out; long
series (per-sample timelines) are summarized, not listed. An existing report of the same date and
name is overwritten; commit the new report to publish it (the site's nav lists every report in
`docs/benchmarks/reports/`, newest first).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
REPORTS = ROOT / "docs" / "benchmarks" / "reports"
LONG_SERIES = 12  # lists longer than this are summarized
SKIPPED = {"work_dir"}  # a temporary directory of the run: nothing to publish

COMMANDS = {
    "ingress": "make bench-ingress",
    "processors": "make bench-processors",
    "sender": "make bench-sender",
    "sink": "make bench-sink",
    "e2e": "make bench-e2e",
    "e2e-soak": "python -m bench.e2e --soak",
    "sender_outage": "python -m bench.sender.outage",
}


def report_date(data: Mapping[str, Any], path: Path) -> str:
    for key in ("when", "date", "started_at"):
        value = data.get(key)
        if isinstance(value, str) and len(value) >= 10:
            return value[:10]
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).date().isoformat()


def _scalar(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 1e15 else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def rows(data: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(dotted key, shown value) for every leaf; long lists summarized."""
    if isinstance(data, Mapping):
        for key, value in data.items():
            yield from rows(value, f"{prefix}{key}.")
        return
    key = prefix.rstrip(".")
    if isinstance(data, list):
        if len(data) > LONG_SERIES or any(isinstance(v, Mapping | list) for v in data):
            yield key, f"({len(data)} values, in the JSON)"
        else:
            yield key, ", ".join(_scalar(v) for v in data)
        return
    yield key, _scalar(data)


def _is_scalar(value: Any) -> bool:
    """A value shown in one cell: a scalar, or a short list of scalars."""
    if isinstance(value, list):
        return len(value) <= LONG_SERIES and not any(isinstance(v, Mapping | list) for v in value)
    return not isinstance(value, Mapping)


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_scalar(v) for v in value)
    return _scalar(value)


def _matrix(records: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Cases as rows, their figures as columns (the shape most benchmarks write)."""
    columns: list[str] = []
    for figures in records.values():
        columns += [k for k in figures if k not in columns]
    lines = [
        "| case | " + " | ".join(f"`{c}`" for c in columns) + " |",
        "| --- | " + " | ".join("---:" for _ in columns) + " |",
    ]
    for case, figures in records.items():
        cells = [_cell(figures[c]) if c in figures else "" for c in columns]
        lines.append(f"| `{case}` | " + " | ".join(cells) + " |")
    return lines


def _table(pairs: list[tuple[str, str]]) -> list[str]:
    return ["| figure | value |", "| --- | ---: |"] + [f"| `{k}` | {v} |" for k, v in pairs]


def _block(data: Mapping[str, Any], level: int) -> list[str]:
    """Scalars as a figure/value table, a group of similar records as a matrix, the rest as
    sections of their own (then flattened, below the third heading level)."""
    scalars = [(k, _cell(v)) for k, v in data.items() if _is_scalar(v) and k not in SKIPPED]
    records = {
        k: v
        for k, v in data.items()
        if isinstance(v, Mapping) and v and all(_is_scalar(x) for x in v.values())
    }
    shared = set.intersection(*(set(v) for v in records.values())) if records else set()
    if len(records) < 2 or not shared:  # a matrix only of records that measure the same things
        records = {}
    rest = {k: v for k, v in data.items() if not _is_scalar(v) and k not in records}
    lines: list[str] = []
    if scalars:
        lines += [*_table(scalars), ""]
    if records:
        lines += [*_matrix(records), ""]
    for key, value in rest.items():
        lines += ["#" * level + f" {key}", ""]
        if not value:
            lines += ["None.", ""]
        elif isinstance(value, Mapping) and level < 3:
            lines += _block(value, level + 1)
        else:
            pairs = [(k, v) for k, v in rows(value) if k] or [(key, next(iter(rows(value)))[1])]
            lines += [*_table(pairs), ""]
    return lines


def render(name: str, data: Mapping[str, Any], date: str, source: str) -> str:
    command = COMMANDS.get(name, f"python -m bench.{name}")
    lines = [
        f"# {date}: {name} benchmark",
        "",
        f"<!-- Generated by `python docs/_tools/bench_reports.py` from `{source}`. -->",
        "",
        f"`{command}` on the machine of the day; figures as the benchmark wrote them. See the",
        "[benchmarks overview](../index.md) for what each one measures and the targets.",
        "",
        *_block(data, 2),
    ]
    return "\n".join(lines).rstrip() + "\n"


def generate(results: Path = RESULTS, out: Path = REPORTS) -> list[Path]:
    written = []
    for path in sorted(results.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, Mapping):
            data = {"value": data}
        date = report_date(data, path)
        source = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        target = out / f"{date}-{path.stem}.md"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render(path.stem, data, date, str(source)), encoding="utf-8")
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--out", type=Path, default=REPORTS)
    args = parser.parse_args(argv)
    written = generate(args.results, args.out)
    for path in written:
        print(f"wrote {path}")
    if not written:
        print(f"no benchmark results in {args.results} (run make bench first)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
