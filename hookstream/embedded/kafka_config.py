"""Pure parts of the local Apache Kafka runner: server.properties, the log4j2 config, cluster ids,
`meta.properties`, and the one-line reason a node gave for exiting at start."""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class NodeSpec:
    node_id: int
    host: str
    port: int  # clients (PLAINTEXT)
    controller_port: int  # KRaft quorum (CONTROLLER)
    data_dir: Path  # log.dirs


LOG4J2 = """\
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = out
# the full config dump at every start and the per-request log are noise here
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""


def new_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (22 characters),
    never starting with "-" (a command line would read it as an option; Kafka's Uuid avoids it)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        if not text.startswith("-"):
            return text


def render_properties(
    node: NodeSpec,
    voters: Sequence[NodeSpec],
    overrides: Mapping[str, str] | None = None,
) -> str:
    """server.properties of one combined broker + controller among `voters` (itself included).

    Internal topics are replicated on up to 3 nodes, so a multi-node cluster keeps its groups and
    producer ids when one node dies; heartbeats are short, so a killed node is fenced (and its
    partitions get new leaders) in about 3 s rather than Kafka's default 9 s.
    """
    replication = min(3, len(voters))
    min_isr = min(2, replication)
    quorum = ",".join(f"{v.node_id}@{v.host}:{v.controller_port}" for v in voters)
    props: dict[str, str] = {
        "process.roles": "broker,controller",
        "node.id": str(node.node_id),
        "controller.quorum.voters": quorum,
        "listeners": (
            f"PLAINTEXT://{node.host}:{node.port},CONTROLLER://{node.host}:{node.controller_port}"
        ),
        "advertised.listeners": f"PLAINTEXT://{node.host}:{node.port}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(node.data_dir),
        "num.partitions": "1",
        "default.replication.factor": str(replication),
        "auto.create.topics.enable": "false",
        "offsets.topic.replication.factor": str(replication),
        "offsets.topic.num.partitions": "8",
        "transaction.state.log.replication.factor": str(replication),
        "transaction.state.log.min.isr": str(min_isr),
        "transaction.state.log.num.partitions": "4",
        "share.coordinator.state.topic.replication.factor": str(replication),
        "share.coordinator.state.topic.min.isr": str(min_isr),
        "group.initial.rebalance.delay.ms": "0",
        "group.min.session.timeout.ms": "1000",
        "broker.heartbeat.interval.ms": "500",
        "broker.session.timeout.ms": "3000",
        "num.network.threads": "2",
        "num.io.threads": "4",
        "num.recovery.threads.per.data.dir": "1",
        "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
        "log.segment.bytes": str(128 * 1024 * 1024),
    }
    props.update(overrides or {})
    lines = ["# written by hookstream/embedded/apache_kafka.py; rewritten at every start"]
    lines += [f"{key}={value}" for key, value in props.items()]
    return "\n".join(lines) + "\n"


def read_meta_properties(data_dir: Path) -> dict[str, str]:
    """The `meta.properties` a formatted log dir carries ({} when not formatted)."""
    try:
        text = (data_dir / "meta.properties").read_text(encoding="utf-8")
    except OSError:
        return {}
    meta = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            meta[key.strip()] = value.strip()
    return meta


_REASONS: tuple[tuple[str, str], ...] = (
    (r"Address already in use", "a port it needs is taken"),
    (
        r"(?i)invalid cluster\.id|InconsistentClusterIdException|cluster id .* doesn't match",
        "its log dir was formatted for another cluster id",
    ),
    (
        r"No readable meta\.properties|meta\.properties.*not found|not formatted",
        "its log dir is not formatted",
    ),
    (
        r"ClassNotFoundException|NoClassDefFoundError|Could not find or load main class",
        "a jar is missing from the classpath",
    ),
    (r"UnsupportedClassVersionError", "the Java in use is too old (Kafka 4 needs Java 17+)"),
    (r"OutOfMemoryError", "it ran out of heap"),
    (r"(?i)no space left on device", "the disk is full"),
)


def explain_exit(log_text: str) -> str:
    """A short reason for a node's exit at start, from the tail of its log."""
    for pattern, reason in _REASONS:
        match = re.search(pattern, log_text)
        if match:
            line = log_text[log_text.rfind("\n", 0, match.start()) + 1 :].split("\n", 1)[0]
            return f"{reason} ({_clip(line)})"
    for line in reversed(log_text.splitlines()):
        if " ERROR " in line or "Exception" in line or "error:" in line.lower():
            return _clip(line)
    return "no reason in its log"


def _clip(line: str, limit: int = 200) -> str:
    line = line.strip()
    return line if len(line) <= limit else line[: limit - 3] + "..."
