"""Data drift: one river detector per input feature.

Numeric features (int, float; bool counts as 0/1) feed ``river.drift.ADWIN`` by default, or
``PageHinkley`` / ``KSWIN`` as configured per feature. A string feature is categorical: each of its
first ``max_categories`` categories gets an ADWIN over the 0/1 indicator "this event has that
category", so a change in any category's frequency is a drift of that feature (detector
``adwin-category``, the category named in the statistics). A missing value or a value of the
wrong type for the feature's kind is counted, never fatal.

>>> import random
>>> rng = random.Random(0)
>>> monitor = FeatureDriftMonitor(DriftConfig())
>>> detections = [d for i in range(4000)
...               for d in monitor.update({"x": rng.gauss(0 if i < 2000 else 3, 1)})]
>>> [(d.kind, d.feature) for d in detections]
[('drift', 'x')]
>>> 2000 <= detections[0].index < 2100
True
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from river import drift

from helicon.runtime.drift.config import DriftConfig, FeatureDetectorSpec
from helicon.runtime.drift.detection import Detection

OTHER_CATEGORY = "__other__"
_NUMBER_TYPES = frozenset((float, int, bool))


def build_numeric_detector(spec: FeatureDetectorSpec) -> drift.ADWIN | drift.PageHinkley | drift.KSWIN:
    """The river detector a spec names, with its parameters."""
    if spec.detector == "adwin":
        return drift.ADWIN(delta=spec.delta, clock=spec.clock, min_window_length=spec.min_window_length,
                           grace_period=spec.grace_period)
    if spec.detector == "page_hinkley":
        return drift.PageHinkley(min_instances=spec.ph_min_instances, delta=spec.ph_delta, threshold=spec.ph_threshold)
    return drift.KSWIN(alpha=spec.kswin_alpha, window_size=spec.kswin_window_size,
                       stat_size=spec.kswin_stat_size, seed=0)


@dataclass
class _NumericWatch:
    detector: Any
    kind: str
    #: index (in the monitor's stream) of the oldest value the detector's window may hold
    since_reset: int = 0

    def update(self, value: float, index: int, feature: str) -> Detection | None:
        self.detector.update(value)
        return self.detection(index, feature) if self.detector.drift_detected else None

    def detection(self, index: int, feature: str) -> Detection:
        """The detection the detector just signalled (call only when ``drift_detected``)."""
        retained = _retained(self.detector, index - self.since_reset + 1)
        statistics: dict[str, Any] = {"retained": retained, "since_reset": index - self.since_reset + 1}
        if self.kind == "adwin":
            statistics["window_mean"] = self.detector.estimation
        elif self.kind == "kswin":
            statistics["p_value"] = self.detector.p_value
        self.since_reset = index + 1
        return Detection("drift", self.kind, feature, index, index - retained + 1, statistics)


def _retained(detector: Any, since_reset: int) -> int:
    """How many of the latest values the detector considers post-change."""
    if isinstance(detector, drift.ADWIN):
        return max(1, int(detector.width))
    if isinstance(detector, drift.KSWIN):
        return detector.stat_size
    # PageHinkley keeps no window: everything since its last reset is the evidence.
    return max(1, since_reset)


@dataclass
class _CategoricalWatch:
    spec: FeatureDetectorSpec
    categories: dict[str, _NumericWatch] = field(default_factory=dict)

    def update(self, value: str, index: int, feature: str) -> list[Detection]:
        if value not in self.categories:
            if len(self.categories) < self.spec.max_categories:
                self.categories[value] = self._new_watch(index)
            else:
                value = OTHER_CATEGORY
                self.categories.setdefault(OTHER_CATEGORY, self._new_watch(index))
        detections = []
        for category, watch in self.categories.items():
            detection = watch.update(1.0 if category == value else 0.0, index, feature)
            if detection is not None:
                detections.append(Detection(detection.kind, "adwin-category", feature, index, detection.window_start,
                                            {**detection.statistics, "category": category}))
        return detections

    def _new_watch(self, index: int) -> _NumericWatch:
        spec = self.spec
        detector = drift.ADWIN(delta=spec.delta, clock=spec.clock, min_window_length=spec.min_window_length,
                               grace_period=spec.grace_period)
        return _NumericWatch(detector, "adwin", since_reset=index)


@dataclass
class FeatureDriftMonitor:
    """Watch every feature of a stream of feature dictionaries; ``update`` returns the detections."""

    config: DriftConfig
    index: int = -1
    _numeric: dict[str, _NumericWatch] = field(default_factory=dict)
    #: the numeric watches' river detectors by feature (the per-value path needs only these)
    _detectors: dict[str, Any] = field(default_factory=dict)
    _categorical: dict[str, _CategoricalWatch] = field(default_factory=dict)
    #: values that were null or absent for a feature seen before, per feature
    missing: Counter[str] = field(default_factory=Counter)
    #: values whose type does not match the feature's kind (number vs category), per feature
    wrong_type: Counter[str] = field(default_factory=Counter)
    _ignored: set[str] = field(default_factory=set)

    def update(self, features: dict[str, Any]) -> list[Detection]:
        """Feed one event's features; return any detections (index = this event's position)."""
        return self.update_batch((features,))

    def update_batch(self, rows: Sequence[dict[str, Any]]) -> list[Detection]:
        """Feed consecutive events' features; exactly :meth:`update` per row, in order.

        Each detection's ``index`` is the position of the row that fired in this monitor's stream
        (the first row's is ``index + 1`` before the call).
        """
        index = self.index
        detections: list[Detection] = []
        numeric = self._numeric
        detectors = self._detectors
        missing = self.missing
        wrong_type = self.wrong_type
        number_types = _NUMBER_TYPES
        watched = len(numeric) + len(self._categorical)
        # The hot path (a known numeric feature with a number) stays inline: it runs per value.
        for features in rows:
            index += 1
            other = False
            for name, value in features.items():
                detector = detectors.get(name)
                if detector is not None:
                    if value.__class__ in number_types:
                        detector.update(value)
                        if detector.drift_detected:
                            detections.append(numeric[name].detection(index, name))
                        continue
                    if value is None:
                        missing[name] += 1
                    else:
                        wrong_type[name] += 1
                    continue
                other = True
                self._update_other(name, value, index, detections)
            if other:
                watched = len(numeric) + len(self._categorical)
            # A watched feature can only be absent if the event is short or has names we do not watch.
            if other or len(features) < watched:
                for name in (numeric.keys() | self._categorical.keys()) - features.keys():
                    missing[name] += 1
        self.index = index
        return detections

    def _update_other(self, name: str, value: Any, index: int, detections: list[Detection]) -> int:
        """Categorical values, new features, ignored and bad values; returns 1 if ``name`` is watched."""
        if name in self._ignored:
            return 0
        if self.config.only_listed and name not in self.config.features:
            self._ignored.add(name)
            return 0
        watch_c = self._categorical.get(name)
        if value is None:
            if watch_c is not None:
                self.missing[name] += 1
                return 1
            self.missing[name] += 1
            return 0
        if isinstance(value, str):
            if watch_c is None:
                watch_c = self._categorical[name] = _CategoricalWatch(self.config.detector_for(name))
            detections.extend(watch_c.update(value, index, name))
            return 1
        if isinstance(value, (int, float)) and watch_c is None:
            spec = self.config.detector_for(name)
            watch = self._numeric[name] = _NumericWatch(build_numeric_detector(spec), spec.detector, since_reset=index)
            self._detectors[name] = watch.detector
            detection = watch.update(float(value), index, name)
            if detection is not None:
                detections.append(detection)
            return 1
        self.wrong_type[name] += 1
        return 1 if watch_c is not None else 0

    @property
    def features(self) -> list[str]:
        """The features watched so far."""
        return sorted([*self._numeric, *self._categorical])

    def statistics(self) -> dict[str, dict[str, float]]:
        """Per numeric feature: the detector's current estimate (ADWIN: window mean and width)."""
        out: dict[str, dict[str, float]] = {}
        for name, watch in self._numeric.items():
            stats: dict[str, float] = {}
            if isinstance(watch.detector, drift.ADWIN):
                stats |= {"mean": watch.detector.estimation, "width": float(watch.detector.width)}
            out[name] = stats
        return out
