"""Reading a pipeline's topics back for ``helicon drift report --alerts …``: feature values, the
joined outcomes and the alerts, all on event time."""

from __future__ import annotations

import json
import uuid
from typing import Any

from helicon.runtime.drift.replay import ReplayEvent


def read_to_end(bootstrap: str, topic: str, timeout_s: float = 60.0) -> list[Any]:
    """Every message of ``topic`` from the beginning to the current end of each partition."""
    import time

    from confluent_kafka import Consumer, KafkaError

    from helicon.runtime.kafka_client import client_config

    consumer = Consumer(client_config({"bootstrap.servers": bootstrap, "group.id": f"helicon-report-{uuid.uuid4().hex}",
                                       "enable.auto.commit": False, "auto.offset.reset": "earliest",
                                       "enable.partition.eof": True}))
    metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
    partitions = len(metadata.partitions) if metadata is not None and metadata.error is None else 0
    if partitions == 0:
        consumer.close()
        return []
    consumer.subscribe([topic])
    messages: list[Any] = []
    finished: set[int] = set()
    deadline = time.monotonic() + timeout_s
    try:
        while len(finished) < partitions and time.monotonic() < deadline:
            for message in consumer.consume(1000, 0.5):
                if message.error() is not None:
                    if message.error().code() == KafkaError._PARTITION_EOF:
                        finished.add(message.partition())
                    continue
                messages.append(message)
    finally:
        consumer.close()
    return messages


def events_and_detections(bootstrap: str, features: str, predictions: str | None, feedback: str | None,
                          alerts: str) -> tuple[list[ReplayEvent], list[dict[str, Any]]]:
    """Feature events and joined outcomes placed on event time (their ``index`` is the time in ms),
    and the alerts placed at the event time of the message that fired them."""
    events = []
    for message in read_to_end(bootstrap, features):
        try:
            value = json.loads(message.value())
            ts = value.get("ts") if value.get("ts") is not None else message.timestamp()[1]
            events.append(ReplayEvent(int(ts), dict(value.get("features") or {}), ts_ms=int(ts)))
        except (TypeError, ValueError, AttributeError):
            continue
    predicted = _by_id(bootstrap, predictions, "prediction")
    for event_id, (label, ts) in _by_id(bootstrap, feedback, "label").items():
        if event_id in predicted:
            events.append(ReplayEvent(int(ts), {}, label, predicted[event_id][0], True, int(ts)))
    events.sort(key=lambda event: event.index)
    detections = []
    for message in read_to_end(bootstrap, alerts):
        try:
            alert = json.loads(message.value())
            ts = (alert.get("detected_at") or {}).get("ts_ms")
            window = alert.get("window") or {}
            if ts is None:
                continue
            detections.append({"index": int(ts), "kind": alert["kind"], "detector": alert["detector"],
                               "feature": alert.get("feature"), "tier": alert.get("tier", "data"), "id": alert.get("id"),
                               "statistics": alert.get("statistics", {}),
                               "window": {"first_event": window.get("ts_from_ms"), "last_event": window.get("ts_to_ms")}})
        except (TypeError, ValueError, KeyError, AttributeError):
            continue
    return events, detections


def _by_id(bootstrap: str, topic: str | None, field: str) -> dict[str, tuple[Any, int]]:
    """The first ``field`` value per id on ``topic``, with its event time."""
    if not topic:
        return {}
    found: dict[str, tuple[Any, int]] = {}
    for message in read_to_end(bootstrap, topic):
        try:
            value = json.loads(message.value())
            ts = value.get("ts") if value.get("ts") is not None else message.timestamp()[1]
            found.setdefault(str(value["id"]), (value[field], int(ts)))
        except (TypeError, ValueError, KeyError):
            continue
    return found
