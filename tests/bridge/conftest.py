"""Fixtures for the bridge: a registered model, fresh topics, producing events, reading outputs, running the CLI."""

from __future__ import annotations

import json
import threading
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from confluent_kafka import Consumer, Message, Producer

from helicon.infra.local import PlatformStatus
from helicon.runtime.bridge import Bridge, BridgeSettings
from helicon.runtime.contracts import PipelineTopics, now_ms
from helicon.runtime.demo import first_slice


@dataclass(frozen=True)
class Platform:
    bootstrap: str
    tracking_uri: str


@pytest.fixture(scope="session")
def platform(local_platform: PlatformStatus) -> Platform:
    import mlflow

    tracking_uri = local_platform.mlflow.endpoint or ""
    os.environ["MLFLOW_TRACKING_URI"] = tracking_uri
    mlflow.set_tracking_uri(tracking_uri)
    return Platform(local_platform.kafka.endpoint or "", tracking_uri)


@pytest.fixture(scope="session")
def champion(platform: Platform) -> first_slice.TrainedModel:
    """A logistic regression registered as ``bridge-test-…`` version 1, alias ``champion``."""
    return first_slice.train_and_register(platform.tracking_uri, f"bridge-test-{uuid.uuid4().hex[:6]}")


@pytest.fixture()
def topics() -> PipelineTopics:
    return PipelineTopics.for_pipeline(f"bridge-{uuid.uuid4().hex[:8]}")


def produce_events(bootstrap: str, topic: str, rows: Iterable[dict], prefix: str = "",
                   partitions: int | None = None, per_second: float | None = None) -> list[str]:
    """One feature event per row (id = ``prefix`` + sequence number); with ``partitions``, round-robin
    over them; with ``per_second``, paced at that rate."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    ids = []
    started = time.monotonic()
    for index, row in enumerate(rows):
        if per_second:
            time.sleep(max(0.0, started + index / per_second - time.monotonic()))
        event_id = f"{prefix}{index:06d}-{uuid.uuid4().hex[:6]}"
        value = json.dumps({"id": event_id, "ts": now_ms(), "features": row}).encode()
        extra = {"partition": index % partitions} if partitions else {}
        producer.produce(topic, key=event_id.encode(), value=value, **extra)
        producer.poll(0)
        ids.append(event_id)
    assert producer.flush(30) == 0
    return ids


def produce_raw(bootstrap: str, topic: str, values: list[tuple[bytes, bytes]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for key, value in values:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(30) == 0


def read_topic(bootstrap: str, topic: str, expected: int, timeout: float = 120.0, read_committed: bool = False,
               settle: float = 0.0) -> list[Message]:
    """Messages of ``topic`` from the start until ``expected`` arrived (then ``settle`` s more), or ``timeout``."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "isolation.level": "read_committed" if read_committed else "read_uncommitted"})
    consumer.subscribe([topic])
    messages: list[Message] = []
    deadline = time.monotonic() + timeout
    settled_at = None
    try:
        while time.monotonic() < deadline:
            messages += [m for m in consumer.consume(1000, 0.5) if m.error() is None]
            if len(messages) >= expected:
                settled_at = settled_at or time.monotonic() + settle
                if time.monotonic() >= settled_at:
                    break
    finally:
        consumer.close()
    return messages


def predictions(messages: list[Message]) -> list[dict]:
    return [json.loads(message.value()) for message in messages]


def write_config(path: Path, **settings: object) -> Path:
    path.write_text(yaml.safe_dump(settings))
    return path


def start_bridge(platform: Platform, config: Path, log_file: Path, *flags: str,
                 env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """``helicon run bridge --config CONFIG FLAGS…`` as its own process, logging to ``log_file``."""
    with log_file.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "helicon.runtime.cli.main", "run", "bridge", "--config", str(config), *flags],
            stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "MLFLOW_TRACKING_URI": platform.tracking_uri, **(env or {})},
        )


def wait_for(predicate, timeout: float = 90.0, interval: float = 0.2) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


@pytest.fixture()
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; any still running at the end is killed."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


@contextmanager
def running(settings: BridgeSettings) -> Iterator[Bridge]:
    """A bridge running in a thread of the test process; stopped (and checked to stop) on exit."""
    bridge = Bridge(settings)
    thread = threading.Thread(target=bridge.run, name="bridge-under-test")
    thread.start()
    try:
        yield bridge
    finally:
        bridge.stop()
        thread.join(60)
        assert not thread.is_alive(), "the bridge did not stop within 60 s"
