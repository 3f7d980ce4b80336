"""The drift monitor as a library: feature events, predictions and feedback in; alerts out.

The service (``helicon run drift``) and the offline replay (``helicon drift replay``) both drive
this one object, so a replay over the same data gives the same detections. It holds no
connection: the caller passes each event with its :class:`~helicon.runtime.drift.window.Position`.

Detectors are kept **per input partition**: Kafka orders events only within a partition, and a
consumer catching up on a backlog reads partitions in long runs, so one detector over the merged
stream would see the same change several times over. Per partition, each detector sees its events
in order; one change then shows up once per partition, and the cooldown (see
:mod:`~helicon.runtime.drift.throttle`) folds those into one trigger. It is also what lets replicas
of a consumer group share the partitions. Concept drift is tracked per partition of the message
that completed the join (prediction and feedback are keyed by event id, so both land on the same
partition number when the two topics have the same partition count).

>>> monitor = DriftMonitor(DriftConfig(), pipeline="demo")
>>> monitor.observe_prediction("e1", prediction=1, model={"name": "m", "version": "3"}, position=Position("p", 0, 0, 10))
[]
>>> monitor.observe_feedback("e1", label=0, position=Position("f", 0, 0, 20))
[]
>>> monitor.join.stats.joined, monitor.concept[0].errors, monitor.model
(1, 1, {'name': 'm', 'version': '3'})
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from helicon.runtime.drift.alerts import DriftAlert
from helicon.runtime.drift.concept import ConceptDriftMonitor, is_error
from helicon.runtime.drift.config import DriftConfig
from helicon.runtime.drift.detection import Detection
from helicon.runtime.drift.feature_detectors import FeatureDriftMonitor
from helicon.runtime.drift.window import Position, PositionLog
from helicon.runtime.join import FeedbackJoin


@dataclass
class DriftMonitor:
    """Data drift per feature and concept drift on the joined error stream, with fresh-data windows."""

    config: DriftConfig
    pipeline: str = "default"
    join_ttl_ms: int = 3_600_000
    join_max_entries: int = 100_000
    #: per input partition
    features: dict[int, FeatureDriftMonitor] = field(default_factory=dict, init=False)
    #: per partition of the message that completed the join
    concept: dict[int, ConceptDriftMonitor] = field(default_factory=dict, init=False)
    join: FeedbackJoin[dict[str, Any]] = field(init=False)
    #: the model version last seen on the predictions topic (the served model the run links to)
    model: dict[str, str] | None = None
    #: joined examples whose error could not be computed (e.g. a non-numeric regression label)
    unscorable: int = 0
    _feature_positions: dict[int, PositionLog] = field(default_factory=dict, init=False)
    _joined_positions: dict[int, PositionLog] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.join = FeedbackJoin(ttl_ms=self.join_ttl_ms, max_entries=self.join_max_entries)
        self._plain_classification = self.config.concept.task == "classification"

    @property
    def feature_events(self) -> int:
        """Feature events seen, over all partitions."""
        return sum(monitor.index + 1 for monitor in self.features.values())

    def observe_features(self, features: dict[str, Any], position: Position) -> list[DriftAlert]:
        """One feature event; returns its data-drift alerts."""
        monitor = self.features.get(position.partition)
        if monitor is None:
            monitor = self.features[position.partition] = FeatureDriftMonitor(self.config)
            self._feature_positions[position.partition] = PositionLog(self.config.positions_kept)
        detections = monitor.update(features)
        log = self._feature_positions[position.partition]
        log.append(monitor.index, position)
        if not detections:
            return []
        return [self._alert(d, "data", log, position) for d in detections]

    def observe_prediction(self, event_id: str, prediction: Any, model: dict[str, str] | None,
                           position: Position) -> list[DriftAlert]:
        """One prediction; returns concept alerts if its label was already waiting."""
        if model:
            self.model = model
        pair = self.join.add_prediction(event_id, {"prediction": prediction, "position": list(position)},
                                        ts_ms=position.ts_ms or 0)
        return [] if pair is None else self._joined(pair.prediction["prediction"], pair.label, position)

    def observe_feedback(self, event_id: str, label: Any, position: Position) -> list[DriftAlert]:
        """One label; returns concept alerts if it completed a join."""
        pair = self.join.add_feedback(event_id, label, ts_ms=position.ts_ms or 0)
        return [] if pair is None else self._joined(pair.prediction["prediction"], pair.label, position)

    def observe_outcome(self, prediction: Any, label: Any, position: Position) -> list[DriftAlert]:
        """A prediction and its label known together (offline replay): skips the join."""
        return self._joined(prediction, label, position)

    def expire(self, now_ms: int) -> int:
        """Expire join entries older than the TTL; returns how many predictions were never labelled."""
        return len(self.join.expire(now_ms))

    def _joined(self, prediction: Any, label: Any, position: Position) -> list[DriftAlert]:
        if self._plain_classification and prediction.__class__ is label.__class__ and prediction.__class__ in (int, str):
            error = prediction != label  # the common case, without the normalisation of is_error
        else:
            try:
                error = is_error(self.config.concept, prediction, label)
            except ValueError:
                self.unscorable += 1
                return []
        concept = self.concept.get(position.partition)
        if concept is None:
            concept = self.concept[position.partition] = ConceptDriftMonitor(self.config.concept)
            self._joined_positions[position.partition] = PositionLog(self.config.positions_kept)
        detections = concept.update(error)
        log = self._joined_positions[position.partition]
        log.append(concept.index, position)
        if not detections:
            return []
        # The fresh data of concept drift are the labelled events: the message that completed each join.
        return [self._alert(d, "concept", log, position) for d in detections]

    def _alert(self, detection: Detection, tier: str, log: PositionLog, position: Position) -> DriftAlert:
        window = log.window(detection.window_start, detection.index)
        return DriftAlert(detection, tier, window, position, self.pipeline, self.model)

