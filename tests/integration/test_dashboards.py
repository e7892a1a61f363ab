"""Every Grafana panel query (and template variable query) of the ClickHouse dashboards runs
against the real schema on the embedded engine, with the ClickHouse plugin's macros expanded the
way the plugin expands them. Every PromQL query of the Prometheus dashboards passes promtool, reads
only metrics the services export, and the headline ones compute what they say on sample series."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from clickhouse_connect.driver.client import Client

from hookstream.runtime.consumer import Consumed as Source
from sinks.batch import Batch
from sinks.rows import row_for
from sinks.writer import ClickHouseWriter
from tests.support.sink_rig import (
    BASE_MS,
    dead,
    delivery,
    message,
    reply,
)

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"
ALL_DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))


def datasource_type(path: Path) -> str:
    return str(json.loads(path.read_text())["panels"][0]["datasource"]["type"])


DASHBOARDS = [p for p in ALL_DASHBOARDS if datasource_type(p) == "grafana-clickhouse-datasource"]
PROM_DASHBOARDS = [p for p in ALL_DASHBOARDS if datasource_type(p) == "prometheus"]
FROM_S, TO_S = BASE_MS // 1000 - 3600, BASE_MS // 1000 + 3600
INTERVAL_S = 60


def expand(sql: str, page: str) -> str:
    """The grafana-clickhouse-datasource macros, then the dashboard variables."""
    sql = re.sub(
        r"\$__timeFilter\((\w+)\)", rf"\1 >= toDateTime({FROM_S}) AND \1 <= toDateTime({TO_S})", sql
    )
    sql = re.sub(
        r"\$__timeInterval\((\w+)\)",
        rf"toStartOfInterval(toDateTime(\1), INTERVAL {INTERVAL_S} second)",
        sql,
    )
    sql = sql.replace("$__fromTime", f"toDateTime({FROM_S})")
    sql = sql.replace("$__toTime", f"toDateTime({TO_S})")
    sql = sql.replace("$__interval_s", str(INTERVAL_S))
    sql = sql.replace("${page}", page).replace("$page", page)
    assert "$" not in sql, f"unexpanded macro or variable in: {sql}"
    return sql


def queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    found = [
        (f"variable {v['name']}", v["query"])
        for v in dashboard["templating"]["list"]
        if v["type"] == "query"
    ]
    for panel in dashboard["panels"]:
        assert panel.get("targets"), f"panel {panel['title']!r} has no query"
        found += [(f"{panel['title']} [{t['refId']}]", t["rawSql"]) for t in panel["targets"]]
    return found


@pytest.fixture(scope="module")
def with_data(ch: Client) -> Client:
    facts: list = [message(i, "1001", "message", BASE_MS + i * 20_000) for i in range(10)]  # type: ignore[type-arg]
    facts += [message(20 + i, "2002", "postback", BASE_MS) for i in range(3)]
    facts += [reply(i, "1001", BASE_MS) for i in range(5)]
    facts += [delivery(i, "1001", BASE_MS, e2e_ms=300 * (i + 1)) for i in range(5)]
    facts += [delivery(9, "1001", BASE_MS, status="dead_lettered", code=100, subcode=2018001)]
    facts += [dead(i, "1001", BASE_MS) for i in range(2)]
    batch = Batch()
    for offset, fact in enumerate(facts):
        batch.add_row(row_for(fact), Source("dash.analytics", 0, offset, None, None), 0.0)
    assert ClickHouseWriter(ch, "hookstream").write(batch).inserted == len(facts)
    return ch


def provisioned(name: str) -> dict[str, Any]:
    document = yaml.safe_load((GRAFANA / "provisioning/datasources" / name).read_text())
    [source] = document["datasources"]
    return dict(source)


def test_every_dashboard_uses_one_provisioned_datasource() -> None:
    sources = {
        (s["type"], s["uid"])
        for s in (provisioned("clickhouse.yaml"), provisioned("prometheus.yaml"))
    }
    assert set(DASHBOARDS) | set(PROM_DASHBOARDS) == set(ALL_DASHBOARDS)
    for path in ALL_DASHBOARDS:
        dashboard = json.loads(path.read_text())
        used = {
            (t["datasource"]["type"], t["datasource"]["uid"])
            for panel in dashboard["panels"]
            for t in panel["targets"]
        }
        assert len(used) == 1 and used <= sources, f"{path.name}: {used}"
        assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])


def test_there_are_dashboards_and_they_use_the_provisioned_datasource() -> None:
    assert DASHBOARDS
    source = provisioned("clickhouse.yaml")
    assert source["type"] == "grafana-clickhouse-datasource"
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            for t in panel["targets"]:
                assert t["datasource"] == {"type": source["type"], "uid": source["uid"]}
    analytics = GRAFANA / "dashboards/hookstream-analytics.json"
    titles = " ".join(p["title"] for p in json.loads(analytics.read_text())["panels"])
    for needle in (
        "Traffic by page and kind",
        "p50 / p95 / p99",
        "2 s objective",
        "errors by code",
        "Top pages",
        "DLQ volume",
    ):
        assert needle in titles


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
@pytest.mark.parametrize("page", ["__all", "1001"])
def test_every_panel_query_runs_and_finds_the_data(
    path: Path, page: str, with_data: Client
) -> None:
    for name, sql in queries(json.loads(path.read_text())):
        try:
            result = with_data.query(expand(sql, page))
        except Exception as exc:  # noqa: BLE001 - name the panel that broke
            pytest.fail(f"{path.name}: {name}: {exc}")
        assert result.result_rows, f"{path.name}: {name} returned no rows"


def test_panels_compute_what_they_say(with_data: Client) -> None:
    dashboard = json.loads((GRAFANA / "dashboards/hookstream-analytics.json").read_text())
    by_title = {p["title"]: p["targets"][0]["rawSql"] for p in dashboard["panels"]}

    def one(title: str) -> Any:
        return with_data.query(expand(by_title[title], "1001")).result_rows[0][0]

    assert one("Delivery error rate") == pytest.approx(1 / 6)
    assert one("Dead letters") == 2
    assert one("Processed within 2 s") == 1.0
    top = with_data.query(expand(by_title["Top pages"], "__all")).result_rows
    assert [(r[0], r[1]) for r in top] == [("1001", 10), ("2002", 3)]


# --- the Prometheus dashboards ---------------------------------------------------------------

OPERATIONS = GRAFANA / "dashboards/hookstream-operations.json"


def _metrics_reference() -> ModuleType:
    """docs/_tools/metrics_reference.py: the metrics the services define, found in their source."""
    path = ROOT / "docs" / "_tools" / "metrics_reference.py"
    spec = importlib.util.spec_from_file_location("metrics_reference", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["metrics_reference"] = module
    spec.loader.exec_module(module)
    return module


metrics_reference = _metrics_reference()


def prom_queries(path: Path) -> list[tuple[str, str]]:
    dashboard = json.loads(path.read_text())
    found = []
    for panel in dashboard["panels"]:
        assert panel.get("targets"), f"panel {panel['title']!r} has no query"
        found += [(f"{panel['title']} [{t['refId']}]", t["expr"]) for t in panel["targets"]]
    return found


promtool = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    promtool is None, reason="promtool not installed (Debian `prometheus`)"
)


def test_there_is_an_operations_dashboard_for_lag_503s_and_page_status() -> None:
    assert OPERATIONS in PROM_DASHBOARDS
    titles = " ".join(p["title"] for p in json.loads(OPERATIONS.read_text())["panels"])
    for needle in ("lag", "503", "Sender page status", "Consumer group status", "Dead letters"):
        assert needle in titles, needle
    source = provisioned("prometheus.yaml")
    assert source["type"] == "prometheus" and "${PROMETHEUS_URL}" in source["url"]


@pytest.mark.parametrize("path", PROM_DASHBOARDS, ids=lambda p: p.name)
def test_prometheus_panels_read_only_exported_metrics(path: Path) -> None:
    exported = metrics_reference.exported_names()
    for name, expr in prom_queries(path):
        unknown = metrics_reference.promql_metrics(expr) - exported
        assert not unknown, f"{path.name}: {name} reads {unknown}, which no service exports"


def test_the_metric_finder_finds_metrics() -> None:
    exported = metrics_reference.exported_names()
    assert "hookstream_ingress_requests_total" in exported
    assert "hookstream_ingress_ack_seconds_bucket" in exported
    assert "no_such_metric" not in exported


@needs_promtool
@pytest.mark.parametrize("path", PROM_DASHBOARDS, ids=lambda p: p.name)
def test_prometheus_panel_queries_pass_promtool(path: Path, tmp_path: Path) -> None:
    rules = [
        {"record": f"dashboard:panel_{number}", "expr": expr}
        for number, (_, expr) in enumerate(prom_queries(path))
    ]
    rule_file = tmp_path / "panels.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
    result = subprocess.run(
        [promtool or "promtool", "check", "rules", str(rule_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_operations_panels_compute_what_they_say(tmp_path: Path) -> None:
    """On sample series: 1 of 4 webhooks answered 503 reads 25%; one page stopped of two."""
    by_title = {
        p["title"]: p["targets"][0]["expr"] for p in json.loads(OPERATIONS.read_text())["panels"]
    }
    ok = 'hookstream_ingress_requests_total{route="webhook",status="200",instance="i1"}'
    failed = 'hookstream_ingress_requests_total{route="webhook",status="503",instance="i1"}'
    test = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": ok, "values": "0+30x10"},
                    {"series": failed, "values": "0+10x10"},
                    {"series": 'hookstream_sender_page_stopped{page_id="1001"}', "values": "1x10"},
                    {"series": 'hookstream_sender_page_stopped{page_id="2002"}', "values": "0x10"},
                    {
                        "series": 'kafka_consumergroup_lag_seconds{consumergroup="g",topic="t"}',
                        "values": "45x10",
                    },
                ],
                "promql_expr_test": [
                    {
                        "expr": by_title["Webhooks answered 503 (share, 5 min)"],
                        "eval_time": "10m",
                        "exp_samples": [{"labels": "{}", "value": 0.25}],
                    },
                    {
                        "expr": by_title["Sender pages stopped"],
                        "eval_time": "10m",
                        "exp_samples": [{"labels": "{}", "value": 1}],
                    },
                    {
                        "expr": by_title["Oldest unconsumed record"],
                        "eval_time": "10m",
                        "exp_samples": [{"labels": "{}", "value": 45}],
                    },
                ],
            }
        ],
    }
    path = tmp_path / "panels_test.yml"
    path.write_text(yaml.safe_dump(test))
    result = subprocess.run(
        [promtool or "promtool", "test", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", ALL_DASHBOARDS, ids=lambda p: p.name)
def test_panels_fit_the_grid_without_overlapping(path: Path) -> None:
    """Grafana's grid is 24 columns wide; overlapping panels are pushed around on load."""
    cells: dict[tuple[int, int], str] = {}
    for panel in json.loads(path.read_text())["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["w"] > 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = panel["title"]
