"""The local Apache Kafka runner's pure parts: properties, cluster ids, exit reasons, Java."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hookstream.embedded import kafka_maven
from hookstream.embedded.kafka_config import (
    NodeSpec,
    explain_exit,
    new_cluster_id,
    read_meta_properties,
    render_properties,
)
from hookstream.runtime.errors import ConfigError


def _props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if not line.startswith("#"))


def _node(node_id: int, tmp_path: Path) -> NodeSpec:
    return NodeSpec(node_id, "127.0.0.1", 9000 + node_id, 9100 + node_id, tmp_path / str(node_id))


def test_single_node_properties(tmp_path: Path) -> None:
    node = _node(1, tmp_path)
    props = _props(render_properties(node, [node]))
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:9101"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:9001,CONTROLLER://127.0.0.1:9101"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:9001"
    assert props["log.dirs"] == str(tmp_path / "1")
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["transaction.state.log.min.isr"] == "1"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert props["auto.create.topics.enable"] == "false"


def test_three_nodes_all_vote_and_replicate_internal_topics(tmp_path: Path) -> None:
    nodes = [_node(i, tmp_path) for i in (1, 2, 3)]
    props = _props(render_properties(nodes[1], nodes))
    assert props["node.id"] == "2"
    assert props["controller.quorum.voters"] == (
        "1@127.0.0.1:9101,2@127.0.0.1:9102,3@127.0.0.1:9103"
    )
    assert props["offsets.topic.replication.factor"] == "3"
    assert props["transaction.state.log.min.isr"] == "2"
    assert props["default.replication.factor"] == "3"


def test_overrides_win(tmp_path: Path) -> None:
    node = _node(1, tmp_path)
    props = _props(render_properties(node, [node], {"num.io.threads": "8", "x.y": "z"}))
    assert props["num.io.threads"] == "8"
    assert props["x.y"] == "z"


def test_cluster_ids_look_like_kafkas() -> None:
    ids = {new_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)


def test_meta_properties(tmp_path: Path) -> None:
    assert read_meta_properties(tmp_path) == {}
    (tmp_path / "meta.properties").write_text("#\nversion=1\ncluster.id=abc\nnode.id=2\n")
    assert read_meta_properties(tmp_path)["cluster.id"] == "abc"


@pytest.mark.parametrize(
    ("log", "reason"),
    [
        (
            "[x] ERROR Exiting Kafka due to fatal exception\n"
            "org.apache.kafka.common.KafkaException: Socket server failed to bind to "
            "127.0.0.1:9092: Address already in use.\n",
            "a port it needs is taken",
        ),
        (
            "java.lang.RuntimeException: Invalid cluster.id in: /d/meta.properties. "
            "Expected abc, but read def\n",
            "another cluster id",
        ),
        ("Error: Could not find or load main class kafka.Kafka\n", "a jar is missing"),
        ("java.lang.UnsupportedClassVersionError: kafka/Kafka\n", "Java in use is too old"),
        ("kafka-storage: error: argument --cluster-id/-t: expected one argument\n", "error:"),
        ("just info\n", "no reason in its log"),
    ],
)
def test_explain_exit(log: str, reason: str) -> None:
    explained = explain_exit(log)
    assert reason in explained
    assert "\n" not in explained


def test_explain_exit_clips_long_lines() -> None:
    assert len(explain_exit("ERROR " + "x" * 5000 + " Exception")) <= 200


@pytest.mark.parametrize(
    ("output", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15\n', 17),
        ('openjdk version "21" 2023-09-19\n', 21),
        ('java version "1.8.0_392"\n', 8),
        ("garbage", None),
    ],
)
def test_java_major(output: str, major: int | None) -> None:
    assert kafka_maven.parse_java_major(output) == major


def test_version_comes_from_the_pom() -> None:
    version = kafka_maven.kafka_version()
    assert version.startswith("4.")
    assert kafka_maven.required_jars(version)[0] == f"kafka_2.13-{version}.jar"


def test_no_java_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    with pytest.raises(ConfigError, match="apt-get install openjdk-17"):
        kafka_maven.java_binary()


def test_old_java_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    java = tmp_path / "bin" / "java"
    java.parent.mkdir()
    java.write_text("#!/bin/sh\necho 'java version \"1.8.0_392\"' >&2\n")
    java.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(ConfigError, match="is Java 8"):
        kafka_maven.java_binary()


def test_no_maven_and_empty_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOOKSTREAM_KAFKA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    with pytest.raises(ConfigError, match=r"Maven is missing.*apt-get install maven"):
        kafka_maven.classpath()


def test_maven_failure_names_its_log(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    mvn = tmp_path / "mvn"
    mvn.write_text(
        "#!/bin/sh\necho 'Could not transfer artifact: Network is unreachable'\nexit 1\n"
    )
    mvn.chmod(0o755)
    monkeypatch.setenv("HOOKSTREAM_KAFKA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(shutil, "which", lambda _name: str(mvn))
    with pytest.raises(ConfigError) as caught:
        kafka_maven.classpath()
    message = str(caught.value)
    assert "Maven exited with 1" in message
    assert "\n" not in message
    log = Path(message.rsplit("see ", 1)[1])
    assert "Network is unreachable" in log.read_text()
    assert not (tmp_path / "cache").exists()  # nothing half-resolved is left to be trusted


def test_a_resolution_missing_a_jar_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    mvn = tmp_path / "mvn"  # "succeeds" but copies nothing
    mvn.write_text("#!/bin/sh\nexit 0\n")
    mvn.chmod(0o755)
    monkeypatch.setenv("HOOKSTREAM_KAFKA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(shutil, "which", lambda _name: str(mvn))
    with pytest.raises(ConfigError, match=r"missing kafka_2\.13-"):
        kafka_maven.classpath()
