"""``helicon run learn``: predict on features, learn from joined feedback, checkpoint, export metrics.

Stages, in the data's order:

1. *source*: one consumer reads ``P.features`` and ``P.feedback`` (co-partitioned by event id, so a
   replica sees the features and the labels of the same events);
2. *decode*: a feature event or a feedback event that does not validate goes to the DLQ with
   reason headers;
3. *predict*: the model predicts with its current state; the prediction goes to ``P.predictions``
   (the bridge's contract) and, with the features, into the :class:`FeedbackJoin`;
4. *learn*: a joined ``(features, prediction, label)`` updates the prequential metrics (the
   prediction was made before the label was known) and then the model;
5. *checkpoint*: periodically and on stop, the producer is flushed, the model, join and metrics
   are saved with the next offset of every partition, and only then are those offsets committed.
   On start the checkpoint is restored and its offsets are where the consumer resumes, so a SIGKILL
   loses only what came after the last checkpoint, and replaying it relearns it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, ValidationError

from helicon.runtime.contracts import FeatureEvent, ModelRef, encode_prediction, now_ms
from helicon.runtime.join import FeedbackJoin
from helicon.runtime.kafka_client import client_config
from helicon.runtime.learn.checkpoint import CheckpointStore, model_state, open_store, restore_model
from helicon.runtime.learn.metrics import LearnerMetrics
from helicon.runtime.learn.prequential import PrequentialMetrics
from helicon.runtime.learn.spec import build_model, model_task, parse_spec

logger = logging.getLogger(__name__)


class FeedbackEvent(BaseModel):
    """A value on ``P.feedback``: the true label of an earlier event."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: StrictStr = Field(min_length=1)
    label: StrictBool | StrictInt | StrictFloat | StrictStr
    ts: StrictInt | StrictFloat | None = None


class LearnerSettings(BaseModel):
    """Everything ``helicon run learn`` is configured with (file, environment, flags)."""

    bootstrap: str = Field(description="Kafka bootstrap servers, HOST:PORT[,HOST:PORT].")
    features_topic: str = Field(description="Topic of feature events.")
    feedback_topic: str = Field(description="Topic of feedback (true labels).")
    predictions_topic: str = Field(description="Topic the predictions go to.")
    dlq_topic: str = Field(description="Topic for events that cannot be used.")
    group: str = Field(description="Consumer group id; replicas of one learner share it.")
    model: str = Field(description="Model spec: hbp, hbp:layers=N,units=M, mlp:..., river:<module>.<Class>.")
    task: str | None = Field(default=None, description="classification or regression, when the spec does not say (default classification).")
    model_name: str = Field(default="online-learner", description="Name in each prediction's model field.")
    checkpoint: str | None = Field(default=None, description="mlflow:NAME[@ALIAS] or s3://BUCKET/PREFIX; none keeps no state.")
    checkpoint_interval_s: float = Field(default=60.0, gt=0, description="Seconds between checkpoints.")
    join_ttl_ms: int = Field(default=3_600_000, gt=0, description="How long a prediction waits for its label.")
    join_max_entries: int = Field(default=100_000, gt=0, description="Most predictions held waiting for labels.")
    metrics_port: int | None = Field(default=None, ge=0, le=65535, description="Port of /metrics, /healthz and /readyz; none disables it (the CLI falls back to HELICON_METRICS_PORT).")
    mlflow_experiment: str | None = Field(default=None, description="Experiment to log prequential metrics to; none disables it.")
    metrics_interval_s: float = Field(default=30.0, gt=0, description="Seconds between MLflow metric logs.")
    merge_topic: str | None = Field(default=None, description="Compacted topic through which replicas average HBP states; none disables merging.")
    merge_interval_s: float = Field(default=300.0, gt=0, description="Seconds between merges.")
    replica_id: str | None = Field(default=None, description="This replica's key on the merge topic (default: the host name).")
    batch_size: int = Field(default=256, ge=1)
    max_wait_ms: int = Field(default=50, ge=0)

    def validate_model(self) -> None:
        parse_spec(self.model)
        if self.task not in (None, "classification", "regression"):
            raise ValueError(f"task must be classification or regression (got {self.task!r})")


