"""The docs site's own tools: the nav hook (pages that come and go), the benchmark report
generator, and the README's links."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

ROOT = Path(__file__).parents[3]


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "docs" / "_tools" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


nav_hook = load("nav_hook")
bench_reports = load("bench_reports")
metrics_reference = load("metrics_reference")

NAV: list[Any] = [
    {"Home": "index.md"},
    {"Getting started": "getting-started.md"},
    {"Gotchas": "gotchas.md"},
    {"Benchmarks": ["benchmarks/index.md"]},
]


def page(path: Path, title: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# {title}\n\ntext\n")


def test_nav_leaves_out_pages_that_do_not_exist(tmp_path: Path) -> None:
    assert nav_hook.extend_nav(NAV, tmp_path) == NAV


def test_nav_adds_teammates_pages_and_reports_newest_first(tmp_path: Path) -> None:
    page(tmp_path / "meta" / "troubleshooting.md", "Meta troubleshooting")
    page(tmp_path / "meta" / "setup.md", "Connecting Meta")
    page(tmp_path / "meta" / "index.md", "Meta")
    page(tmp_path / "brokers.md", "Brokers")
    page(tmp_path / "benchmarks" / "reports" / "2026-11-23-sink.md", "old")
    page(tmp_path / "benchmarks" / "reports" / "2026-12-01-e2e.md", "new")
    page(tmp_path / "benchmarks" / "index.md", "Benchmarks")
    page(tmp_path / "benchmarks" / "state.md", "A study")
    nav = nav_hook.extend_nav(NAV, tmp_path)
    titles = [next(iter(item)) for item in nav]
    assert titles == [
        "Home",
        "Getting started",
        "Meta and Instagram",
        "Gotchas",
        "Brokers",
        "Benchmarks",
    ]
    assert nav[2]["Meta and Instagram"] == [
        {"Meta": "meta/index.md"},
        {"Connecting Meta": "meta/setup.md"},
        {"Meta troubleshooting": "meta/troubleshooting.md"},
    ]
    assert nav[5]["Benchmarks"][1:] == [
        {"A study": "benchmarks/state.md"},
        {"new": "benchmarks/reports/2026-12-01-e2e.md"},
        {"old": "benchmarks/reports/2026-11-23-sink.md"},
    ]


def test_links_to_a_missing_optional_page_become_text(tmp_path: Path) -> None:
    text = "See [Brokers](brokers.md) and [the rest](../brokers.md#x), [here](gotchas.md)."
    assert nav_hook.drop_links_to_missing(text, tmp_path) == (
        "See Brokers and the rest, [here](gotchas.md)."
    )
    page(tmp_path / "brokers.md", "Brokers")
    assert nav_hook.drop_links_to_missing(text, tmp_path) == text


def test_every_nav_entry_of_mkdocs_yml_exists() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())

    def files(items: list[Any]) -> list[str]:
        found: list[str] = []
        for item in items:
            value = item if isinstance(item, str) else next(iter(item.values()))
            found += files(value) if isinstance(value, list) else [value]
        return found

    for name in files(config["nav"]):
        assert (ROOT / "docs" / name).is_file(), name


def test_cli_help_renders_every_command() -> None:
    text = nav_hook.cli_help()
    for command in ("up", "ingress", "replay", "dlq redrive", "stats", "lag"):
        assert f"### `hookstream {command}`" in text


def test_bench_reports_render_whatever_the_json_holds(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    (results / "e2e.json").write_text(
        json.dumps(
            {
                "when": "2026-12-01T17:00:00+00:00",
                "config": {"rate": 250, "soak": False},
                "pipeline": {"reply_latency_ms": {"p95": 134.25}},
                "timeline": {"broker": [[0, 1.5]] * 40},
                "load_average_start": [2.5, 1.0, 0.5],
            }
        )
    )
    (results / "sink.json").write_text(
        json.dumps({"bare": {"rows_per_s": 72986}, "sink": {"rows_per_s": 63701, "ratio": 0.87}})
    )
    written = bench_reports.generate(results, tmp_path / "reports")
    names = sorted(p.name for p in written)
    assert names[0] == "2026-12-01-e2e.md" and names[1].endswith("-sink.md")
    report = (tmp_path / "reports" / "2026-12-01-e2e.md").read_text()
    assert report.startswith("# 2026-12-01: e2e benchmark\n")
    assert "| `when` | 2026-12-01T17:00:00+00:00 |" in report
    assert (
        "## config\n\n| figure | value |\n| --- | ---: |\n| `rate` | 250 |\n| `soak` | false |"
        in report
    )
    assert (
        "### reply_latency_ms\n\n| figure | value |\n| --- | ---: |\n| `p95` | 134.25 |" in report
    )
    assert "| `broker` | (40 values, in the JSON) |" in report
    assert "| `load_average_start` | 2.5, 1, 0.5 |" in report
    assert "make bench-e2e" in report
    sink = next(p for p in written if p.name.endswith("-sink.md")).read_text()
    assert "| case | `rows_per_s` | `ratio` |" in sink
    assert "| `bare` | 72,986 |  |" in sink
    assert "| `sink` | 63,701 | 0.87 |" in sink


def test_bench_reports_keep_unlike_records_apart(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    document = {"per_5_s": {"0": 248, "5": 319}, "latency_s": {"p50": 88.6, "p99": 127.6}}
    (results / "outage.json").write_text(json.dumps(document))
    [path] = bench_reports.generate(results, tmp_path / "reports")
    report = path.read_text()
    assert "| case |" not in report
    assert "## per_5_s" in report and "| `p99` | 127.6 |" in report


def test_readme_is_short_and_its_links_resolve() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme) < 8000
    for command in ("make up", "make test", "hookstream send-test", "openssl dgst -sha256 -hmac"):
        assert command in readme
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme)
    assert links
    for link in links:
        if not link.startswith(("http://", "https://")):
            assert (ROOT / link).exists(), link
    assert readme.index("docs/gotchas.md") < readme.index("docs/benchmarks/index.md")


def test_metrics_reference_finds_every_services_metrics() -> None:
    found = {m.name: m for m in metrics_reference.metrics()}
    assert found["hookstream_ingress_requests_total"].labels == ("route", "status")
    assert found["hookstream_ingress_requests_total"].kind == "counter"
    assert found["kafka_consumergroup_lag_sum"].labels == ("consumergroup", "topic")
    assert found["hookstream_sender_page_stopped"].service == "sender"
    assert {m.service for m in found.values()} >= {
        "ingress",
        "processors",
        "sender",
        "sink",
        "lag exporter",
    }


def test_every_metric_an_alert_reads_is_exported() -> None:
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())["groups"]
    exported = metrics_reference.exported_names()
    for group in rules:
        for rule in group["rules"]:
            unknown = metrics_reference.promql_metrics(rule["expr"]) - exported
            assert not unknown, f"{rule['alert']} reads {unknown}, which no service exports"


def test_promql_metric_names() -> None:
    names = metrics_reference.promql_metrics
    assert names('sum by (status) (rate(a_total{route="x"}[5m])) / b') == {"a_total", "b"}
    assert names("count(c == 1) or vector(0)") == {"c"}
    assert names("max(d) > 1e-9 and on (x) e") == {"d", "e"}
