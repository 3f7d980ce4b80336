"""The local platform as a whole: start, stop and report Kafka, MLflow and S3 together.

State lives under one directory (default ``.helicon/`` in the working directory): each service's
configuration, data and log in a folder of its own, and ``platform.json`` with the ports and the
processes, which ``status`` and ``down`` read.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from helicon.infra.local import processes
from helicon.infra.local.errors import LocalPlatformError
from helicon.infra.local.kafka_jars import KafkaJarCache, default_cache_root
from helicon.infra.local.ports import LOOPBACK, is_port_free, pick_free_port
from helicon.infra.local.processes import ProcessHandle
from helicon.infra.local.services.base import LocalService
from helicon.infra.local.services.kafka import KafkaBroker
from helicon.infra.local.services.mlflow import MlflowServer
from helicon.infra.local.services.s3 import CREDENTIALS, DEFAULT_BUCKET, S3Server

STATE_FILE = "platform.json"
SERVICE_ORDER = ("kafka", "mlflow", "s3")
_STATUS_PROBE_SECONDS = 5.0

Progress = Callable[[str], None]


@dataclass
class LocalPlatformConfig:
    """Where the local platform keeps its state and which loopback ports it uses.

    A port left as ``None`` is the one used last time in this state directory, else the service's
    conventional port (Kafka 9092 and 9093 for its controller, MLflow 5000, S3 9000); ``0`` picks
    a free port.
    """

    state_dir: Path = field(default_factory=lambda: Path(".helicon"))
    kafka_port: int | None = None
    kafka_controller_port: int | None = None
    mlflow_port: int | None = None
    s3_port: int | None = None
    cache_dir: Path | None = None

    def requested_ports(self) -> dict[str, dict[str, int | None]]:
        controller = self.kafka_controller_port
        if controller is None and self.kafka_port == 0:
            controller = 0
        return {
            "kafka": {"port": self.kafka_port, "controller_port": controller},
            "mlflow": {"port": self.mlflow_port},
            "s3": {"port": self.s3_port},
        }


@dataclass(frozen=True)
class ServiceStatus:
    """One service as ``helicon local status`` reports it."""

    name: str
    endpoint_key: str
    endpoint: str | None
    healthy: bool
    pid: int | None
    log: Path

    def to_json(self) -> dict[str, object]:
        return {self.endpoint_key: self.endpoint, "healthy": self.healthy, "pid": self.pid, "log": str(self.log)}


@dataclass(frozen=True)
class PlatformStatus:
    """The platform's services, their addresses and health."""

    state_dir: Path
    kafka: ServiceStatus
    mlflow: ServiceStatus
    s3: ServiceStatus

    @property
    def services(self) -> tuple[ServiceStatus, ...]:
        return (self.kafka, self.mlflow, self.s3)

    @property
    def healthy(self) -> bool:
        return all(service.healthy for service in self.services)

    def to_json(self) -> dict[str, dict[str, object]]:
        return {service.name: service.to_json() for service in self.services}

    def client_environment(self) -> dict[str, str]:
        """Environment variables that point Kafka, MLflow and boto3 clients at this platform."""
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka.endpoint or "",
            "MLFLOW_TRACKING_URI": self.mlflow.endpoint or "",
            "AWS_ENDPOINT_URL_S3": self.s3.endpoint or "",
            "HELICON_S3_BUCKET": DEFAULT_BUCKET,
            **CREDENTIALS,
        }