class Learner:
    """The online learner service; construct with a real broker address, call :meth:`run`."""

    def __init__(self, settings: LearnerSettings, store: CheckpointStore | None = None) -> None:
        settings.validate_model()
        self.settings = settings
        self.store = store if store is not None else (open_store(settings.checkpoint) if settings.checkpoint else None)
        self.model: Any = build_model(settings.model, task=settings.task or "classification")
        self.join: FeedbackJoin[dict[str, Any]] = FeedbackJoin(ttl_ms=settings.join_ttl_ms,
                                                               max_entries=settings.join_max_entries)
        self.prequential = PrequentialMetrics(model_task(self.model))
        self.counts = {"predicted": 0, "learnt": 0, "dead_lettered": 0, "checkpoints": 0}
        #: (topic, partition) -> next offset to read; what a checkpoint covers
        self.positions: dict[tuple[str, int], int] = {}
        self.restored_from: str | None = None
        #: the Prometheus endpoint's port once :meth:`run` started it
        self.metrics_port: int | None = None
        self._restored_positions: dict[tuple[str, int], int] = {}
        self._stopping = threading.Event()
        self._assigned = False
        self._latest_ts = 0
        self.metrics = LearnerMetrics(settings.model)
        self._restore()
        self._consumer = Consumer(client_config({
            "bootstrap.servers": settings.bootstrap, "group.id": settings.group,
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
        }))
        self._producer = Producer(client_config({"bootstrap.servers": settings.bootstrap, "enable.idempotence": True,
                                                 "linger.ms": 2}))
        self.exchange = None
        if settings.merge_topic:
            from helicon.runtime.learn.hbp import HedgeBackprop
            from helicon.runtime.learn.merge import StateExchange

            if not isinstance(self.model, HedgeBackprop):
                raise ValueError(f"merge_topic: merging averages network parameters; {settings.model!r} is not hbp or mlp")
            import socket

            self.exchange = StateExchange(settings.bootstrap, settings.merge_topic, settings.replica_id or socket.gethostname())

    # -- control -----------------------------------------------------------------------------------

    def stop(self) -> None:
        """Finish the current batch, checkpoint, commit, and return from :meth:`run`."""
        self._stopping.set()

    def ready(self) -> bool:
        """Model built (or restored), partitions assigned, not stopping."""
        return self._assigned and not self._stopping.is_set()

    def run(self) -> None:
        """Consume until :meth:`stop`; the last checkpoint is taken on the way out."""
        self._consumer.subscribe([self.settings.features_topic, self.settings.feedback_topic], on_assign=self._on_assign)
        if self.settings.metrics_port is not None:
            self.metrics_port = self.metrics.serve(self.settings.metrics_port, self.ready)
            self.metrics.observe(self)
        mlflow_run = self.metrics.start_mlflow(self.settings.mlflow_experiment)
        last_checkpoint = last_log = last_merge = time.monotonic()
        if self.exchange is not None:
            self.exchange.ensure_topic()
        logger.info("learner consuming %s and %s with %s", self.settings.features_topic,
                    self.settings.feedback_topic, self.settings.model)
        try:
            while not self._stopping.is_set():
                self.metrics.beat()
                messages = self._consumer.consume(self.settings.batch_size, self.settings.max_wait_ms / 1000)
                if messages:
                    self._process(messages)
                now = time.monotonic()
                if now - last_checkpoint >= self.settings.checkpoint_interval_s:
                    self.checkpoint()
                    last_checkpoint = now
                if self.exchange is not None and now - last_merge >= self.settings.merge_interval_s:
                    self.model = self.exchange.merge(self.model, self.counts["learnt"])
                    last_merge = now
                if mlflow_run and now - last_log >= self.settings.metrics_interval_s:
                    self.metrics.log_mlflow(self)
                    last_log = now
            self.checkpoint()
            if mlflow_run:
                self.metrics.log_mlflow(self)
        finally:
            self.metrics.end_mlflow()
            self._producer.flush(30)
            self._consumer.close()

    def checkpoint(self) -> str | None:
        """Flush, save state with the offsets it covers, then commit those offsets."""
        if self._producer.flush(60) > 0:
            raise KafkaException(KafkaError(KafkaError._MSG_TIMED_OUT, "outputs not acknowledged; not checkpointing"))
        reference = None
        if self.store is not None:
            reference = self.store.save({
                "spec": self.settings.model, "model": model_state(self.model), "join": self.join.snapshot(),
                "metrics": {"counts": dict(self.counts), "prequential": self.prequential},
                "offsets": {f"{topic}:{partition}": offset for (topic, partition), offset in self.positions.items()},
            })
            self.counts["checkpoints"] += 1
            logger.info("checkpoint %s saved to %s (%d learnt)", reference, self.store.uri, self.counts["learnt"])
        if self.positions:
            self._consumer.commit(offsets=[TopicPartition(topic, partition, offset)
                                           for (topic, partition), offset in self.positions.items()],
                                  asynchronous=False)
        return reference

    # -- stages ------------------------------------------------------------------------------------

    def _restore(self) -> None:
        if self.store is None:
            return
        checkpoint = self.store.load_latest()
        if checkpoint is None:
            logger.info("no checkpoint in %s; starting fresh", self.store.uri)
            return
        if checkpoint["spec"] != self.settings.model:
            raise ValueError(f"checkpoint {self.store.uri} holds model {checkpoint['spec']!r}, not --model "
                             f"{self.settings.model!r}: use another checkpoint location or the same spec")
        self.model = restore_model(checkpoint["model"])
        self.join = FeedbackJoin.restore(checkpoint["join"])
        self.prequential = checkpoint["metrics"]["prequential"]
        self.counts.update(checkpoint["metrics"]["counts"])
        self._restored_positions = {(key.rpartition(":")[0], int(key.rpartition(":")[2])): offset
                                    for key, offset in checkpoint["offsets"].items()}
        self.positions.update(self._restored_positions)
        self.restored_from = checkpoint.get("reference")
        logger.info("restored checkpoint %s from %s (%d learnt)", self.restored_from, self.store.uri, self.counts["learnt"])

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._assigned = True
        # The checkpoint, not the group's committed offset, says what the restored state covers.
        for partition in partitions:
            offset = self._restored_positions.get((partition.topic, partition.partition))
            if offset is not None:
                partition.offset = offset
        consumer.assign(partitions)

    def _process(self, messages: list[Message]) -> None:
        for message in messages:
            if message.error() is not None:
                if message.error().code() != KafkaError._PARTITION_EOF:
                    logger.warning("consumer error: %s", message.error())
                continue
            if message.topic() == self.settings.features_topic:
                self._on_features(message)
            else:
                self._on_feedback(message)
            self.positions[(message.topic(), message.partition())] = message.offset() + 1
        # TTL on the events' own clock, so that a replay expires exactly what the live run did
        expired = self.join.expire(self._latest_ts)
        if expired:
            logger.info("%d predictions expired without a label", len(expired))
        self.metrics.observe(self)

    def _on_features(self, message: Message) -> None:
        try:
            event = FeatureEvent.model_validate_json(message.value() or b"")
        except ValidationError as error:
            self._dead_letter(message, "decode", error.__class__.__name__, _first_error(error))
            return
        started = time.perf_counter()
        try:
            scores = None
            if self.prequential.task == "classification" and hasattr(self.model, "predict_proba_one"):
                # One pass gives both: the prediction is the most probable class, as predict_one's.
                probabilities = self.model.predict_proba_one(event.features)
                scores = {str(label): float(p) for label, p in probabilities.items()}
                prediction = max(probabilities, key=probabilities.__getitem__) if probabilities else None
            else:
                prediction = self.model.predict_one(event.features)
        except (ValueError, TypeError) as error:
            self._dead_letter(message, "predict", error.__class__.__name__, str(error))
            return
        latency_ms = (time.perf_counter() - started) * 1000
        version = f"online-{self.counts['learnt']}"
        self._producer.produce(self.settings.predictions_topic, key=event.id.encode(),
                               value=encode_prediction(event.id, ModelRef(self.settings.model_name, version),
                                                       prediction, latency_ms, scores))
        self.counts["predicted"] += 1
        ts = int(event.ts) if event.ts is not None else now_ms()
        self._latest_ts = max(self._latest_ts, ts)
        joined = self.join.add_prediction(event.id, {"features": dict(event.features), "prediction": prediction}, ts)
        if joined is not None:
            self._learn(message, joined.prediction, joined.label)

    def _on_feedback(self, message: Message) -> None:
        try:
            event = FeedbackEvent.model_validate_json(message.value() or b"")
        except ValidationError as error:
            self._dead_letter(message, "decode", error.__class__.__name__, _first_error(error))
            return
        ts = int(event.ts) if event.ts is not None else now_ms()
        self._latest_ts = max(self._latest_ts, ts)
        joined = self.join.add_feedback(event.id, event.label, ts)
        if joined is not None:
            self._learn(message, joined.prediction, joined.label)

    def _learn(self, message: Message, recorded: dict[str, Any], label: Any) -> None:
        try:
            self.model.learn_one(recorded["features"], label)
        except (ValueError, TypeError) as error:
            self._dead_letter(message, "learn", error.__class__.__name__, str(error))
            return
        self.prequential.update(label, recorded["prediction"])
        self.metrics.record(label, recorded["prediction"])
        self.counts["learnt"] += 1

    def _dead_letter(self, message: Message, stage: str, error_class: str, reason: str) -> None:
        headers: list[tuple[str, Any]] = [
            ("helicon.stage", f"learn.{stage}"), ("helicon.error_class", error_class),
            ("helicon.reason", reason[:1000]), ("helicon.topic", message.topic()),
            ("helicon.partition", str(message.partition())), ("helicon.offset", str(message.offset())),
        ]
        self._producer.produce(self.settings.dlq_topic, key=message.key(), value=message.value(), headers=headers)
        self.counts["dead_lettered"] += 1
        logger.warning("dead-lettered %s[%s]@%s: %s", message.topic(), message.partition(), message.offset(), reason)


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"]) or "value"
    return f"{location}: {first['msg']}"


def load_settings_file(path: str) -> dict[str, Any]:
    """A YAML or JSON settings file as a dict (keys are :class:`LearnerSettings` fields)."""
    import yaml

    with open(path, encoding="utf-8") as stream:
        loaded = yaml.safe_load(stream) if not path.endswith(".json") else json.load(stream)
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: expected a mapping of settings")
    return loaded
