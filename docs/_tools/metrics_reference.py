"""The metrics every service exports, found in the source (not imported, not hand-kept).

Every `Counter(...)`, `Gauge(...)`, `Histogram(...)`, `Summary(...)` and `*MetricFamily(...)` call
whose first arguments are a literal name and help text is a metric: its name (a Counter's gets
`_total` as prometheus_client exports it), type, labels and help, grouped by the package that
defines it. The docs site renders this into the metrics reference at build time.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "ingress": "ingress",
    "processors": "processors",
    "senders": "sender",
    "sinks": "sink",
    "hookstream/ops": "lag exporter",
    "hookstream/console": "console",
}
KINDS = {"Counter": "counter", "Gauge": "gauge", "Histogram": "histogram", "Summary": "summary"}


@dataclass(frozen=True)
class Metric:
    service: str
    name: str
    kind: str
    labels: tuple[str, ...]
    help: str


def _kind(call: ast.Call) -> str | None:
    func = call.func
    name = (
        func.id
        if isinstance(func, ast.Name)
        else func.attr
        if isinstance(func, ast.Attribute)
        else ""
    )
    if name in KINDS:
        return KINDS[name]
    if name.endswith("MetricFamily"):
        return name.removesuffix("MetricFamily").lower()
    return None


def _labels(call: ast.Call) -> tuple[str, ...]:
    candidates = [k.value for k in call.keywords if k.arg in ("labelnames", "labels")]
    candidates += call.args[2:3]
    for node in candidates:
        if isinstance(node, ast.List | ast.Tuple):
            return tuple(
                e.value
                for e in node.elts
                if isinstance(e, ast.Constant) and isinstance(e.value, str)
            )
    return ()


def metrics_in(path: Path, service: str) -> list[Metric]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call) or not (kind := _kind(node)) or len(node.args) < 2:
            continue
        name, help_text = node.args[0], node.args[1]
        if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
            continue
        text = help_text.value if isinstance(help_text, ast.Constant) else ""
        exported = name.value
        if kind == "counter" and not exported.endswith("_total"):
            exported += "_total"
        found.append(Metric(service, exported, kind, _labels(node), str(text)))
    return found


def metrics(root: Path = ROOT) -> list[Metric]:
    found: dict[str, Metric] = {}
    for package, service in PACKAGES.items():
        for path in sorted((root / package).rglob("*.py")):
            for metric in metrics_in(path, service):
                found.setdefault(metric.name, metric)
    return list(found.values())


def render(root: Path = ROOT) -> str:
    lines = []
    for service in dict.fromkeys(PACKAGES.values()):
        rows = sorted((m for m in metrics(root) if m.service == service), key=lambda m: m.name)
        if not rows:
            continue
        lines += [
            f"## {service}",
            "",
            "| metric | type | labels | what |",
            "| --- | --- | --- | --- |",
        ]
        for m in rows:
            labels = ", ".join(f"`{label}`" for label in m.labels) or "—"
            lines.append(f"| `{m.name}` | {m.kind} | {labels} | {m.help.replace('|', '/')} |")
        lines.append("")
    return "\n".join(lines)


PROMQL_KEYWORDS = {"or", "and", "unless", "bool", "offset"}


def promql_metrics(expr: str) -> set[str]:
    """Metric names of a PromQL expression: the identifiers left once strings, label matchers,
    ranges and by/without/on clauses are gone, that are neither numbers, keywords nor functions
    (followed by `(`)."""
    text = re.sub(r'"[^"]*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"\d+(?:\.\d+)?(?:e[+-]?\d+)?|[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        token = match.group(0)
        if token[0].isdigit() or token in PROMQL_KEYWORDS:
            continue
        if text[match.end() :].lstrip().startswith("("):
            continue
        names.add(token)
    return names


def exported_names(root: Path = ROOT) -> set[str]:
    """Every series name the services export: histograms add _bucket, _sum and _count; `up` is
    Prometheus's own."""
    names = {"up"}
    for m in metrics(root):
        names.add(m.name)
        if m.kind in ("histogram", "summary"):
            names |= {f"{m.name}_bucket", f"{m.name}_sum", f"{m.name}_count"}
    return names
