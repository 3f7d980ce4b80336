"""``helicon run drift``: the drift monitor as a Kafka service.

Per batch: decode (undecodable → DLQ), feed the :class:`DriftMonitor`, and when alerts result,
plan their deliveries and **checkpoint first** (state, offsets and the pending alerts — an
outbox), then publish the alerts (acknowledged by the broker), hand webhooks/triggers and MLflow
logging to the dispatcher thread, and checkpoint again with the outbox empty. So after a SIGKILL
no drift already alerted is detected again (its detector state and offsets were saved before it
was published) and none is lost (events after the checkpoint are re-read). Offsets are also
committed to the group after each checkpoint, for lag monitoring.

The checkpoint is kept **per partition number** (``<location>.partition-N`` /
``<location>/partition-N``: detectors, position logs, join, the three topics' offsets of that
partition and its pending alerts) plus one **per replica** (``replica-<instance id>``: the
cooldown gates and the MLflow run). When the group assigns partitions, their state is loaded and
the consumer placed at their offsets, and their pending alerts are published; when partitions are
revoked, their state is saved and dropped. So with several replicas in one group sharing the
checkpoint location, a partition that moves carries its detectors and join to its new owner.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from pydantic import ValidationError

from helicon.runtime.drift.alerts import DriftAlert
from helicon.runtime.drift.checkpoint import CheckpointStore, open_checkpoint_store
from helicon.runtime.drift.config import describe
from helicon.runtime.drift.delivery import Delivery, Dispatcher
from helicon.runtime.drift.metrics import DriftMetrics
from helicon.runtime.drift.messages import FeatureEvent, FeedbackMessage, PredictionMessage
from helicon.runtime.drift.monitor import DriftMonitor
from helicon.runtime.drift.monitoring_run import MonitoringRun
from helicon.runtime.drift.settings import DriftServiceSettings
from helicon.runtime.drift.sinks import Notifier
from helicon.runtime.drift.window import Position
from helicon.runtime.endpoints import DEFAULT_HOST, ServiceEndpoints
from helicon.runtime.kafka_client import client_config, describe as describe_security

logger = logging.getLogger(__name__)


class DriftService:
    """Consume features, predictions and feedback; publish alerts; until :meth:`stop`."""

    def __init__(self, settings: DriftServiceSettings) -> None:
        self.settings = settings
        self.store = open_checkpoint_store(settings.checkpoint_path)
        self._replica_store = self.store.child(f"replica-{settings.instance_id or 'default'}")
        self._partition_stores: dict[int, CheckpointStore] = {}
        self._stopping = threading.Event()
        self.metrics = DriftMetrics()
        self._in_group = False  # a first assignment came (possibly of no partition: then ready, and idle)
        self.monitor = DriftMonitor(settings.monitor, settings.pipeline, settings.join_ttl_ms, settings.join_max_entries)
        self.notifier = Notifier(settings.monitor)
        self.notifier.check_environment()
        self.offsets: dict[tuple[str, int], int] = {}
        self.outbox: list[tuple[bytes, bytes, dict[str, Any], list[Delivery]]] = []
        self.dead_lettered = 0
        self.alerts_published = 0
        #: partition numbers assigned to this replica (their state is in ``monitor.partitions``)
        self.assigned: set[int] = set()
        run_id = self._restore()
        self.dispatcher = Dispatcher(settings.monitor.delivery.retries, settings.monitor.delivery.backoff_s,
                                     settings.monitor.delivery.timeout_s)
        self.mlflow = MonitoringRun(settings.mlflow_tracking_uri, settings.pipeline, run_id) if settings.mlflow_tracking_uri else None
        consumer_config = {"bootstrap.servers": settings.bootstrap, "group.id": settings.group,
                           "enable.auto.commit": False, "auto.offset.reset": "earliest",
                           "statistics.interval.ms": 5000, "stats_cb": self.metrics.stats}
        if settings.instance_id:
            consumer_config["group.instance.id"] = settings.instance_id
        self._consumer = Consumer(client_config(consumer_config))
        self._producer = Producer(client_config({"bootstrap.servers": settings.bootstrap, "enable.idempotence": True,
                                                 "linger.ms": 5}))
        self._last_checkpoint = time.monotonic()
        self._last_statistics = time.monotonic()
        self.endpoints: ServiceEndpoints | None = None
        if settings.metrics_port is not None:
            self.endpoints = ServiceEndpoints(DEFAULT_HOST, settings.metrics_port, self.metrics.registry, self.ready,
                                              name="drift-http")

    def ready(self) -> bool:
        """Partitions assigned (the group has placed this instance) and not stopping."""
        return self._in_group and not self._stopping.is_set()

    def stop(self) -> None:
        """Finish the current batch, checkpoint, flush, commit, and return from :meth:`run`."""
        self._stopping.set()

    def run(self) -> None:
        """The consuming loop; returns after :meth:`stop` with everything consumed checkpointed."""
        self._consumer.subscribe(list(self.settings.topics), on_assign=self._on_assign, on_revoke=self._on_revoke,
                                 on_lost=self._on_lost)
        if self.endpoints is not None:
            self.endpoints.start()
        logger.info("drift monitor %s consuming %s (Kafka %s, /metrics on %s)", self.settings.pipeline,
                    ", ".join(self.settings.topics), describe_security(),
                    self.endpoints.port if self.endpoints is not None else "off")
        try:
            while not self._stopping.is_set():
                if self.endpoints is not None:
                    self.endpoints.beat()
                messages = self._consumer.consume(self.settings.batch_size, 0.2)
                if self.outbox:  # pending alerts of partitions just assigned
                    self._publish_outbox()
                alerts = self._process(messages) if messages else []
                if alerts:
                    self._alert(alerts)
                elif time.monotonic() - self._last_checkpoint >= self.settings.checkpoint_interval_s:
                    self._checkpoint()
                self._log_statistics()
            self._checkpoint()
        finally:
            self._producer.flush(30)
            self._consumer.close()
            self.dispatcher.close(timeout_s=30)
            if self.endpoints is not None:
                self.endpoints.stop()

    # -- stages --------------------------------------------------------------------------------

    def _process(self, messages: list[Message]) -> list[DriftAlert]:
        alerts: list[DriftAlert] = []
        features, predictions, feedback = self.settings.topics
        newest_ts = 0
        run = _FeatureRun(features)  # consecutive feature events of one partition, fed as one batch
        for message in messages:
            if message.error() is not None:
                if message.error().code() != KafkaError._PARTITION_EOF:
                    logger.warning("consumer error: %s", message.error())
                continue
            topic, partition, offset = message.topic(), message.partition(), message.offset()
            if partition not in self.assigned:  # fetched before a revocation; its new owner reads it
                continue
            self.offsets[(topic, partition)] = offset + 1
            self.metrics.events.labels(topic).inc()
            broker_ts = message.timestamp()[1]
            try:
                if topic == features:
                    event = FeatureEvent.model_validate_json(message.value() or b"")
                    if partition != run.partition:
                        alerts += run.flush(self.monitor, partition)
                    run.add(event.features, offset, int(event.ts) if event.ts is not None else broker_ts)
                    continue
                # Predictions and feedback keep their place relative to the feature events.
                alerts += run.flush(self.monitor)
                if topic == predictions:
                    pred = PredictionMessage.model_validate_json(message.value() or b"")
                    ts = int(pred.ts) if pred.ts is not None else broker_ts
                    model = {k: str(v) for k, v in pred.model.items()} if pred.model else None
                    alerts += self.monitor.observe_prediction(pred.id, pred.prediction, model, Position(topic, partition, offset, ts))
                elif topic == feedback:
                    label = FeedbackMessage.model_validate_json(message.value() or b"")
                    ts = int(label.ts) if label.ts is not None else broker_ts
                    alerts += self.monitor.observe_feedback(label.id, label.label, Position(topic, partition, offset, ts))
                else:
                    continue
                newest_ts = max(newest_ts, ts)  # the join's clock runs on its own two topics' event time
            except ValidationError as error:
                self._dead_letter(message, error.__class__.__name__, describe(error))
        alerts += run.flush(self.monitor)
        if newest_ts:
            self.monitor.expire(newest_ts)
        if self.dead_lettered and self._producer.flush(60) > 0:
            raise KafkaException(KafkaError(KafkaError._MSG_TIMED_OUT, "dead letters not acknowledged; not checkpointing"))
        return alerts

    def _alert(self, alerts: list[DriftAlert]) -> None:
        now_ms = int(time.time() * 1000)
        for alert in alerts:
            payload = alert.to_json()
            self.outbox.append((alert.detection.detector_id.encode(), alert.encode(), payload,
                                self.notifier.plan(alert, now_ms)))
        self._checkpoint()
        self._publish_outbox()

    def _publish_outbox(self) -> None:
        for key, value, payload, _deliveries in self.outbox:
            self._producer.produce(self.settings.alerts_topic, key=key, value=value,
                                   headers=[("helicon.alert_id", payload["id"])])
        if self._producer.flush(60) > 0:
            raise KafkaException(KafkaError(KafkaError._MSG_TIMED_OUT, "alerts not acknowledged; the outbox is kept"))
        for _key, _value, payload, deliveries in self.outbox:
            self.alerts_published += 1
            self.metrics.alerts.labels(payload["kind"], payload["detector"]).inc()
            for delivery in deliveries:
                self.dispatcher.deliver(delivery)
            if self.mlflow is not None:
                self.dispatcher.submit(lambda payload=payload: self.mlflow.log_alert(payload), what="mlflow alert")
        self.outbox = []
        self._checkpoint()

    def _checkpoint(self, partitions: Iterable[int] | None = None) -> None:
        """Save the state of ``partitions`` (default: all assigned), then the replica's, then commit."""
        config = self.settings.monitor.model_dump(mode="json")
        chosen = sorted(self.monitor.partitions.keys() | self.assigned) if partitions is None else sorted(partitions)
        for partition in chosen:
            self._partition_store(partition).save({
                "partition": partition, "state": self.monitor.state(partition), "monitor_config": config,
                "offsets": {tp: offset for tp, offset in self.offsets.items() if tp[1] == partition},
                "outbox": [entry for entry in self.outbox if _partition_of(entry) == partition],
            })
        # After the partitions: a gate never admits an alert whose detection a crash could repeat.
        self._replica_store.save({
            "trigger_gate": self.notifier.trigger_gate, "webhook_gate": self.notifier.webhook_gate,
            "mlflow_run_id": self.mlflow.run_id if getattr(self, "mlflow", None) is not None else None,
            "model": self.monitor.model,
        })
        self._last_checkpoint = time.monotonic()
        self.metrics.checkpointed()
        commits = [TopicPartition(topic, partition, offset) for (topic, partition), offset in self.offsets.items()
                   if partition in chosen]
        if commits:
            try:
                self._consumer.commit(offsets=commits, asynchronous=True)
            except KafkaException as error:  # the checkpoint, not the group, is the source of truth
                logger.warning("offset commit failed: %s", error)

    def _partition_store(self, partition: int) -> CheckpointStore:
        # One store object per partition: it remembers its last checkpoint object, to delete it once superseded.
        store = self._partition_stores.get(partition)
        if store is None:
            store = self._partition_stores[partition] = self.store.child(f"partition-{partition}")
        return store

    def _restore(self) -> str | None:
        state = self._replica_store.load()
        if state is None:
            return None
        self.notifier.trigger_gate = state["trigger_gate"]
        self.notifier.webhook_gate = state["webhook_gate"]
        self.monitor.model = state["model"]
        return state.get("mlflow_run_id")

    def _take(self, partition: int) -> None:
        """Load an assigned partition's state (detectors, join, offsets, pending alerts)."""
        saved = self._partition_store(partition).load()
        self.assigned.add(partition)
        if saved is None:
            self.monitor.partitions[partition] = self.monitor.new_state()
            logger.info("partition %d: no checkpoint, starting afresh", partition)
            return
        if saved["monitor_config"] == self.settings.monitor.model_dump(mode="json"):
            self.monitor.partitions[partition] = saved["state"]
        else:
            # New detector settings: detectors start afresh, the join carries on.
            logger.warning("partition %d: monitor config changed since the checkpoint; detectors restart, join kept", partition)
            self.monitor.partitions[partition] = self.monitor.new_state(saved["state"].join)
        self.offsets.update(saved["offsets"])
        self.outbox += saved["outbox"]
        state = self.monitor.partitions[partition]
        logger.info("restored checkpoint %s: partition %d, %d feature events, %d joined, %d alerts pending",
                    self._partition_store(partition).location, partition, state.features.index + 1,
                    state.join.stats.joined, len(saved["outbox"]))

    def _drop(self, partitions: set[int]) -> None:
        for partition in partitions:
            self.monitor.partitions.pop(partition, None)
            self.assigned.discard(partition)
        self.offsets = {tp: offset for tp, offset in self.offsets.items() if tp[1] not in partitions}
        self.outbox = [entry for entry in self.outbox if _partition_of(entry) not in partitions]

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._in_group = True
        for partition in sorted({tp.partition for tp in partitions} - self.assigned):
            self._take(partition)
        for tp in partitions:
            if (tp.topic, tp.partition) in self.offsets:
                tp.offset = self.offsets[(tp.topic, tp.partition)]
        logger.info("assigned partitions %s", sorted(self.assigned))
        consumer.assign(partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Checkpoint the revoked partitions (their next owner loads them), then let them go."""
        revoked = {tp.partition for tp in partitions} & self.assigned
        if revoked:
            if any(_partition_of(entry) in revoked for entry in self.outbox):
                self._publish_outbox()
            self._checkpoint(revoked)
            self._drop(revoked)
            logger.info("revoked partitions %s (checkpointed)", sorted(revoked))

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Partitions lost without a revocation may already be another replica's: drop, do not save."""
        lost = {tp.partition for tp in partitions} & self.assigned
        self._drop(lost)
        logger.warning("lost partitions %s; their state since the last checkpoint is re-read by the next owner", sorted(lost))

    def _dead_letter(self, message: Message, error_class: str, reason: str) -> None:
        headers: list[tuple[str, Any]] = [
            ("helicon.stage", "drift-decode"), ("helicon.error_class", error_class), ("helicon.reason", reason[:1000]),
            ("helicon.topic", message.topic()), ("helicon.partition", str(message.partition())),
            ("helicon.offset", str(message.offset())),
        ]
        self._producer.produce(self.settings.dlq_topic, key=message.key(), value=message.value(), headers=headers)
        self.dead_lettered += 1
        self.metrics.dead_letters.labels(error_class).inc()
        logger.warning("dead-lettered %s[%s]@%s: %s", message.topic(), message.partition(), message.offset(), reason)

    def _log_statistics(self) -> None:
        if self.mlflow is None or time.monotonic() - self._last_statistics < self.settings.statistics_interval_s:
            return
        self._last_statistics = time.monotonic()
        metrics = statistics_metrics(self.monitor)
        step = self.monitor.feature_events
        self.dispatcher.submit(lambda: self.mlflow.log_statistics(metrics, step), what="mlflow statistics")


class _FeatureRun:
    """Feature events of one partition, consecutive in a consumed batch, waiting to be fed at once."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.partition = -1
        self.rows: list[dict[str, Any]] = []
        self.offsets: list[int] = []
        self.ts_ms: list[int] = []

    def add(self, features: dict[str, Any], offset: int, ts_ms: int) -> None:
        self.rows.append(features)
        self.offsets.append(offset)
        self.ts_ms.append(ts_ms)

    def flush(self, monitor: DriftMonitor, next_partition: int = -1) -> list[DriftAlert]:
        """Feed the run to ``monitor``; the next run is of ``next_partition``."""
        alerts = (monitor.observe_feature_batch(self.topic, self.partition, self.rows, self.offsets, self.ts_ms)
                  if self.rows else [])
        if self.rows:
            self.rows, self.offsets, self.ts_ms = [], [], []
        self.partition = next_partition
        return alerts


def _partition_of(entry: tuple[bytes, bytes, dict[str, Any], list[Delivery]]) -> int:
    """The partition number of an outbox entry: that of the message whose detection it reports."""
    return int(entry[2]["detected_at"]["partition"])


def statistics_metrics(monitor: DriftMonitor) -> dict[str, float]:
    """Flat MLflow metrics: per-feature detector estimates, error rate, join and input counters."""
    metrics: dict[str, float] = {}
    for partition, features in monitor.features.items():
        for feature, stats in features.statistics().items():
            for name, value in stats.items():
                metrics[f"feature/{_metric_name(feature)}/p{partition}/{name}"] = value
        for name, count in features.missing.items():
            metrics[f"feature/{_metric_name(name)}/p{partition}/missing"] = count
        for name, count in features.wrong_type.items():
            metrics[f"feature/{_metric_name(name)}/p{partition}/wrong_type"] = count
    for partition, concept in monitor.concept.items():
        if concept.index >= 0:
            metrics[f"concept/p{partition}/error_rate_total"] = concept.errors / (concept.index + 1)
    for name, value in vars(monitor.join_stats).items():
        metrics[f"join/{name}"] = value
    return metrics


def _metric_name(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "_-. " else "_" for ch in name)[:200]
