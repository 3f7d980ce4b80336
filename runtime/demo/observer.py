"""What the demo shows: it reads the pipeline's topics like any other consumer and keeps score.

One thread consumes ``P.predictions`` (the bridge), the online learner's predictions, ``P.feedback``
and ``P.alerts``, joins each prediction to its label by event id, and records per event index
whether the served model, the online learner and each retrained version were right. It also
keeps events/s, each service's lag (events sent but not yet answered) and the alerts.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from helicon.runtime.demo.scenario import Scenario
from helicon.runtime.kafka_client import client_config


@dataclass(frozen=True)
class Outcome:
    """One joined prediction: which event, right or wrong, which model version and role answered."""

    index: int
    correct: bool
    version: str
    role: str


@dataclass(eq=False)
class Observer(threading.Thread):
    """Consumes the pipeline's outputs until :meth:`stop`; read its state with :meth:`snapshot`."""

    bootstrap: str
    predictions_topic: str
    learner_topic: str
    feedback_topic: str
    alerts_topic: str
    served: list[Outcome] = field(default_factory=list)
    online: list[tuple[int, bool]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    #: (first event index, version) each time the champion role answered with a new version
    champion_versions: list[tuple[int, str]] = field(default_factory=list)
    #: the version that answered last as the canary's challenger
    challenger_version: str | None = None
    predictions_seen: int = 0
    online_seen: int = 0

    def __post_init__(self) -> None:
        threading.Thread.__init__(self, name="helicon-demo-observer", daemon=True)
        self._stop_event = threading.Event()
        self._lock = threading.Lock()
        self._predictions: dict[str, dict[str, Any]] = {}
        self._online: dict[str, Any] = {}
        self._labels: dict[str, Any] = {}
        self._done_served: set[str] = set()
        self._done_online: set[str] = set()
        self._answered: deque[float] = deque()
        self.error: BaseException | None = None

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        from confluent_kafka import Consumer

        consumer = Consumer(client_config({"bootstrap.servers": self.bootstrap,
                                           "group.id": f"helicon-demo-observer-{uuid.uuid4().hex}",
                                           "auto.offset.reset": "earliest", "enable.auto.commit": False}))
        consumer.subscribe([self.predictions_topic, self.learner_topic, self.feedback_topic, self.alerts_topic])
        try:
            while not self._stop_event.is_set():
                messages = consumer.consume(500, 0.2)
                with self._lock:
                    for message in messages:
                        if message.error() is None:
                            self._on_message(message.topic(), json.loads(message.value()))
        except BaseException as error:  # noqa: BLE001 - reported by the orchestrator
            self.error = error
        finally:
            consumer.close()

    def _on_message(self, topic: str, value: dict[str, Any]) -> None:
        if topic == self.alerts_topic:
            self.alerts.append(value)
            return
        event_id = value.get("id")
        if not isinstance(event_id, str):
            return
        if topic == self.predictions_topic:
            if event_id not in self._predictions:
                self.predictions_seen += 1
                self._answered.append(time.monotonic())
            self._predictions[event_id] = value
        elif topic == self.learner_topic:
            if event_id not in self._online:
                self.online_seen += 1
            self._online[event_id] = value.get("prediction")
        elif topic == self.feedback_topic:
            self._labels[event_id] = value.get("label")
        self._join(event_id)

    def _join(self, event_id: str) -> None:
        if event_id not in self._labels:
            return
        index = Scenario.index_of(event_id)
        if index is None:
            return
        label = self._labels[event_id]
        prediction = self._predictions.get(event_id)
        if prediction is not None and event_id not in self._done_served:
            self._done_served.add(event_id)
            model = prediction.get("model") or {}
            version, role = str(model.get("version")), str(model.get("role") or "champion")
            self.served.append(Outcome(index, _same(prediction.get("prediction"), label), version, role))
            if role == "champion" and (not self.champion_versions or self.champion_versions[-1][1] != version):
                self.champion_versions.append((index, version))
            if role == "challenger":
                self.challenger_version = version
        if event_id in self._online and event_id not in self._done_online:
            self._done_online.add(event_id)
            self.online.append((index, _same(self._online[event_id], label)))

    def snapshot(self, window: int = 300) -> dict[str, Any]:
        """Rolling accuracies over the last ``window`` joined events, rates and the alerts so far."""
        with self._lock:
            now = time.monotonic()
            while self._answered and now - self._answered[0] > 5.0:
                self._answered.popleft()
            served = sorted(self.served, key=lambda outcome: outcome.index)[-window:]
            online = sorted(self.online)[-window:]
            by_role: dict[str, list[bool]] = {}
            for outcome in served:
                by_role.setdefault(outcome.role, []).append(outcome.correct)
            return {
                "predictions": self.predictions_seen, "online_predictions": self.online_seen,
                "events_per_s": len(self._answered) / 5.0,
                "served_accuracy": _mean([o.correct for o in served]),
                "online_accuracy": _mean([correct for _, correct in online]),
                "role_accuracy": {role: _mean(values) for role, values in by_role.items()},
                "versions": sorted({o.version for o in served}, key=_version_key),
                "alerts": list(self.alerts),
                "champion_versions": list(self.champion_versions),
                "challenger_version": self.challenger_version,
            }

    def results(self) -> tuple[list[Outcome], list[tuple[int, bool]], list[dict[str, Any]]]:
        """Everything joined so far, sorted by event index, and the alerts."""
        with self._lock:
            return (sorted(self.served, key=lambda outcome: outcome.index), sorted(self.online), list(self.alerts))


def _same(prediction: Any, label: Any) -> bool:
    try:
        return int(prediction) == int(label)
    except (TypeError, ValueError):
        return prediction == label


def _mean(values: list[bool]) -> float | None:
    return sum(values) / len(values) if values else None


def _version_key(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (1 << 30, version)
