"""Real Apache Kafka 4.x (KRaft) as local JVM processes: one node, or a cluster for fault tests.

Every node is a combined broker + controller; with several nodes all of them vote, so a cluster
of three keeps its quorum when one dies. The jars come from Maven (`kafka_maven`), nothing from
the repository. Children are bound to this process (`processes.spawn`): they get SIGTERM when it
dies, even by SIGKILL, so no broker is ever left behind. Start it from a long-lived thread (the
main thread): Linux sends that signal when the *thread* that started the child ends.

    with ApacheKafka(tmp_path) as kafka:             # one node, free loopback ports
        kafka.bootstrap_servers                     # "127.0.0.1:40123"

    cluster = ApacheKafka(tmp_path, nodes=3).start()  # node ids 1, 2, 3
    leader = cluster.leader("t.inbound", 0)         # node id leading partition 0 (metadata)
    cluster.kill(leader)                            # SIGKILL, as `kill -9`
    cluster.leader("t.inbound", 0, exclude={leader})  # waits until another node leads it
    cluster.restart(leader)                         # same ports, same log dir; waits until it
                                                    # is registered again
    cluster.in_sync("t.inbound", 0)                 # node ids of the in-sync replicas
    cluster.stop()                                  # SIGTERM all, SIGKILL after a grace period

`root` holds one directory per node (`node-<id>/`: `data/` is the log dir, `broker.log` its
output, `server.properties`). A root that was formatted before is started as it is, so topics
survive a restart of the whole cluster (`hookstream up --broker kafka` keeps its log in the state
dir). Failures raise `KafkaStartError` (a HookstreamError) with one line: the problem and the log.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from hookstream.embedded import kafka_maven, processes
from hookstream.embedded.kafka_config import (
    LOG4J2,
    NodeSpec,
    explain_exit,
    new_cluster_id,
    read_meta_properties,
    render_properties,
)
from hookstream.runtime.errors import HookstreamError

_quiet = logging.getLogger("hookstream.embedded.kafka.client")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


class KafkaStartError(HookstreamError):
    """A local Kafka node could not start; the message names the problem and its log."""


@dataclass
class KafkaNode:
    spec: NodeSpec
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.directory / "broker.log"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class ApacheKafka:
    root: Path
    nodes: int = 1
    host: str = "127.0.0.1"
    ports: tuple[int, ...] = ()  # client ports per node; 0 or missing: a free one
    heap_mb: int = 512
    overrides: Mapping[str, str] = field(default_factory=dict)
    cluster_id: str | None = None
    # C1 only (-XX:TieredStopAtLevel=1): half the CPU to start (4.7 s instead of 10.4 s per
    # node measured), less throughput after; None: on for a multi-node cluster (fault tests
    # start and restart nodes often), off for a single node (the suite's broker, `up`, benches)
    quick_start: bool | None = None
    idempotence: bool = True  # real Kafka answers InitProducerId
    kind: ClassVar[str] = "kafka"
    _nodes: dict[int, KafkaNode] = field(default_factory=dict, repr=False)
    _classpath: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        for index in range(self.nodes):
            node_id = index + 1
            port = self.ports[index] if index < len(self.ports) and self.ports[index] else 0
            spec = NodeSpec(
                node_id=node_id,
                host=self.host,
                port=port or processes.free_port(self.host),
                controller_port=processes.free_port(self.host),
                data_dir=self.root / f"node-{node_id}" / "data",
            )
            self._nodes[node_id] = KafkaNode(spec, self.root / f"node-{node_id}")

    # -- what callers read --------------------------------------------------------------------

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(f"{n.spec.host}:{n.spec.port}" for n in self._nodes.values())

    @property
    def node_ids(self) -> tuple[int, ...]:
        return tuple(self._nodes)

    def node(self, node_id: int) -> KafkaNode:
        return self._nodes[node_id]

    @property
    def log_paths(self) -> tuple[Path, ...]:
        return tuple(n.log_path for n in self._nodes.values())

    @property
    def running(self) -> bool:
        return any(n.running for n in self._nodes.values())

    # -- life cycle ---------------------------------------------------------------------------

    def start(self, timeout_s: float = 120.0) -> ApacheKafka:
        """Resolve the jars, format what is not formatted, start every node, wait for metadata."""
        java = kafka_maven.java_binary()
        self._classpath = kafka_maven.classpath()
        for node in self._nodes.values():
            if processes.port_open(self.host, node.spec.port):
                raise KafkaStartError(
                    f"port {node.spec.port} is taken (something already listens there): "
                    f"Kafka node {node.spec.node_id} cannot start"
                )
        cluster_id = self._check_cluster_id()
        try:
            self._format([n for n in self._nodes.values() if not _formatted(n)], java, cluster_id)
            for node in self._nodes.values():
                self._spawn(node, java)
            self._wait_registered(set(self._nodes), timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, grace_s: float = 15.0) -> None:
        """SIGTERM every node at once (a clean shutdown), SIGKILL what is left after grace_s."""
        alive = [n.process for n in self._nodes.values() if n.process and n.process.poll() is None]
        for process in alive:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for process in alive:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for node in self._nodes.values():
            node.process = None

    def kill(self, node_id: int) -> None:
        """SIGKILL one node, as `kill -9`: nothing flushed, no controlled shutdown."""
        node = self._nodes[node_id]
        if node.process is not None:
            node.process.kill()
            node.process.wait()
            node.process = None

    def stop_node(self, node_id: int, grace_s: float = 15.0) -> None:
        node = self._nodes[node_id]
        if node.process is not None:
            processes.stop(node.process, grace_s)
            node.process = None

    def restart(self, node_id: int, timeout_s: float = 90.0) -> None:
        """Start a stopped or killed node again on its ports and log dir; wait until registered."""
        node = self._nodes[node_id]
        if node.running:
            self.stop_node(node_id)
        self._spawn(node, kafka_maven.java_binary())
        self._wait_registered({node_id}, timeout_s)

    def __enter__(self) -> ApacheKafka:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- metadata -----------------------------------------------------------------------------

    def metadata(self, timeout_s: float = 5.0) -> Any:
        """The cluster's metadata (confluent_kafka ClusterMetadata) from any live node."""
        from confluent_kafka.admin import AdminClient

        live = [f"{n.spec.host}:{n.spec.port}" for n in self._nodes.values() if n.running]
        config: dict[str, Any] = {
            "bootstrap.servers": ",".join(live) or self.bootstrap_servers,
            "logger": _quiet,
            "error_cb": lambda _error: None,
        }
        admin = AdminClient(config)
        return admin.list_topics(timeout=timeout_s)

    def leader(
        self, topic: str, partition: int, exclude: Iterable[int] = (), timeout_s: float = 30.0
    ) -> int:
        """The node id leading `topic`/`partition`, waiting until it is one not in `exclude`."""
        excluded = set(exclude)
        deadline = time.monotonic() + timeout_s
        while True:
            with _suppressed():
                described = self.metadata().topics[topic].partitions[partition]
                if described.leader >= 0 and described.leader not in excluded:
                    return int(described.leader)
            if time.monotonic() > deadline:
                raise HookstreamError(f"no leader for {topic}/{partition} within {timeout_s}s")
            time.sleep(0.2)

    def in_sync(self, topic: str, partition: int) -> tuple[int, ...]:
        return tuple(sorted(self.metadata().topics[topic].partitions[partition].isrs))

    # -- internals ----------------------------------------------------------------------------

    def _check_cluster_id(self) -> str:
        found = {
            n.spec.node_id: meta["cluster.id"]
            for n in self._nodes.values()
            if (meta := read_meta_properties(n.spec.data_dir)).get("cluster.id")
        }
        wanted = self.cluster_id or next(iter(found.values()), None) or new_cluster_id()
        for node_id, cluster_id in found.items():
            if cluster_id != wanted:
                node = self._nodes[node_id]
                raise KafkaStartError(
                    f"Kafka log dir {node.spec.data_dir} is formatted for cluster id {cluster_id},"
                    f" not {wanted}: remove it or point the broker at another directory"
                )
        self.cluster_id = wanted
        return wanted

    def _write_config(self, node: KafkaNode) -> Path:
        node.directory.mkdir(parents=True, exist_ok=True)
        (self.root / "log4j2.properties").write_text(LOG4J2, encoding="utf-8")
        voters = [n.spec for n in self._nodes.values()]
        path = node.directory / "server.properties"
        path.write_text(render_properties(node.spec, voters, self.overrides), encoding="utf-8")
        return path

    def _java_argv(self, java: str, main: str, quick: bool = False) -> list[str]:
        quick = quick or (self.quick_start if self.quick_start is not None else self.nodes > 1)
        return [
            java,
            *(["-XX:TieredStopAtLevel=1"] if quick else []),
            f"-Xmx{self.heap_mb}m",
            f"-Xms{min(self.heap_mb, 128)}m",
            "-XX:+UseSerialGC",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.root / 'log4j2.properties'}",
            "-cp",
            self._classpath,
            main,
        ]

    def _format(self, nodes: list[KafkaNode], java: str, cluster_id: str) -> None:
        """`kafka.tools.StorageTool format` for each node, all at once (a JVM start each)."""
        running: list[tuple[KafkaNode, subprocess.Popen[bytes]]] = []
        for node in nodes:
            config = self._write_config(node)
            argv = self._java_argv(java, "kafka.tools.StorageTool", quick=True)
            argv += ["format", f"--cluster-id={cluster_id}", "--config", str(config)]
            with node.log_path.open("ab") as sink:
                running.append((node, processes.spawn(argv, stdout=sink, stderr=sink, group=True)))
        for node, process in running:
            if process.wait(120) != 0:
                raise KafkaStartError(
                    f"formatting Kafka node {node.spec.node_id}'s log dir failed: "
                    f"{explain_exit(_tail(node.log_path))}; see {node.log_path}"
                )

    def _spawn(self, node: KafkaNode, java: str) -> None:
        if processes.port_open(self.host, node.spec.port):
            raise KafkaStartError(
                f"port {node.spec.port} is taken: Kafka node {node.spec.node_id} cannot start"
            )
        config = self._write_config(node)
        argv = [*self._java_argv(java, "kafka.Kafka"), str(config)]
        with node.log_path.open("ab") as sink:  # the child keeps its own descriptor
            node.process = processes.spawn(argv, stdout=sink, stderr=sink, group=True)

    def _wait_registered(self, node_ids: set[int], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            for node_id in node_ids:
                node = self._nodes[node_id]
                if node.process is not None and node.process.poll() is not None:
                    code = node.process.returncode
                    node.process = None
                    raise KafkaStartError(
                        f"Kafka node {node_id} exited with code {code} at start: "
                        f"{explain_exit(_tail(node.log_path))}; see {node.log_path}"
                    )
            if all(processes.port_open(self.host, self._nodes[i].spec.port) for i in node_ids):
                with _suppressed():
                    if node_ids <= set(self.metadata(timeout_s=2.0).brokers):
                        return
            if time.monotonic() > deadline:
                logs = ", ".join(str(self._nodes[i].log_path) for i in sorted(node_ids))
                raise KafkaStartError(
                    f"Kafka node(s) {sorted(node_ids)} did not answer metadata within "
                    f"{timeout_s:.0f}s; see {logs}"
                )
            time.sleep(0.2)


def _suppressed() -> contextlib.suppress:
    """Metadata calls against a cluster that is starting or losing nodes may fail: try again."""
    return contextlib.suppress(Exception)


def _formatted(node: KafkaNode) -> bool:
    return bool(read_meta_properties(node.spec.data_dir))


def _tail(path: Path, size: int = 16_384) -> str:
    try:
        with path.open("rb") as log:
            log.seek(0, 2)
            log.seek(max(0, log.tell() - size))
            return log.read().decode("utf-8", "replace")
    except OSError:
        return ""
