"""The production manifests cannot start here (no container engine), so check what can be
checked: they parse, every command they run is a real subcommand, ports follow the contract,
and every path they mount or copy exists."""

from __future__ import annotations

import argparse
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from hookstream.cli import build_parser
from hookstream.runtime.services_table import SERVICES, deployed

ROOT = Path(__file__).parents[3]
# The services the production manifests run, and their ports: hookstream/runtime/services_table.py
CONTRACT_PORTS = {entry.name: entry.port for entry in deployed()}


def subcommands() -> set[str]:
    parser = build_parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(actions[0].choices)


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_compose_runs_real_subcommands_on_contract_ports() -> None:
    services = compose()["services"]
    commands = subcommands()
    for name, port in CONTRACT_PORTS.items():
        command = services[name]["command"]
        assert command[0] == name and command[0] in commands
        assert command[command.index("--port") + 1] == str(port)
    assert services["topics"]["command"][0] in commands
    assert services["ingress"]["ports"] == [
        f"{CONTRACT_PORTS['ingress']}:{CONTRACT_PORTS['ingress']}"
    ]


def test_compose_mounts_exist() -> None:
    for service in compose()["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./deploy"):
                assert (ROOT / source).exists(), f"{source} is mounted but missing"


def test_kubernetes_manifests_run_real_subcommands() -> None:
    documents = list(yaml.safe_load_all((ROOT / "deploy/kubernetes/hookstream.yaml").read_text()))
    commands, seen = subcommands(), set()
    for doc in documents:
        if doc["kind"] in ("Deployment", "Job"):
            for container in doc["spec"]["template"]["spec"]["containers"]:
                assert container["args"][0] in commands
                seen.add(container["args"][0])
    assert set(CONTRACT_PORTS) | {"topics"} <= seen


@pytest.mark.parametrize("service", sorted(CONTRACT_PORTS))
def test_railway_services_run_real_subcommands(service: str) -> None:
    config = json.loads((ROOT / f"deploy/railway/{service}.railway.json").read_text())
    argv = config["deploy"]["startCommand"].split()
    assert argv[:2] == ["hookstream", service] and argv[1] in subcommands()
    assert argv[argv.index("--port") + 1] == str(CONTRACT_PORTS[service])


def test_image_copies_every_package() -> None:
    dockerfile = (ROOT / "deploy/Dockerfile").read_text()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]:
        package = pattern.rstrip("*")
        assert f"COPY {package} ./{package}" in dockerfile
        assert (ROOT / package / "__init__.py").exists()


def test_compose_prometheus_scrapes_compose_services_with_the_same_jobs() -> None:
    services = compose()["services"]
    command = services["prometheus"]["command"][0]
    config_name = command.split("/etc/prometheus/")[1]
    compose_config = yaml.safe_load((ROOT / "deploy/prometheus" / config_name).read_text())
    local_config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    assert [j["job_name"] for j in compose_config["scrape_configs"]] == [
        j["job_name"] for j in local_config["scrape_configs"]
    ]
    for job in compose_config["scrape_configs"]:
        for target in job["static_configs"][0]["targets"]:
            host, port = target.split(":")
            assert host in services and CONTRACT_PORTS[host] == int(port)
    assert compose_config["rule_files"] == local_config["rule_files"]


def test_compose_grafana_gets_what_its_provisioning_reads() -> None:
    grafana = compose()["services"]["grafana"]
    provider = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/dashboards/hookstream.yaml").read_text()
    )
    dashboards_path = provider["providers"][0]["options"]["path"]
    assert any(v.split(":")[1] == dashboards_path for v in grafana["volumes"])
    datasource = (ROOT / "deploy/grafana/provisioning/datasources/clickhouse.yaml").read_text()
    for variable in (
        "CLICKHOUSE_HOST",
        "CLICKHOUSE_PORT",
        "CLICKHOUSE_USER",
        "CLICKHOUSE_PASSWORD",
    ):
        if "${" + variable + "}" in datasource:
            assert variable in grafana["environment"], variable
    assert grafana["environment"]["GF_INSTALL_PLUGINS"] == "grafana-clickhouse-datasource"


def test_the_services_table_keeps_the_contract_ports() -> None:
    """CONTRACT.md's defaults; the table is what everything else reads."""
    assert {e.name: e.port for e in SERVICES} == {
        "ingress": 8000,
        "processors": 6066,
        "sender": 9101,
        "sink": 9102,
        "lag-exporter": 9308,
        "sandbox": 8081,
        "console": 8090,
    }
    assert len({e.port for e in SERVICES}) == len(SERVICES)


@pytest.mark.parametrize("entry", SERVICES, ids=lambda e: e.name)
def test_cli_port_defaults_come_from_the_table(entry: Any) -> None:
    parser = build_parser()
    if entry.name not in subcommands():
        pytest.skip(f"no `hookstream {entry.name}` yet")
    assert parser.parse_args([entry.name]).port == entry.port
