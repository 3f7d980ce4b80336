"""Apache Kafka in KRaft mode: one node that is both controller and broker, on loopback."""

from __future__ import annotations

import base64
import subprocess
import uuid
from pathlib import Path

from helicon.infra.local.errors import LocalPlatformError
from helicon.infra.local.java import find_java
from helicon.infra.local.kafka_jars import KafkaJarCache, bundled_file
from helicon.infra.local.kafka_probe import kafka_round_trip
from helicon.infra.local.ports import LOOPBACK
from helicon.infra.local.services.base import LocalService

#: Topics auto-created on first use get this many partitions, so consumer groups are exercised.
DEFAULT_PARTITIONS = 3
BROKER_HEAP = ["-Xms256m", "-Xmx768m"]


class KafkaBroker(LocalService):
    """A real broker run from the Apache Kafka jars in the jar cache."""

    name = "kafka"
    port_names = ("port", "controller_port")
    endpoint_key = "bootstrap"
    default_ports = {"port": 9092, "controller_port": 9093}

    def __init__(self, state_dir: Path, ports: dict[str, int], jar_cache: KafkaJarCache) -> None:
        super().__init__(state_dir, ports)
        self.jar_cache = jar_cache
        self._java: Path | None = None

    @property
    def endpoint(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def properties_file(self) -> Path:
        return self.directory / "server.properties"

    def preflight(self) -> None:
        self._java = find_java()
        self.jar_cache.ensure()

    def prepare(self) -> None:
        super().prepare()
        self.properties_file.write_text(self._server_properties())
        if not (self.data_dir / "meta.properties").is_file():
            self._format_storage()

    def command(self) -> list[str]:
        return [*self._java_command(), *BROKER_HEAP, "kafka.Kafka", str(self.properties_file)]

    def probe(self, timeout: float) -> bool:
        return kafka_round_trip(self.endpoint, timeout=timeout)

    def _java_command(self) -> list[str]:
        java = self._java or find_java()
        return [
            str(java), "-XX:+UseG1GC", "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={bundled_file('log4j2.xml')}",
            "-cp", self.jar_cache.classpath,
        ]

    def _format_storage(self) -> None:
        cluster_id = _kafka_cluster_id()
        completed = subprocess.run(
            [*self._java_command(), "kafka.tools.StorageTool", "format",
             "--cluster-id", cluster_id, "--config", str(self.properties_file)],
            capture_output=True, text=True, timeout=120,
        )
        if completed.returncode != 0:
            detail = (completed.stderr or completed.stdout).strip().splitlines()
            raise LocalPlatformError(
                f"formatting Kafka storage in {self.data_dir} failed: {(detail or ['no output'])[-1][:300]}",
                f"remove {self.directory} (it holds no data yet) and run `helicon local up` again",
            )

    def _server_properties(self) -> str:
        port, controller_port = self.ports["port"], self.ports["controller_port"]
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{LOOPBACK}:{controller_port}",
            "listeners": f"PLAINTEXT://{LOOPBACK}:{port},CONTROLLER://{LOOPBACK}:{controller_port}",
            "advertised.listeners": f"PLAINTEXT://{LOOPBACK}:{port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.data_dir.resolve()),
            "num.partitions": str(DEFAULT_PARTITIONS),
            "auto.create.topics.enable": "true",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "10",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "log.retention.hours": "168",
        }
        lines = ["# Written by `helicon local up` on every start; edit the code, not this file."]
        lines += [f"{key}={value}" for key, value in settings.items()]
        return "\n".join(lines) + "\n"


def _kafka_cluster_id() -> str:
    """A cluster id in Kafka's format: a random UUID, URL-safe base64 without padding.

    One id in 64 would start with "-", which kafka-storage's argument parser takes for an option.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id
