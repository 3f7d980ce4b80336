"""The first end-to-end slice: a model from the registry scores events that cross a real broker.

1. Train a small classifier, log it to MLflow, register it and point alias ``champion`` at it.
2. Start the inference bridge as its own process (``helicon run bridge``, as a container would).
3. Produce feature events with a plain Kafka producer; collect the predictions by event id.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helicon.runtime.contracts import PipelineTopics, now_ms

FEATURE_NAMES = ("f0", "f1", "f2", "f3")
CHAMPION = "champion"


@dataclass(frozen=True)
class TrainedModel:
    """A registered model version and the held-out rows it can be checked on."""

    name: str
    version: str
    accuracy: float
    estimator: Any
    holdout: list[dict[str, float]]


def train_and_register(tracking_uri: str, model_name: str, seed: int = 7) -> TrainedModel:
    """Train a logistic regression on a synthetic task, register it, and alias it ``champion``."""
    import mlflow
    import mlflow.sklearn
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    features, labels = make_classification(n_samples=2000, n_features=len(FEATURE_NAMES), n_informative=3,
                                           n_redundant=1, random_state=seed)
    frame = pd.DataFrame(features, columns=list(FEATURE_NAMES))
    train_x, test_x, train_y, test_y = train_test_split(frame, labels, test_size=0.25, random_state=seed)
    estimator = LogisticRegression().fit(train_x, train_y)
    accuracy = float(estimator.score(test_x, test_y))

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment("helicon-first-slice")
    with mlflow.start_run(run_name=f"{model_name}-train"):
        mlflow.log_params({"estimator": "LogisticRegression", "seed": seed})
        mlflow.log_metric("holdout_accuracy", accuracy)
        info = mlflow.sklearn.log_model(estimator, name="model", registered_model_name=model_name,
                                        signature=infer_signature(train_x, estimator.predict(train_x)))
    version = str(info.registered_model_version)
    mlflow.MlflowClient().set_registered_model_alias(model_name, CHAMPION, version)
    return TrainedModel(name=model_name, version=version, accuracy=accuracy, estimator=estimator,
                        holdout=test_x.to_dict(orient="records"))


def start_bridge(bootstrap: str, tracking_uri: str, topics: PipelineTopics, model_uri: str, group: str,
                 log_file: Path) -> subprocess.Popen[bytes]:
    """Run ``helicon run bridge`` as a separate process, the way a container runs it."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "helicon.runtime.cli.main", "run", "bridge",
             "--bootstrap", bootstrap, "--input", topics.features, "--output", topics.predictions,
             "--dlq", topics.dlq, "--group", group, "--model", model_uri],
            stdout=log, stderr=subprocess.STDOUT, env=_with_tracking_uri(tracking_uri),
        )


def stop_process(process: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    """SIGTERM, then SIGKILL if it does not exit within ``timeout`` seconds; returns the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def produce_feature_events(bootstrap: str, topic: str, rows: Iterable[Mapping[str, float]]) -> list[str]:
    """Send one event per row with a plain confluent-kafka producer; return the event ids in order."""
    from confluent_kafka import Producer

    from helicon.runtime.kafka_client import client_config

    producer = Producer(client_config({"bootstrap.servers": bootstrap, "enable.idempotence": True}))
    ids = []
    for row in rows:
        event_id = uuid.uuid4().hex
        value = {"id": event_id, "ts": now_ms(), "features": dict(row)}
        producer.produce(topic, key=event_id.encode(), value=json.dumps(value).encode())
        ids.append(event_id)
        producer.poll(0)
    if producer.flush(30) > 0:
        raise RuntimeError(f"the broker at {bootstrap} did not acknowledge every feature event")
    return ids


def collect_predictions(bootstrap: str, topic: str, ids: Iterable[str], timeout: float = 120.0) -> dict[str, dict]:
    """Read ``topic`` from the start until a prediction for each of ``ids`` arrived, or time runs out.

    Returns the predictions by event id (also any duplicates' last value); ids never answered are
    simply absent, so the caller can say which ones are missing.
    """
    from confluent_kafka import Consumer

    from helicon.runtime.kafka_client import client_config

    wanted = set(ids)
    found: dict[str, dict] = {}
    consumer = Consumer(client_config({"bootstrap.servers": bootstrap, "group.id": f"helicon-collect-{uuid.uuid4().hex}",
                                       "auto.offset.reset": "earliest", "enable.auto.commit": False}))
    consumer.subscribe([topic])
    deadline = time.monotonic() + timeout
    try:
        while wanted - found.keys() and time.monotonic() < deadline:
            for message in consumer.consume(500, 0.5):
                if message.error() is not None:
                    continue
                value = json.loads(message.value())
                if value.get("id") in wanted:
                    found[value["id"]] = value
    finally:
        consumer.close()
    return found


def _with_tracking_uri(tracking_uri: str) -> dict[str, str]:
    # A free port for the bridge's health/metrics server: 8080 may be taken on a shared machine.
    return {"HELICON_BRIDGE_HTTP_PORT": "0", **os.environ, "MLFLOW_TRACKING_URI": tracking_uri}
