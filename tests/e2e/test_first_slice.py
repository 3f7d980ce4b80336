"""The first end-to-end slice on the real platform: registry model, bridge process, real broker."""

from __future__ import annotations

import json
import uuid
from collections import Counter

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from helicon.infra.local import PlatformStatus
from helicon.runtime.contracts import PipelineTopics
from helicon.runtime.demo import first_slice

EVENTS = 300


def _read_all(bootstrap: str, topic: str, expected: int, timeout: float = 120.0) -> list:  # noqa: ANN401
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    messages: list = []
    import time

    deadline = time.monotonic() + timeout
    while len(messages) < expected and time.monotonic() < deadline:
        messages += [message for message in consumer.consume(500, 0.5) if message.error() is None]
    consumer.close()
    return messages


@pytest.fixture()
def pipeline() -> PipelineTopics:
    return PipelineTopics.for_pipeline(f"slice-{uuid.uuid4().hex[:8]}")


def test_n_events_in_n_predictions_out_from_the_registered_champion(
    local_platform: PlatformStatus, mlflow_tracking: str, pipeline: PipelineTopics, tmp_path,  # noqa: ANN001
) -> None:
    bootstrap = local_platform.kafka.endpoint or ""
    trained = first_slice.train_and_register(mlflow_tracking, f"{pipeline.features}-model")
    group = f"{pipeline.features}-bridge"
    bridge = first_slice.start_bridge(bootstrap, mlflow_tracking, pipeline, f"models:/{trained.name}@champion",
                                      group=group, log_file=tmp_path / "bridge.log")
    try:
        rows = [trained.holdout[index % len(trained.holdout)] for index in range(EVENTS)]
        producer = Producer({"bootstrap.servers": bootstrap})
        ids = []
        for row in rows:
            event_id = uuid.uuid4().hex
            producer.produce(pipeline.features, key=event_id.encode(),
                             value=json.dumps({"id": event_id, "ts": 0, "features": row}).encode())
            ids.append(event_id)
        producer.produce(pipeline.features, key=b"broken", value=b"{not json")
        assert producer.flush(30) == 0

        messages = _read_all(bootstrap, pipeline.predictions, EVENTS)
        dead = _read_all(bootstrap, pipeline.dlq, 1)
    finally:
        exit_code = first_slice.stop_process(bridge)
    log = (tmp_path / "bridge.log").read_text()
    assert exit_code == 0, log

    predictions = [json.loads(message.value()) for message in messages]
    assert Counter(p["id"] for p in predictions) == Counter(ids)
    assert all(message.key().decode() == json.loads(message.value())["id"] for message in messages)
    assert {(p["model"]["name"], p["model"]["version"]) for p in predictions} == {(trained.name, trained.version)}
    expected = dict(zip(ids, trained.estimator.predict(first_slice_frame(rows)).tolist()))
    assert {p["id"]: p["prediction"] for p in predictions} == expected

    assert len(dead) == 1 and dead[0].value() == b"{not json"
    headers = dict(dead[0].headers())
    assert headers["helicon.stage"] == b"decode" and headers["helicon.topic"].decode() == pipeline.features

    committed = Consumer({"bootstrap.servers": bootstrap, "group.id": group}).committed(
        [TopicPartition(pipeline.features, partition) for partition in range(3)], timeout=10)
    assert sum(tp.offset for tp in committed if tp.offset >= 0) == EVENTS + 1


def first_slice_frame(rows: list[dict]):  # noqa: ANN201
    import pandas as pd

    return pd.DataFrame.from_records(rows, columns=list(first_slice.FEATURE_NAMES))