class LocalPlatform:
    """Start, stop and inspect the local platform rooted at ``config.state_dir``.

    ``up`` is idempotent and all-or-nothing: it returns once every service passes its readiness
    probe (for Kafka, a produce/consume round trip), and if any service fails to start it stops
    the ones it started before raising :class:`LocalPlatformError`.
    """

    def __init__(self, config: LocalPlatformConfig | None = None) -> None:
        self.config = config or LocalPlatformConfig()
        self.state_dir = Path(self.config.state_dir).resolve()
        self.jar_cache = KafkaJarCache(Path(self.config.cache_dir) if self.config.cache_dir else default_cache_root())

    @property
    def state_file(self) -> Path:
        return self.state_dir / STATE_FILE

    def up(self, progress: Progress = lambda _message: None) -> PlatformStatus:
        """Start whatever is not running yet and wait until all of it is ready."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with self._exclusive():
            state = self._load_state()
            services = self._services(state, self.config.requested_ports())
            running = {name: handle for name, handle in self._handles(state).items() if handle.is_running()}
            for name in running:
                progress(f"{name} is already running (pid {running[name].pid})")
                services[name].wait_ready(running[name])
            to_start = [services[name] for name in SERVICE_ORDER if name not in running]
            if not to_start:
                return self.status()
            for service in to_start:
                service.preflight()
            self._resolve_and_check_ports(to_start)
            self._start_all(to_start, state, progress)
        return self.status()

    def down(self, progress: Progress = lambda _message: None) -> list[str]:
        """Stop every service of this state directory; return the names of those stopped."""
        if not self.state_dir.is_dir():
            return []
        stopped: list[str] = []
        with self._exclusive():
            try:
                state = self._load_state()
            except LocalPlatformError:
                state = {}  # the sweep below still finds every process this directory owns
            for name in reversed(SERVICE_ORDER):
                handle = self._handles(state).get(name)
                if handle is not None and handle.is_running():
                    progress(f"stopping {name} (pid {handle.pid})")
                    processes.stop(handle)
                    stopped.append(name)
                state.setdefault(name, {})["process"] = None
            strays = processes.owned_processes(self.state_dir)
            if strays:
                progress(f"stopping {len(strays)} stray process(es) of {self.state_dir}")
                processes.kill_all(strays)
            self._save_state(state)
        return stopped

    def status(self) -> PlatformStatus:
        """Each service's address and whether it is running and does its job now."""
        state = self._load_state()
        services = self._services(state, {})
        handles = self._handles(state)
        reports = {}
        for name, service in services.items():
            handle = handles.get(name)
            alive = handle is not None and handle.is_running()
            known = bool(state.get(name, {}).get("ports"))
            reports[name] = ServiceStatus(
                name=name, endpoint_key=service.endpoint_key,
                endpoint=service.endpoint if known else None,
                healthy=alive and service.probe(timeout=_STATUS_PROBE_SECONDS),
                pid=handle.pid if alive and handle else None,
                log=service.log_file,
            )
        return PlatformStatus(state_dir=self.state_dir, **reports)

    def _start_all(self, to_start: list[LocalService], state: dict, progress: Progress) -> None:
        started: list[tuple[LocalService, ProcessHandle]] = []
        try:
            for service in to_start:
                progress(f"starting {service.name} on {service.endpoint} (log: {service.log_file})")
                service.prepare()
                handle = processes.spawn(service.command(), service.log_file, self.state_dir,
                                         env=service.environment(), cwd=service.directory)
                started.append((service, handle))
                state[service.name] = {"ports": service.ports, "process": handle.to_json()}
                self._save_state(state)
                service.wait_ready(handle)
                progress(f"{service.name} is ready")
        except BaseException:
            for service, handle in reversed(started):
                processes.stop(handle, timeout=15)
                state[service.name]["process"] = None
            self._save_state(state)
            raise

    def _services(self, state: dict, requested: dict[str, dict[str, int | None]]) -> dict[str, LocalService]:
        def ports_for(name: str, defaults: dict[str, int]) -> dict[str, int]:
            stored = state.get(name, {}).get("ports") or {}
            wanted = requested.get(name, {})
            return {
                port_name: wanted[port_name] if wanted.get(port_name) is not None else stored.get(port_name, default)
                for port_name, default in defaults.items()
            }

        return {
            "kafka": KafkaBroker(self.state_dir, ports_for("kafka", KafkaBroker.default_ports), self.jar_cache),
            "mlflow": MlflowServer(self.state_dir, ports_for("mlflow", MlflowServer.default_ports)),
            "s3": S3Server(self.state_dir, ports_for("s3", S3Server.default_ports)),
        }

    @staticmethod
    def _resolve_and_check_ports(to_start: list[LocalService]) -> None:
        taken: set[int] = set()
        for service in to_start:
            for port_name in service.port_names:
                port = service.ports[port_name]
                if port == 0:
                    port = service.ports[port_name] = pick_free_port(avoid=taken)
                flag = f"--{service.name}-{port_name.replace('_', '-')}"
                if port in taken or not is_port_free(port):
                    raise LocalPlatformError(
                        f"port {port} on {LOOPBACK} ({service.name} {port_name.replace('_', ' ')}) is already in use",
                        f"stop what listens there, or pass {flag} PORT (0 picks a free one)",
                    )
                taken.add(port)

    @staticmethod
    def _handles(state: dict) -> dict[str, ProcessHandle]:
        return {
            name: ProcessHandle.from_json(entry["process"])
            for name, entry in state.items() if isinstance(entry, dict) and entry.get("process")
        }

    def _load_state(self) -> dict:
        try:
            return json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return {}
        except ValueError as error:
            raise LocalPlatformError(
                f"{self.state_file} is not valid JSON ({error})",
                f"run `helicon local down --state-dir {self.state_dir}` (it stops what it can find) and then `up`",
            ) from error

    def _save_state(self, state: dict) -> None:
        temporary = self.state_file.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(state, indent=2, sort_keys=True))
        os.replace(temporary, self.state_file)

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        with (self.state_dir / ".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
