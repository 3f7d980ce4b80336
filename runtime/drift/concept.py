"""Concept drift: a river binary detector on the error indicator of joined predictions.

Classification: the error is ``prediction != label``. Regression: the error is
``|prediction - label| > error_threshold`` (a threshold the team chooses: the largest error they
still call a hit). DDM (Gama et al. 2004) is the default and signals a *warning* when
``p + s > p_min + 2·s_min`` and a *drift* at ``3·s_min``; EDDM and HDDM_A/HDDM_W are selectable.
The fresh-data window of a drift starts where the warning that preceded it started (DDM's
"warning zone", the data Gama et al. retrain on), or at the drift itself when none preceded it.

>>> monitor = ConceptDriftMonitor(ConceptSpec())
>>> import random
>>> rng = random.Random(1)
>>> detections = [d for i in range(3000) for d in monitor.update(rng.random() < (0.1 if i < 1500 else 0.4))]
>>> first_drift = next(d for d in detections if d.kind == "drift")
>>> 1500 <= first_drift.window_start <= first_drift.index < 1700
True
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from river.drift import binary

from helicon.runtime.drift.config import ConceptSpec
from helicon.runtime.drift.detection import Detection
from helicon.runtime.join import outcome


def build_binary_detector(spec: ConceptSpec) -> Any:
    """The river binary detector a spec names, with its parameters."""
    if spec.detector == "ddm":
        return binary.DDM(warm_start=spec.warm_start, warning_threshold=spec.warning_threshold,
                          drift_threshold=spec.drift_threshold)
    if spec.detector == "eddm":
        return binary.EDDM(warm_start=spec.warm_start)
    if spec.detector == "hddm_a":
        return binary.HDDMA(drift_confidence=spec.drift_confidence, warning_confidence=spec.warning_confidence)
    return binary.HDDMW(drift_confidence=spec.drift_confidence, warning_confidence=spec.warning_confidence)


def is_error(spec: ConceptSpec, prediction: Any, label: Any) -> bool:
    """The error indicator of one joined example under ``spec`` (see :mod:`helicon.runtime.join.outcome`)."""
    return outcome.is_error(spec.task, spec.error_threshold, prediction, label)


@dataclass
class ConceptDriftMonitor:
    """Feed error indicators; ``update`` returns a warning when one starts and a drift when it fires."""

    spec: ConceptSpec
    index: int = -1
    errors: int = 0
    detector: Any = None
    _warning_start: int | None = None
    _since_reset: int = 0

    def __post_init__(self) -> None:
        if self.detector is None:
            self.detector = build_binary_detector(self.spec)

    def update(self, error: bool) -> list[Detection]:
        """One joined example's error indicator; a warning is reported once when its zone begins."""
        return self.update_batch((error,))

    def update_batch(self, errors: Iterable[bool]) -> list[Detection]:
        """Consecutive error indicators; exactly :meth:`update` per indicator, in order."""
        detector = self.detector
        update = detector.update
        warns = hasattr(detector, "warning_detected")
        detections: list[Detection] = []
        index = self.index
        count = self.errors
        for error in errors:
            index += 1
            if error:
                count += 1
            update(bool(error))
            if detector.drift_detected or self._warning_start is not None or (warns and detector.warning_detected):
                self.index, self.errors = index, count
                self._signal(detections)
        self.index, self.errors = index, count
        return detections

    def _signal(self, detections: list[Detection]) -> None:
        """The detector drifted, warns, or was warning at the last update: report what changed."""
        detector = self.detector
        name = self.spec.detector
        if detector.drift_detected:
            start = self._warning_start if self._warning_start is not None else self.index
            detections.append(Detection("drift", name, None, self.index, start, self._statistics()))
            self._warning_start = None
            self._since_reset = self.index + 1
        elif getattr(detector, "warning_detected", False):
            if self._warning_start is None:
                self._warning_start = self.index
                detections.append(Detection("warning", name, None, self.index, self.index, self._statistics()))
        else:
            self._warning_start = None

    def _statistics(self) -> dict[str, Any]:
        seen = self.index - self._since_reset + 1
        stats: dict[str, Any] = {"examples": self.index + 1, "examples_since_reset": seen,
                                 "errors_total": self.errors}
        mean = getattr(self.detector, "_p", None)
        if mean is not None:
            stats["error_rate"] = mean.get()
        if getattr(self.detector, "_p_min", None) is not None:
            stats["error_rate_min"] = self.detector._p_min
        return stats
