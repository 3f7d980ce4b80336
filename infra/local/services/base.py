"""What every local service has: a directory, a log, ports, a command, a readiness probe."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path

from helicon.infra.local.errors import LocalPlatformError
from helicon.infra.local.processes import ProcessHandle

_POLL_SECONDS = 0.5


class LocalService(ABC):
    """One server process of the local platform, configured under ``<state-dir>/<name>/``."""

    name: str
    #: names of the ports the service listens on, first the one clients use
    port_names: tuple[str, ...]
    #: what ``helicon local status`` calls the client-facing address
    endpoint_key: str
    default_ports: Mapping[str, int]
    startup_timeout_seconds: float = 90.0

    def __init__(self, state_dir: Path, ports: Mapping[str, int]) -> None:
        self.state_dir = state_dir
        self.ports = dict(ports)

    @property
    def directory(self) -> Path:
        return self.state_dir / self.name

    @property
    def log_file(self) -> Path:
        return self.directory / f"{self.name}.log"

    @property
    def port(self) -> int:
        return self.ports[self.port_names[0]]

    @property
    @abstractmethod
    def endpoint(self) -> str:
        """The address clients use: ``host:port`` for Kafka, a URL for HTTP services."""

    @abstractmethod
    def command(self) -> list[str]:
        """The command line that runs the server in the foreground."""

    def environment(self) -> dict[str, str]:
        """Extra environment for the server process."""
        return {}

    def preflight(self) -> None:
        """Checks that must pass before anything is started (tools present, caches sound)."""

    def prepare(self) -> None:
        """Write configuration and initialise storage; called before each start."""
        self.directory.mkdir(parents=True, exist_ok=True)

    @abstractmethod
    def probe(self, timeout: float) -> bool:
        """Whether the service does its job now (not merely whether its port is open)."""

    def wait_ready(self, handle: ProcessHandle) -> None:
        """Block until :meth:`probe` passes; raise if the process dies or time runs out."""
        deadline = time.monotonic() + self.startup_timeout_seconds
        while time.monotonic() < deadline:
            if not handle.is_running():
                raise LocalPlatformError(
                    f"{self.name} exited during start-up: {self.log_tail()}",
                    f"read {self.log_file} for the whole story",
                )
            if self.probe(timeout=5.0):
                return
            time.sleep(_POLL_SECONDS)
        raise LocalPlatformError(
            f"{self.name} did not become ready within {self.startup_timeout_seconds:.0f} s",
            f"read {self.log_file}; then `helicon local down` and try again",
        )

    def log_tail(self) -> str:
        """The last meaningful line of the log, for one-line error messages."""
        try:
            lines = [line.strip() for line in self.log_file.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            return "no log written"
        errors = [line for line in lines if any(word in line for word in ("ERROR", "Error", "Exception", "error:"))]
        return ((errors or lines or ["no log written"])[-1])[:300]
