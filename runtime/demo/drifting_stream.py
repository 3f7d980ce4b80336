"""A seeded stream with known changes, for the demo: an abrupt and a gradual concept change,
and drift in one input feature.

Events carry four numeric features ``f0..f3`` drawn from standard normals. The label is a linear
threshold whose weights depend on the concept:

- concept ``C1`` until ``abrupt_at``;
- concept ``C2`` from ``abrupt_at`` on (abrupt change);
- from ``gradual_start`` to ``gradual_end`` each event comes from ``C3`` with a probability that
  grows linearly from 0 to 1 (gradual change), and from ``C3`` only afterwards;
- from ``feature_drift_at`` on, ``f3`` is shifted by ``feature_shift`` (data drift that leaves the
  concept alone, since ``f3`` carries no weight in any concept).

>>> stream = DriftingStream(length=10, seed=1)
>>> first = next(iter(stream))
>>> sorted(first.features), first.concept, first.label in (0, 1)
(['f0', 'f1', 'f2', 'f3'], 'C1', True)
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

FEATURES = ("f0", "f1", "f2", "f3")
CONCEPTS: dict[str, tuple[float, float, float, float]] = {
    "C1": (1.0, 1.0, 0.0, 0.0),
    "C2": (-1.0, 0.5, 1.0, 0.0),
    "C3": (0.5, -1.0, -1.0, 0.0),
}


@dataclass(frozen=True)
class StreamEvent:
    """One event of the stream, with its true label and the concept that produced it."""

    index: int
    features: dict[str, float]
    label: int
    concept: str


@dataclass(frozen=True)
class DriftingStream:
    """The demo's stream; iterate it to get :class:`StreamEvent` objects, the same for the same seed."""

    length: int = 6_000
    abrupt_at: int = 2_000
    gradual_start: int = 3_500
    gradual_end: int = 4_500
    feature_drift_at: int = 5_000
    feature_shift: float = 2.5
    label_noise: float = 0.05
    seed: int = 7

    def __post_init__(self) -> None:
        if not 0 <= self.abrupt_at <= self.gradual_start <= self.gradual_end:
            raise ValueError("DriftingStream needs abrupt_at <= gradual_start <= gradual_end")
        if not 0.0 <= self.label_noise < 0.5:
            raise ValueError(f"DriftingStream.label_noise must be in [0, 0.5) (got {self.label_noise})")

    def concept_at(self, index: int, rng: random.Random) -> str:
        """Which concept labels event ``index`` (random only inside the gradual change)."""
        if index < self.abrupt_at:
            return "C1"
        if index < self.gradual_start:
            return "C2"
        if index < self.gradual_end:
            share_of_new = (index - self.gradual_start) / (self.gradual_end - self.gradual_start)
            return "C3" if rng.random() < share_of_new else "C2"
        return "C3"

    def __iter__(self) -> Iterator[StreamEvent]:
        rng = random.Random(self.seed)
        for index in range(self.length):
            values = [rng.gauss(0.0, 1.0) for _ in FEATURES]
            if index >= self.feature_drift_at:
                values[3] += self.feature_shift
            concept = self.concept_at(index, rng)
            score = sum(weight * value for weight, value in zip(CONCEPTS[concept], values))
            label = int(score > 0)
            if rng.random() < self.label_noise:
                label = 1 - label
            yield StreamEvent(index, dict(zip(FEATURES, values)), label, concept)
