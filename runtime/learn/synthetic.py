"""The paper's kinds of synthetic streams (Sahoo et al. 2018, §4.1, Table 1).

- *stationary*: inputs ``x ~ N(0, I)`` labelled by a random deep ReLU network (the paper's Syn8:
  50 features, 8 hidden layers of 100 units);
- *concept drift*: the stream split in equal segments, each labelled by its own random network:
  ``C1 → C2 → C1`` (CD1, all 8-layer) and ``C1 → C2 → C3`` (CD2, C2 from a 6-layer network).

Labels are the network's scalar output thresholded at its median on a calibration sample, so the
classes are balanced (a random deep ReLU network's raw outputs are otherwise mostly of one sign).

>>> rows = list(deep_network_stream(n=5, features=4, depth=3, width=8, seed=1))
>>> len(rows), sorted(rows[0][0])[:2], rows[0][1] in (0, 1)
(5, ['x00', 'x01'], True)
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class RandomNetwork:
    """A frozen random ReLU network mapping ``features`` inputs to a 0/1 label."""

    features: int
    depth: int
    width: int
    seed: int

    def __post_init__(self) -> None:
        generator = torch.Generator().manual_seed(self.seed)
        weights, fan_in = [], self.features
        for _ in range(self.depth):
            weights.append(torch.randn(fan_in, self.width, generator=generator) * math.sqrt(2.0 / fan_in))
            fan_in = self.width
        weights.append(torch.randn(fan_in, 1, generator=generator) / math.sqrt(fan_in))
        object.__setattr__(self, "_weights", weights)
        calibration = torch.randn(4_000, self.features, generator=generator)
        object.__setattr__(self, "_threshold", float(self.score(calibration).median()))

    def score(self, inputs: torch.Tensor) -> torch.Tensor:
        state = inputs
        weights: list[torch.Tensor] = object.__getattribute__(self, "_weights")
        for weight in weights[:-1]:
            state = torch.relu(state @ weight)
        return (state @ weights[-1]).squeeze(1)

    def label(self, inputs: torch.Tensor) -> torch.Tensor:
        return (self.score(inputs) > object.__getattribute__(self, "_threshold")).long()


def deep_network_stream(n: int, features: int = 50, depth: int = 8, width: int = 100, seed: int = 0,
                        ) -> Iterator[tuple[dict[str, float], int]]:
    """``n`` examples labelled by one random ``depth``-layer network (stationary)."""
    yield from drift_stream([RandomNetwork(features, depth, width, seed)], n, seed=seed)


def drift_stream(concepts: list[RandomNetwork], n: int, seed: int = 0) -> Iterator[tuple[dict[str, float], int]]:
    """``n`` examples in ``len(concepts)`` equal segments, each labelled by its concept."""
    generator = torch.Generator().manual_seed(seed + 10_007)
    features = concepts[0].features
    names = [f"x{index:02d}" for index in range(features)]
    segment = math.ceil(n / len(concepts))
    for start in range(0, n, 1_000):
        count = min(1_000, n - start)
        inputs = torch.randn(count, features, generator=generator)
        labels = torch.empty(count, dtype=torch.long)
        for offset in range(count):
            concept = concepts[min((start + offset) // segment, len(concepts) - 1)]
            labels[offset] = concept.label(inputs[offset:offset + 1])[0]
        for row, label in zip(inputs.tolist(), labels.tolist()):
            yield dict(zip(names, row)), label


def paper_stream(kind: str, n: int, features: int = 50, width: int = 100, seed: int = 0,
                 ) -> Iterator[tuple[dict[str, Any], int]]:
    """One of the paper's streams by name: ``syn8``, ``cd1`` (C1→C2→C1) or ``cd2`` (C1→C2→C3)."""
    c1 = RandomNetwork(features, 8, width, seed)
    if kind == "syn8":
        return drift_stream([c1], n, seed)
    c2 = RandomNetwork(features, 8 if kind == "cd1" else 6, width, seed + 1)
    if kind == "cd1":
        return drift_stream([c1, c2, c1], n, seed)
    if kind == "cd2":
        return drift_stream([c1, c2, RandomNetwork(features, 8, width, seed + 2)], n, seed)
    raise ValueError(f"stream kind must be syn8, cd1 or cd2 (got {kind!r})")
