"""A bounded, order-insensitive join of predictions and feedback by event id.

The drift monitor joins feedback to predictions to get an error stream; the online learner joins
feedback to the features it predicted on, to learn. Both use this one component.

>>> join = FeedbackJoin(ttl_ms=60_000, max_entries=1_000)
>>> join.add_prediction("e1", {"prediction": 1}, ts_ms=1_000) is None
True
>>> pair = join.add_feedback("e1", label=0, ts_ms=2_000)
>>> (pair.event_id, pair.prediction, pair.label, pair.delay_ms)
('e1', {'prediction': 1}, 0, 1000)
>>> join.add_feedback("e1", label=0, ts_ms=2_500) is None   # a duplicate joins nothing
True
>>> join.stats.joined, join.stats.duplicate_feedback
(1, 1)
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Any, Generic, TypeVar

Prediction = TypeVar("Prediction")


@dataclass(frozen=True)
class JoinedExample(Generic[Prediction]):
    """A prediction (or whatever was recorded at prediction time) with its true label."""

    event_id: str
    prediction: Prediction
    label: Any
    prediction_ts_ms: int
    feedback_ts_ms: int

    @property
    def delay_ms(self) -> int:
        """How long the label took to arrive after the prediction (negative if it came first)."""
        return self.feedback_ts_ms - self.prediction_ts_ms


@dataclass
class JoinStats:
    """Counters a service exports as metrics; all monotonic."""

    joined: int = 0
    #: a second prediction for an id that is waiting or already joined
    duplicate_predictions: int = 0
    #: a second label for an id that is waiting or already joined
    duplicate_feedback: int = 0
    #: predictions that expired (TTL) or were evicted (max entries) without a label
    never_labelled: int = 0
    #: labels that expired or were evicted without their prediction
    orphan_feedback: int = 0
    #: labels that arrived for a prediction already expired or evicted
    late_feedback: int = 0
    #: entries dropped because the join held ``max_entries`` of one side
    evicted: int = 0


@dataclass
class _Pending(Generic[Prediction]):
    value: Any
    ts_ms: int


@dataclass
class FeedbackJoin(Generic[Prediction]):
    """Join predictions and feedback by event id, in either order, with bounded state.

    Each side waits at most ``ttl_ms`` (measured on the event timestamps the join is given, so a
    replay behaves like the live run) and at most ``max_entries`` entries are held per side, the
    oldest evicted first. Ids that were joined or expired are remembered for another ``ttl_ms``, so
    that a duplicate is ignored and a late label is counted rather than held forever.
    """

    ttl_ms: int = 3_600_000
    max_entries: int = 100_000
    stats: JoinStats = field(default_factory=JoinStats)
    _predictions: OrderedDict[str, _Pending] = field(default_factory=OrderedDict, repr=False)
    _feedback: OrderedDict[str, _Pending] = field(default_factory=OrderedDict, repr=False)
    #: id -> (ts_ms, "joined" | "expired"), for duplicate and late detection
    _settled: OrderedDict[str, tuple[int, str]] = field(default_factory=OrderedDict, repr=False)
    _clock_ms: int = 0

    def __post_init__(self) -> None:
        if self.ttl_ms <= 0:
            raise ValueError(f"FeedbackJoin.ttl_ms must be > 0 (got {self.ttl_ms})")
        if self.max_entries <= 0:
            raise ValueError(f"FeedbackJoin.max_entries must be > 0 (got {self.max_entries})")

    @property
    def pending_predictions(self) -> int:
        return len(self._predictions)

    @property
    def pending_feedback(self) -> int:
        return len(self._feedback)

    def add_prediction(self, event_id: str, prediction: Prediction, ts_ms: int) -> JoinedExample[Prediction] | None:
        """Record a prediction; return the joined example if its label was already waiting."""
        self._advance(ts_ms)
        if event_id in self._predictions or self._settled.get(event_id, (0, ""))[1] == "joined":
            self.stats.duplicate_predictions += 1
            return None
        waiting = self._feedback.pop(event_id, None)
        if waiting is not None:
            return self._join(event_id, prediction, ts_ms, waiting.value, waiting.ts_ms)
        self._predictions[event_id] = _Pending(prediction, ts_ms)
        self._bound(self._predictions, "never_labelled")
        return None

    def add_feedback(self, event_id: str, label: Any, ts_ms: int) -> JoinedExample[Prediction] | None:
        """Record a label; return the joined example if its prediction was waiting."""
        self._advance(ts_ms)
        settled = self._settled.get(event_id)
        if event_id in self._feedback or (settled is not None and settled[1] == "joined"):
            self.stats.duplicate_feedback += 1
            return None
        if settled is not None and settled[1] == "expired":
            self.stats.late_feedback += 1
            return None
        waiting = self._predictions.pop(event_id, None)
        if waiting is not None:
            return self._join(event_id, waiting.value, waiting.ts_ms, label, ts_ms)
        self._feedback[event_id] = _Pending(label, ts_ms)
        self._bound(self._feedback, "orphan_feedback")
        return None

    def expire(self, now_ms: int) -> list[tuple[str, Prediction]]:
        """Drop entries older than ``ttl_ms`` before ``now_ms``; return the never-labelled predictions."""
        self._advance(now_ms)
        cutoff = self._clock_ms - self.ttl_ms
        unlabelled = []
        while self._predictions and next(iter(self._predictions.values())).ts_ms < cutoff:
            event_id, pending = self._predictions.popitem(last=False)
            self.stats.never_labelled += 1
            self._settle(event_id, "expired")
            unlabelled.append((event_id, pending.value))
        while self._feedback and next(iter(self._feedback.values())).ts_ms < cutoff:
            self._feedback.popitem(last=False)
            self.stats.orphan_feedback += 1
        while self._settled and next(iter(self._settled.values()))[0] < cutoff:
            self._settled.popitem(last=False)
        return unlabelled

    def snapshot(self) -> dict[str, Any]:
        """Plain JSON-able state, for a checkpoint; :meth:`restore` takes it back."""
        return {
            "ttl_ms": self.ttl_ms, "max_entries": self.max_entries, "clock_ms": self._clock_ms,
            "stats": asdict(self.stats),
            "predictions": [[key, pending.value, pending.ts_ms] for key, pending in self._predictions.items()],
            "feedback": [[key, pending.value, pending.ts_ms] for key, pending in self._feedback.items()],
            "settled": [[key, ts, outcome] for key, (ts, outcome) in self._settled.items()],
        }

    @classmethod
    def restore(cls, snapshot: dict[str, Any]) -> "FeedbackJoin[Any]":
        """A join in exactly the state :meth:`snapshot` captured."""
        join: FeedbackJoin[Any] = cls(ttl_ms=snapshot["ttl_ms"], max_entries=snapshot["max_entries"],
                                      stats=JoinStats(**snapshot["stats"]))
        join._clock_ms = snapshot["clock_ms"]
        join._predictions.update((key, _Pending(value, ts)) for key, value, ts in snapshot["predictions"])
        join._feedback.update((key, _Pending(value, ts)) for key, value, ts in snapshot["feedback"])
        join._settled.update((key, (ts, outcome)) for key, ts, outcome in snapshot["settled"])
        return join

    def _join(self, event_id: str, prediction: Any, prediction_ts: int, label: Any, feedback_ts: int) -> JoinedExample:
        self.stats.joined += 1
        self._settle(event_id, "joined")
        return JoinedExample(event_id, prediction, label, prediction_ts, feedback_ts)

    def _settle(self, event_id: str, outcome: str) -> None:
        self._settled[event_id] = (self._clock_ms, outcome)
        self._settled.move_to_end(event_id)
        while len(self._settled) > 2 * self.max_entries:
            self._settled.popitem(last=False)

    def _bound(self, side: OrderedDict[str, _Pending], counter: str) -> None:
        while len(side) > self.max_entries:
            event_id, _pending = side.popitem(last=False)
            self.stats.evicted += 1
            setattr(self.stats, counter, getattr(self.stats, counter) + 1)
            if side is self._predictions:
                self._settle(event_id, "expired")

    def _advance(self, ts_ms: int) -> None:
        self._clock_ms = max(self._clock_ms, ts_ms)
