"""The KAFKA_* convention against a real broker with a SASL_PLAINTEXT SCRAM-SHA-512 listener.

A second local broker (the local platform's code, plus a SCRAM listener and a user created when its
storage is formatted) runs for this module only. A service started with the variables the
Kubernetes workloads set authenticates and works; a wrong password does not get in.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from helicon.infra.local.errors import LocalPlatformError
from helicon.infra.local.kafka_jars import KafkaJarCache, default_cache_root
from helicon.infra.local.ports import LOOPBACK, pick_free_port
from helicon.infra.local.processes import spawn, stop
from helicon.infra.local.services.kafka import KafkaBroker, _kafka_cluster_id
from helicon.runtime.kafka_client import client_config

pytestmark = pytest.mark.platform

USER, PASSWORD = "helicon-fraud-learner", "scram-secret-1"


class ScramBroker(KafkaBroker):
    """The local broker with a second listener, ``SASL_PLAINTEXT`` + SCRAM-SHA-512, and one SCRAM user."""

    name = "kafka-scram"
    port_names = ("port", "controller_port", "sasl_port")

    @property
    def sasl_endpoint(self) -> str:
        return f"{LOOPBACK}:{self.ports['sasl_port']}"

    def _server_properties(self) -> str:
        lines = super()._server_properties().splitlines()
        settings = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
        port, sasl_port, controller_port = self.ports["port"], self.ports["sasl_port"], self.ports["controller_port"]
        settings.update({
            "listeners": f"PLAINTEXT://{LOOPBACK}:{port},SASL_PLAINTEXT://{LOOPBACK}:{sasl_port},"
                         f"CONTROLLER://{LOOPBACK}:{controller_port}",
            "advertised.listeners": f"PLAINTEXT://{LOOPBACK}:{port},SASL_PLAINTEXT://{LOOPBACK}:{sasl_port}",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config":
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        })
        return "\n".join(f"{key}={value}" for key, value in settings.items()) + "\n"

    def _format_storage(self) -> None:
        completed = subprocess.run(
            [*self._java_command(), "kafka.tools.StorageTool", "format", "--cluster-id", _kafka_cluster_id(),
             "--config", str(self.properties_file),
             "--add-scram", f"SCRAM-SHA-512=[name={USER},password={PASSWORD}]"],
            capture_output=True, text=True, timeout=120)
        if completed.returncode != 0:
            raise LocalPlatformError(f"formatting the SCRAM broker failed: {(completed.stderr or completed.stdout)[-500:]}",
                                     "see the output above")


@pytest.fixture(scope="module")
def scram_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScramBroker]:
    state_dir = tmp_path_factory.mktemp("scram-broker")
    used: set[int] = set()
    ports = {}
    for name in ScramBroker.port_names:
        ports[name] = pick_free_port(avoid=used)
        used.add(ports[name])
    broker = ScramBroker(state_dir, ports, KafkaJarCache(default_cache_root()))
    broker.preflight()
    broker.prepare()
    handle = spawn(broker.command(), broker.log_file, state_dir)
    try:
        broker.wait_ready(handle)
        yield broker
    finally:
        stop(handle)


def _scram_env(password: str = PASSWORD) -> dict[str, str]:
    return {"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": USER, "KAFKA_SASL_PASSWORD": password}


def test_clients_built_from_the_variables_authenticate(scram_broker: ScramBroker) -> None:
    from confluent_kafka import Consumer, Producer

    topic = f"scram-{uuid.uuid4().hex[:8]}"
    producer = Producer(client_config({"bootstrap.servers": scram_broker.sasl_endpoint}, env=_scram_env()))
    producer.produce(topic, key=b"k", value=b"over SCRAM")
    assert producer.flush(60) == 0
    consumer = Consumer(client_config({"bootstrap.servers": scram_broker.sasl_endpoint, "group.id": topic,
                                       "auto.offset.reset": "earliest"}, env=_scram_env()))
    consumer.subscribe([topic])
    try:
        deadline = time.monotonic() + 60
        values = []
        while not values and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                values.append(message.value())
        assert values == [b"over SCRAM"]
    finally:
        consumer.close()


def test_a_wrong_password_is_refused(scram_broker: ScramBroker) -> None:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    errors: list[str] = []
    admin = AdminClient(client_config({"bootstrap.servers": scram_broker.sasl_endpoint,
                                       "error_cb": lambda error: errors.append(str(error))},
                                      env=_scram_env("wrong")))
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=15)
    deadline = time.monotonic() + 30
    while not errors and time.monotonic() < deadline:
        admin.poll(1.0)  # serves error_cb
    assert any("Authentication failed" in error or "SASL" in error for error in errors), errors


def test_the_learner_service_runs_over_scram(scram_broker: ScramBroker, tmp_path: Path) -> None:
    """``helicon run learn`` as the workload starts it (KAFKA_* and HELICON_METRICS_PORT set) becomes ready."""
    prefix = f"scram-{uuid.uuid4().hex[:8]}"
    port = pick_free_port()
    log = tmp_path / "learn.log"
    env = {**os.environ, **_scram_env(), "HELICON_METRICS_PORT": str(port)}
    env.pop("HELICON_LEARN_METRICS_PORT", None)
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "helicon.runtime.cli.main", "run", "learn", "--bootstrap", scram_broker.sasl_endpoint,
             "--features", f"{prefix}.features", "--feedback", f"{prefix}.feedback", "--predictions",
             f"{prefix}.predictions", "--dlq", f"{prefix}.dlq", "--group", f"{prefix}-learner", "--model", "hbp"],
            env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        from confluent_kafka import Producer

        producer = Producer(client_config({"bootstrap.servers": scram_broker.sasl_endpoint}, env=_scram_env()))
        for topic in ("features", "feedback"):  # auto-created: the group gets partitions to assign
            producer.produce(f"{prefix}.{topic}", value=json.dumps({"id": "e0", "ts": 1, "features": {"x": 1.0}}
                                                                   if topic == "features" else
                                                                   {"id": "e0", "label": 1, "ts": 2}).encode())
        assert producer.flush(60) == 0
        deadline = time.monotonic() + 120
        status = 0
        while time.monotonic() < deadline and status != 200:
            assert process.poll() is None, log.read_text()[-3000:]
            try:
                status = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code
            except requests.RequestException:
                status = 0
            time.sleep(0.5)
        assert status == 200, log.read_text()[-3000:]
        assert "helicon_learn_examples_total" in requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, log.read_text()[-3000:]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
