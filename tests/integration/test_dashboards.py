"""Every Grafana panel query (and template variable query) runs against the real schema on the
embedded engine, with the ClickHouse plugin's macros expanded the way the plugin expands them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from clickhouse_connect.driver.client import Client

from sinks.batch import Batch, Source
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
GRAFANA = Path(__file__).resolve().parents[2] / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
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


def test_there_are_dashboards_and_they_use_the_provisioned_datasource() -> None:
    assert DASHBOARDS
    provisioned = yaml.safe_load((GRAFANA / "provisioning/datasources/clickhouse.yaml").read_text())
    [source] = provisioned["datasources"]
    assert source["type"] == "grafana-clickhouse-datasource"
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            for t in panel["targets"]:
                assert t["datasource"] == {"type": source["type"], "uid": source["uid"]}
    titles = " ".join(p["title"] for p in json.loads(DASHBOARDS[0].read_text())["panels"])
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
