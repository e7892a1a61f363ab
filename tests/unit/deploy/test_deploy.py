"""The production manifests cannot start here (no container engine), so check what can be
checked: they parse, every command they run is a real subcommand, ports follow the contract,
and every path they mount or copy exists."""

from __future__ import annotations

import argparse
import json
import re
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


def test_compose_prometheus_scrapes_every_replica_with_the_same_jobs() -> None:
    services = compose()["services"]
    command = services["prometheus"]["command"][0]
    config_name = command.split("/etc/prometheus/")[1]
    compose_config = yaml.safe_load((ROOT / "deploy/prometheus" / config_name).read_text())
    local_config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    assert [j["job_name"] for j in compose_config["scrape_configs"]] == [
        j["job_name"] for j in local_config["scrape_configs"]
    ]
    scraped = {}
    for job in compose_config["scrape_configs"]:
        # DNS service discovery: every replica of a scaled service, not one at random.
        assert "static_configs" not in job, job["job_name"]
        for sd in job["dns_sd_configs"]:
            assert sd["type"] == "A"
            for name in sd["names"]:
                assert name in services
                scraped[name] = sd["port"]
    assert scraped == CONTRACT_PORTS
    local_targets = {
        target
        for job in local_config["scrape_configs"]
        for target in job["static_configs"][0]["targets"]
    }
    assert local_targets == {f"127.0.0.1:{port}" for port in CONTRACT_PORTS.values()}
    assert compose_config["rule_files"] == local_config["rule_files"]


def test_alerts_go_to_the_compose_alertmanager() -> None:
    services = compose()["services"]
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.compose.yml").read_text())
    [manager] = config["alerting"]["alertmanagers"]
    [target] = manager["static_configs"][0]["targets"]
    host, port = target.split(":")
    alertmanager = services[host]
    assert f"{port}:{port}" in alertmanager["ports"]
    config_flag = next(a for a in alertmanager["command"] if a.startswith("--config.file="))
    mounted = {v.split(":")[1]: v.split(":")[0] for v in alertmanager["volumes"]}
    config_path = Path(config_flag.split("=", 1)[1])
    source = mounted[str(config_path.parent)]
    assert (ROOT / source / config_path.name).is_file()


def test_every_compose_service_has_a_readiness_healthcheck() -> None:
    services = compose()["services"]
    for name, port in CONTRACT_PORTS.items():
        check = " ".join(services[name]["healthcheck"]["test"])
        assert f"127.0.0.1:{port}/readyz" in check, name


def test_compose_has_no_default_passwords() -> None:
    """`${VAR:-default}` for a secret would start production with a password everyone knows;
    secrets are `${VAR:?message}` (compose refuses to start without them) or unset."""
    text = (ROOT / "docker-compose.yml").read_text()
    secret = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY")
    for name, default in re.findall(r"\$\{(\w+):?-([^}]*)\}", text):
        assert not secret.search(name), f"{name} defaults to {default!r}"
    required = set(re.findall(r"\$\{(\w+):\?[^}]+\}", text))
    assert {"CLICKHOUSE_PASSWORD", "GRAFANA_ADMIN_PASSWORD"} <= required
    for service in compose()["services"].values():
        for key, value in (service.get("environment") or {}).items():
            if secret.search(key) and isinstance(value, str):
                assert value.startswith("${") and ":?" in value, f"{key}: {value!r}"


def kubernetes() -> list[dict[str, Any]]:
    text = (ROOT / "deploy/kubernetes/hookstream.yaml").read_text()
    return [d for d in yaml.safe_load_all(text) if d]


def deployments() -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in kubernetes() if d["kind"] == "Deployment"}


@pytest.mark.parametrize("service", sorted(CONTRACT_PORTS))
def test_kubernetes_deployment_is_probed_sized_and_on_its_port(service: str) -> None:
    deployment = deployments()[service]
    template = deployment["spec"]["template"]
    [container] = template["spec"]["containers"]
    port = CONTRACT_PORTS[service]
    assert container["args"][container["args"].index("--port") + 1] == str(port)
    assert container["ports"] == [{"containerPort": port, "name": "http"}]
    assert template["metadata"]["annotations"]["prometheus.io/port"] == str(port)
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    requests = container["resources"]["requests"]
    assert requests["cpu"] and requests["memory"]
    assert container["resources"]["limits"]["memory"]
    # runAsNonRoot needs a numeric user the kubelet can check: the image's (deploy/Dockerfile).
    dockerfile = (ROOT / "deploy/Dockerfile").read_text()
    uid = re.search(r"^USER (\d+)", dockerfile, re.MULTILINE)
    assert uid and container["securityContext"]["runAsUser"] == int(uid.group(1))
    assert container["securityContext"]["runAsNonRoot"] is True
    assert (
        deployment["spec"]["selector"]["matchLabels"].items()
        <= template["metadata"]["labels"].items()
    )


