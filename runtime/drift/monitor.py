"""The drift monitor as a library: feature events, predictions and feedback in; alerts out.

The service (``helicon run drift``) and the offline replay (``helicon drift replay``) both drive
this one object, so a replay over the same data gives the same detections. It holds no
connection: the caller passes each event with its :class:`~helicon.runtime.drift.window.Position`.

Detectors are kept **per input partition**: Kafka orders events only within a partition, and a
consumer catching up on a backlog reads partitions in long runs, so one detector over the merged
stream would see the same change several times over. Per partition, each detector sees its events
in order; one change then shows up once per partition, and the cooldown (see
:mod:`~helicon.runtime.drift.throttle`) folds those into one trigger. It is also what lets replicas
of a consumer group share the partitions. Concept drift and the feedback join are kept per
partition number too (prediction and feedback are keyed by event id, so both land on the same
partition number when the two topics have the same partition count): everything about partition
``N`` is one :class:`PartitionState`, which moves with the partition between replicas.

>>> monitor = DriftMonitor(DriftConfig(), pipeline="demo")
>>> monitor.observe_prediction("e1", prediction=1, model={"name": "m", "version": "3"}, position=Position("p", 0, 0, 10))
[]
>>> monitor.observe_feedback("e1", label=0, position=Position("f", 0, 0, 20))
[]
>>> monitor.join_stats.joined, monitor.concept[0].errors, monitor.model
(1, 1, {'name': 'm', 'version': '3'})
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from helicon.runtime.drift.alerts import DriftAlert
from helicon.runtime.drift.concept import ConceptDriftMonitor, is_error
from helicon.runtime.drift.config import DriftConfig
from helicon.runtime.drift.detection import Detection
from helicon.runtime.drift.feature_detectors import FeatureDriftMonitor
from helicon.runtime.drift.window import Position, PositionLog
from helicon.runtime.join import FeedbackJoin, JoinStats


@dataclass
class PartitionState:
    """Detectors, position logs and feedback join of one partition number: what moves with the partition."""

    features: FeatureDriftMonitor
    #: where each feature event came from (names the data drift's fresh-data window)
    feature_log: PositionLog
    concept: ConceptDriftMonitor
    #: where the message that completed each join came from (the concept drift's window)
    joined_log: PositionLog
    #: predictions and labels of this partition number waiting for each other
    join: FeedbackJoin[dict[str, Any]]

    @classmethod
    def new(cls, config: DriftConfig, join: FeedbackJoin[dict[str, Any]]) -> "PartitionState":
        return cls(FeatureDriftMonitor(config), PositionLog(config.positions_kept),
                   ConceptDriftMonitor(config.concept), PositionLog(config.positions_kept), join)


@dataclass
class DriftMonitor:
    """Data drift per feature and concept drift on the joined error stream, with fresh-data windows."""

    config: DriftConfig
    pipeline: str = "default"
    join_ttl_ms: int = 3_600_000
    join_max_entries: int = 100_000
    #: per partition number (features: the input partition; concept: that of the message completing the join)
    partitions: dict[int, PartitionState] = field(default_factory=dict, init=False)
    #: the model version last seen on the predictions topic (the served model the run links to)
    model: dict[str, str] | None = None
    #: joined examples whose error could not be computed (e.g. a non-numeric regression label)
    unscorable: int = 0

    def __post_init__(self) -> None:
        self._plain_classification = self.config.concept.task == "classification"

    @property
    def features(self) -> dict[int, FeatureDriftMonitor]:
        """The feature detectors per partition."""
        return {partition: state.features for partition, state in self.partitions.items()}

    @property
    def concept(self) -> dict[int, ConceptDriftMonitor]:
        """The concept detector per partition."""
        return {partition: state.concept for partition, state in self.partitions.items()}

    @property
    def feature_events(self) -> int:
        """Feature events seen, over all partitions."""
        return sum(state.features.index + 1 for state in self.partitions.values())

    @property
    def join_stats(self) -> JoinStats:
        """The feedback join's counters, summed over partitions."""
        total = JoinStats()
        for state in self.partitions.values():
            for name, value in vars(state.join.stats).items():
                setattr(total, name, getattr(total, name) + value)
        return total

    def state(self, partition: int) -> PartitionState:
        """The state of one partition, created on first use."""
        state = self.partitions.get(partition)
        if state is None:
            state = self.partitions[partition] = self.new_state()
        return state

    def new_state(self, join: FeedbackJoin[dict[str, Any]] | None = None) -> PartitionState:
        """Fresh detectors for a partition (keeping ``join`` when given)."""
        return PartitionState.new(self.config, join or FeedbackJoin(ttl_ms=self.join_ttl_ms, max_entries=self.join_max_entries))

    def observe_features(self, features: dict[str, Any], position: Position) -> list[DriftAlert]:
        """One feature event; returns its data-drift alerts."""
        return self.observe_feature_batch(position.topic, position.partition, (features,), (position.offset,),
                                          (position.ts_ms,))

    def observe_feature_batch(self, topic: str, partition: int, rows: Sequence[dict[str, Any]],
                              offsets: Sequence[int], ts_ms: Sequence[int | None]) -> list[DriftAlert]:
        """Consecutive feature events of one topic partition (``rows[k]`` at ``offsets[k]``, event time
        ``ts_ms[k]``); returns their data-drift alerts — the same as :meth:`observe_features` per event."""
        _check_lengths(rows, offsets, ts_ms)
        state = self.state(partition)
        first = state.features.index + 1
        detections = state.features.update_batch(rows)
        return self._log_and_alert(detections, "data", state.feature_log, first, topic, partition, offsets, ts_ms)

    def observe_prediction(self, event_id: str, prediction: Any, model: dict[str, str] | None,
                           position: Position) -> list[DriftAlert]:
        """One prediction; returns concept alerts if its label was already waiting."""
        if model:
            self.model = model
        pair = self.state(position.partition).join.add_prediction(
            event_id, {"prediction": prediction, "position": list(position)}, ts_ms=position.ts_ms or 0)
        return [] if pair is None else self.observe_outcome(pair.prediction["prediction"], pair.label, position)

    def observe_feedback(self, event_id: str, label: Any, position: Position) -> list[DriftAlert]:
        """One label; returns concept alerts if it completed a join."""
        pair = self.state(position.partition).join.add_feedback(event_id, label, ts_ms=position.ts_ms or 0)
        return [] if pair is None else self.observe_outcome(pair.prediction["prediction"], pair.label, position)

    def observe_outcome(self, prediction: Any, label: Any, position: Position) -> list[DriftAlert]:
        """A prediction and its label known together (offline replay): skips the join."""
        return self.observe_outcome_batch(position.topic, position.partition, (prediction,), (label,),
                                          (position.offset,), (position.ts_ms,))

    def observe_outcome_batch(self, topic: str, partition: int, predictions: Sequence[Any], labels: Sequence[Any],
                              offsets: Sequence[int], ts_ms: Sequence[int | None]) -> list[DriftAlert]:
        """Consecutive joined examples of one topic partition; the same as :meth:`observe_outcome` per example."""
        _check_lengths(predictions, offsets, ts_ms)
        _check_lengths(labels, offsets, ts_ms)
        errors = self._errors(predictions, labels)
        if None in errors:  # unscorable examples are counted and feed nothing
            kept = [k for k, error in enumerate(errors) if error is not None]
            errors = [errors[k] for k in kept]
            offsets, ts_ms = [offsets[k] for k in kept], [ts_ms[k] for k in kept]
        state = self.state(partition)
        first = state.concept.index + 1
        detections = state.concept.update_batch(errors)
        # The fresh data of concept drift are the labelled events: the message that completed each join.
        return self._log_and_alert(detections, "concept", state.joined_log, first, topic, partition, offsets, ts_ms)

    def expire(self, now_ms: int) -> int:
        """Expire join entries older than the TTL; returns how many predictions were never labelled."""
        return sum(len(state.join.expire(now_ms)) for state in self.partitions.values())

    def _errors(self, predictions: Sequence[Any], labels: Sequence[Any]) -> list[bool | None]:
        plain = self._plain_classification
        errors: list[bool | None] = []
        for prediction, label in zip(predictions, labels):
            if plain and prediction.__class__ is label.__class__ and prediction.__class__ in (int, str):
                errors.append(prediction != label)  # the common case, without the normalisation of is_error
                continue
            try:
                errors.append(is_error(self.config.concept, prediction, label))
            except ValueError:
                self.unscorable += 1
                errors.append(None)
        return errors

    def _log_and_alert(self, detections: list[Detection], tier: str, log: PositionLog, first: int, topic: str,
                       partition: int, offsets: Sequence[int], ts_ms: Sequence[int | None]) -> list[DriftAlert]:
        """Append the batch's positions to ``log``; each detection's window is taken when the log
        reaches its event, exactly as if the events had come one by one."""
        if not detections:
            log.extend(first, topic, partition, offsets, ts_ms)
            return []
        alerts = []
        logged = 0
        for detection in detections:
            k = detection.index - first
            if k >= logged:
                log.extend(first + logged, topic, partition, offsets[logged:k + 1], ts_ms[logged:k + 1])
                logged = k + 1
            window = log.window(detection.window_start, detection.index)
            alerts.append(DriftAlert(detection, tier, window, Position(topic, partition, offsets[k], ts_ms[k]),
                                     self.pipeline, self.model))
        if logged < len(offsets):
            log.extend(first + logged, topic, partition, offsets[logged:], ts_ms[logged:])
        return alerts


def _check_lengths(rows: Sequence[Any], offsets: Sequence[int], ts_ms: Sequence[int | None]) -> None:
    if not len(rows) == len(offsets) == len(ts_ms):
        raise ValueError(f"a batch needs one offset and one timestamp per event: {len(rows)} events, "
                         f"{len(offsets)} offsets, {len(ts_ms)} timestamps")
