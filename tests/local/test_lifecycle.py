"""A platform of its own: up, data written, down leaves nothing running, up again keeps the data."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition

from helicon.infra.local.ports import is_port_free
from helicon.infra.local.processes import owned_processes
from tests.helpers import run_cli


def test_down_stops_everything_and_up_again_keeps_the_broker_data(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    up = run_cli(["local", "up", "--state-dir", str(state_dir), "--kafka-port", "0", "--mlflow-port", "0", "--s3-port", "0"])
    assert up.returncode == 0, up.stderr
    report = json.loads(run_cli(["local", "status", "--state-dir", str(state_dir), "--json"]).stdout)
    bootstrap = report["kafka"]["bootstrap"]
    ports = [int(bootstrap.rsplit(":", 1)[1]), int(report["mlflow"]["url"].rsplit(":", 1)[1]),
             int(report["s3"]["endpoint"].rsplit(":", 1)[1])]

    topic, token = f"persist-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex.encode()
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(topic, value=token, partition=0)
    assert producer.flush(30) == 0

    down = run_cli(["local", "down", "--state-dir", str(state_dir)])
    assert down.returncode == 0, down.stderr
    assert owned_processes(state_dir) == []
    assert all(is_port_free(port) for port in ports)

    again = run_cli(["local", "up", "--state-dir", str(state_dir)])
    assert again.returncode == 0, again.stderr
    try:
        assert json.loads(run_cli(["local", "status", "--state-dir", str(state_dir), "--json"]).stdout)["kafka"]["bootstrap"] == bootstrap
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "persist-check", "enable.auto.commit": False})
        consumer.assign([TopicPartition(topic, 0, 0)])
        message = consumer.poll(30)
        consumer.close()
        assert message is not None and message.error() is None and message.value() == token
    finally:
        assert run_cli(["local", "down", "--state-dir", str(state_dir)]).returncode == 0
    assert owned_processes(state_dir) == []
