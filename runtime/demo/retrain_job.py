"""The retraining job the drift monitor's trigger calls: a local stand-in for a remote CI pipeline.

An HTTP server on 127.0.0.1 receives the monitor's ``generic`` retrain trigger (the alert JSON,
signed with ``X-Helicon-Signature``), exactly as a CI endpoint would. For each valid trigger it:

1. verifies the HMAC signature (401 when missing or wrong) and answers ``202`` at once;
2. for a concept drift, reads exactly the alert's fresh-data window with the code of
   ``helicon drift export-window`` — the labelled examples whose join made the detector fire —
   and looks up those events' features on ``P.features``;
3. trains a logistic regression on them, logs it to MLflow, registers the new version and points
   alias ``challenger`` at it (the bridge then canaries it and promotes it when it does better).

A data-drift trigger (an input feature moved) is acknowledged and recorded but does not retrain:
the labels, not the inputs, say whether the model is still right, and DDM watches those.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from helicon.runtime.demo.drifting_stream import FEATURES
from helicon.runtime.demo.scenario import Scenario, sklearn_requirements
from helicon.runtime.drift.signing import HEADER, verify
from helicon.runtime.kafka_client import client_config

logger = logging.getLogger(__name__)
CHALLENGER = "challenger"


@dataclass
class TriggerRecord:
    """One trigger the job accepted."""

    alert_id: str
    tier: str
    detector: str
    feature: str | None
    index: int
    received_at: float
    retrain: bool


@dataclass
class RetrainRecord:
    """One retraining: the window it read and the version it registered (or why it did not)."""

    alert_id: str
    window_events: int
    rows: int
    first_index: int | None = None
    last_index: int | None = None
    version: str | None = None
    train_accuracy: float | None = None
    seconds: float = 0.0
    error: str | None = None
    finished_at: float = 0.0


@dataclass
class RetrainJob:
    """Start with :meth:`start`; :attr:`url` is what the drift monitor's trigger posts to."""

    bootstrap: str
    tracking_uri: str
    model_name: str
    features_topic: str
    secret: bytes
    experiment: str = "helicon-demo"
    triggers: list[TriggerRecord] = field(default_factory=list)
    retrains: list[RetrainRecord] = field(default_factory=list)
    rejected: int = 0
    _queue: queue.Queue[dict[str, Any] | None] = field(default_factory=queue.Queue, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _server: ThreadingHTTPServer | None = field(default=None, init=False)
    _threads: list[threading.Thread] = field(default_factory=list, init=False)

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the retrain job is not started")
        return f"http://127.0.0.1:{self._server.server_port}/retrain"

    @property
    def busy(self) -> bool:
        """A retraining is queued or running."""
        return self._queue.unfinished_tasks > 0

    def start(self) -> None:
        """Listen on a free port and start the worker that trains one window at a time."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._threads = [threading.Thread(target=self._server.serve_forever, name="helicon-retrain-http", daemon=True),
                         threading.Thread(target=self._work, name="helicon-retrain-worker", daemon=True)]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop listening; let a retraining in progress finish (up to ``timeout_s``)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout_s)

    # -- HTTP ---------------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        job = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, answer = job.receive(body, self.headers.get(HEADER) or "")
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
                logger.debug(format, *args)

        return Handler

    def receive(self, body: bytes, signature: str) -> tuple[int, dict[str, Any]]:
        """Check and record one trigger request; returns the HTTP status and JSON answer."""
        if not verify(self.secret, body, signature):
            with self._lock:
                self.rejected += 1
            return 401, {"error": f"missing or invalid {HEADER}"}
        try:
            alert = json.loads(body)
            alert_id, tier, index = str(alert["id"]), str(alert["tier"]), int(alert["index"])
        except (ValueError, KeyError, TypeError) as error:
            return 400, {"error": f"not a Helicon alert: {error.__class__.__name__}: {error}"}
        with self._lock:
            if any(record.alert_id == alert_id for record in self.triggers):
                return 200, {"status": "duplicate", "alert_id": alert_id}
            retrain = tier == "concept" and alert.get("kind") == "drift"
            self.triggers.append(TriggerRecord(alert_id, tier, str(alert.get("detector_id")), alert.get("feature"),
                                               index, time.time(), retrain))
        if retrain:
            self._queue.put(alert)
        return 202, {"status": "retraining" if retrain else "recorded (data drift: no retraining)", "alert_id": alert_id}

    # -- the pipeline the trigger runs --------------------------------------------------------------

    def _work(self) -> None:
        while True:
            alert = self._queue.get()
            try:
                if alert is None:
                    return
                record = self.retrain(alert)
                with self._lock:
                    self.retrains.append(record)
            except Exception:  # noqa: BLE001 - one failed retraining must not stop the next
                logger.exception("retraining failed")
            finally:
                self._queue.task_done()

    def retrain(self, alert: dict[str, Any]) -> RetrainRecord:
        """Read the alert's window, train, register, alias ``challenger``; the record says what happened."""
        from helicon.runtime.drift.export import ExportError, read_window, window_from_alert

        started = time.monotonic()
        window = window_from_alert(alert)
        record = RetrainRecord(alert_id=str(alert["id"]), window_events=window.events, rows=0)
        try:
            window_rows = read_window(self.bootstrap, window)
            labels = {row["id"]: row["label"] for row in window_rows if "label" in row and row.get("id")}
            features = self._features_of(set(labels), window.ts_from_ms)
            examples = [(features[event_id], labels[event_id]) for event_id in sorted(labels) if event_id in features]
            indexes = [index for index in (Scenario.index_of(event_id) for event_id in labels) if index is not None]
            record.rows = len(examples)
            record.first_index, record.last_index = (min(indexes), max(indexes)) if indexes else (None, None)
            if len(examples) < 20 or len({label for _, label in examples}) < 2:
                raise ValueError(f"the window holds {len(examples)} labelled examples of "
                                 f"{len({label for _, label in examples})} class(es): too few to train on")
            record.version, record.train_accuracy = self._train_and_register(examples, alert)
        except (ExportError, ValueError) as error:
            record.error = str(error)
            logger.error("retraining for alert %s failed: %s", record.alert_id, error)
        record.seconds = time.monotonic() - started
        record.finished_at = time.time()
        return record

    def _features_of(self, ids: set[str], ts_from_ms: int | None, timeout_s: float = 60.0) -> dict[str, dict[str, float]]:
        """The features of ``ids``, read from ``P.features`` from a little before the window's first label."""
        from confluent_kafka import Consumer, TopicPartition

        consumer = Consumer(client_config({"bootstrap.servers": self.bootstrap, "group.id": f"helicon-retrain-{uuid.uuid4().hex}",
                                           "enable.auto.commit": False, "auto.offset.reset": "earliest"}))
        found: dict[str, dict[str, float]] = {}
        try:
            metadata = consumer.list_topics(self.features_topic, timeout=10).topics[self.features_topic]
            partitions = [TopicPartition(self.features_topic, p, max(0, (ts_from_ms or 0) - 120_000)) for p in metadata.partitions]
            starts = consumer.offsets_for_times(partitions, timeout=10)
            ends = {p.partition: consumer.get_watermark_offsets(p, timeout=10)[1] for p in partitions}
            starts = [TopicPartition(p.topic, p.partition, p.offset if p.offset >= 0 else ends[p.partition]) for p in starts]
            consumer.assign(starts)
            open_partitions = {p.partition for p in starts if p.offset < ends[p.partition]}
            deadline = time.monotonic() + timeout_s
            while open_partitions and len(found) < len(ids) and time.monotonic() < deadline:
                for message in consumer.consume(500, 0.5):
                    if message.error() is not None:
                        continue
                    if message.offset() >= ends[message.partition()] - 1:
                        open_partitions.discard(message.partition())
                    value = json.loads(message.value())
                    if value.get("id") in ids:
                        found[value["id"]] = value["features"]
        finally:
            consumer.close()
        return found

    def _train_and_register(self, examples: list[tuple[dict[str, float], Any]], alert: dict[str, Any]) -> tuple[str, float]:
        import mlflow
        import mlflow.sklearn
        import pandas as pd
        from mlflow.models import infer_signature
        from sklearn.linear_model import LogisticRegression

        frame = pd.DataFrame.from_records([features for features, _ in examples], columns=list(FEATURES))
        labels = [int(label) for _, label in examples]
        estimator = LogisticRegression().fit(frame, labels)
        accuracy = float(estimator.score(frame, labels))
        client = mlflow.MlflowClient(self.tracking_uri)
        experiment = client.get_experiment_by_name(self.experiment)
        experiment_id = experiment.experiment_id if experiment else client.create_experiment(self.experiment)
        mlflow.set_tracking_uri(self.tracking_uri)
        with mlflow.start_run(experiment_id=experiment_id, run_name=f"{self.model_name}-retrain"):
            mlflow.log_params({"estimator": "LogisticRegression", "trigger": alert["id"], "detector": alert.get("detector_id"),
                               "window_events": len(examples)})
            mlflow.log_metric("train_accuracy", accuracy)
            info = mlflow.sklearn.log_model(estimator, name="model", registered_model_name=self.model_name,
                                            signature=infer_signature(frame, estimator.predict(frame)),
                                            pip_requirements=sklearn_requirements())
        version = str(info.registered_model_version)
        client.set_registered_model_alias(self.model_name, CHALLENGER, version)
        logger.info("registered %s version %s as @%s (trained on %d examples)", self.model_name, version, CHALLENGER, len(examples))
        return version, accuracy

    def snapshot(self) -> dict[str, Any]:
        """Triggers and retrainings so far, as plain data."""
        with self._lock:
            return {"triggers": [asdict(t) for t in self.triggers], "retrains": [asdict(r) for r in self.retrains],
                    "rejected": self.rejected}