def test_kubernetes_ingress_has_a_disruption_budget() -> None:
    [budget] = [d for d in kubernetes() if d["kind"] == "PodDisruptionBudget"]
    labels = deployments()["ingress"]["spec"]["template"]["metadata"]["labels"]
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert budget["spec"]["minAvailable"] >= 1
    assert deployments()["ingress"]["spec"]["replicas"] > budget["spec"]["minAvailable"]


def test_kubernetes_page_tokens_reach_the_sender_from_a_secret() -> None:
    """The pages file says `access_token: env:VAR`; VAR comes from a Secret, never a ConfigMap."""
    text = (ROOT / "deploy/kubernetes/hookstream.yaml").read_text()
    [container] = deployments()["sender"]["spec"]["template"]["spec"]["containers"]
    secrets = {e["secretRef"]["name"] for e in container["envFrom"] if "secretRef" in e}
    assert "hookstream-page-tokens" in secrets
    assert "create secret generic hookstream-page-tokens" in text
    pages = (ROOT / "deploy/pages.example.yaml").read_text()
    assert "access_token: env:" in pages
    config = next(d for d in kubernetes() if d["kind"] == "ConfigMap")
    assert not any(re.search(r"TOKEN|SECRET|PASSWORD", key) for key in config["data"])


@pytest.mark.parametrize("service", sorted(CONTRACT_PORTS))
def test_railway_waits_for_readiness(service: str) -> None:
    config = json.loads((ROOT / f"deploy/railway/{service}.railway.json").read_text())
    assert config["deploy"]["healthcheckPath"] == "/readyz"


def test_image_exposes_every_deployed_port() -> None:
    dockerfile = (ROOT / "deploy/Dockerfile").read_text()
    exposed = next(line for line in dockerfile.splitlines() if line.startswith("EXPOSE"))
    assert set(exposed.split()[1:]) == {str(p) for p in CONTRACT_PORTS.values()}


def test_compose_grafana_gets_what_its_provisioning_reads() -> None:
    grafana = compose()["services"]["grafana"]
    provider = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/dashboards/hookstream.yaml").read_text()
    )
    dashboards_path = provider["providers"][0]["options"]["path"]
    assert any(v.split(":")[1] == dashboards_path for v in grafana["volumes"])
    for datasource in (ROOT / "deploy/grafana/provisioning/datasources").glob("*.yaml"):
        for variable in re.findall(r"\$\{(\w+)\}", datasource.read_text()):
            assert variable in grafana["environment"], f"{datasource.name}: {variable}"
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
    port = parser.parse_args([entry.name]).port
    if port is None:  # resolved at start (e.g. processors --as picks a free one); says its default
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        option = next(a for a in commands.choices[entry.name]._actions if a.dest == "port")
        assert f"default {entry.port}" in (option.help or "")
    else:
        assert port == entry.port


STATEFUL = ("processors", "sender")  # RocksDB tables, the sender's ledger


def test_compose_gives_stateful_services_a_writable_state_dir() -> None:
    services = compose()["services"]
    state_dir = services["processors"]["environment"]["HOOKSTREAM_STATE_DIR"]
    dockerfile = (ROOT / "deploy/Dockerfile").read_text()
    assert f"install -d -o 10001 -g 10001 {state_dir}" in dockerfile  # the image's user owns it
    for name in STATEFUL:
        assert state_dir in services[name]["volumes"], name
        assert "./pages.yaml:/etc/hookstream/pages.yaml:ro" in services[name]["volumes"], name


def test_kubernetes_stateful_pods_mount_an_empty_dir_at_the_state_dir() -> None:
    documents = list(yaml.safe_load_all((ROOT / "deploy/kubernetes/hookstream.yaml").read_text()))
    [config] = [
        d
        for d in documents
        if d["kind"] == "ConfigMap" and "data" in d and "HOOKSTREAM_STATE_DIR" in d["data"]
    ]
    state_dir, seen = config["data"]["HOOKSTREAM_STATE_DIR"], set()
    for doc in documents:
        if doc["kind"] != "Deployment" or doc["metadata"]["name"] not in STATEFUL:
            continue
        spec = doc["spec"]["template"]["spec"]
        empty = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
        [container] = spec["containers"]
        mounted = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        assert mounted.get(state_dir) in empty, doc["metadata"]["name"]
        seen.add(doc["metadata"]["name"])
    assert seen == set(STATEFUL)
