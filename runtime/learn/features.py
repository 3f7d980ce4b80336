"""Feature dicts to vectors for the torch learners, with running standardisation.

Neural networks need a fixed input width and inputs of similar scale; a stream offers neither up
front. The encoder fixes its feature names on the first example (sorted, so the order does not
depend on dict order), reads missing features as 0 and ignores names it has not seen, and
standardises each input with its running mean and variance (Welford), as river's
``preprocessing.StandardScaler`` does.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch


class FeatureEncoder:
    """Turn ``{name: number}`` dicts into standardised float tensors of a fixed width.

    >>> encoder = FeatureEncoder()
    >>> encoder.update({"b": 2.0, "a": 1.0})
    >>> encoder.names
    ['a', 'b']
    >>> encoder.encode([{"a": 1.0, "b": 2.0}]).tolist()
    [[0.0, 0.0]]
    """

    def __init__(self, scale: bool = True) -> None:
        self.scale = scale
        self.names: list[str] = []
        self._count = 0
        self._mean: torch.Tensor | None = None
        self._m2: torch.Tensor | None = None

    @property
    def width(self) -> int:
        return len(self.names)

    def raw(self, rows: list[Mapping[str, Any]]) -> torch.Tensor:
        """The unscaled matrix; raises ``ValueError`` naming a feature whose value is not a number."""
        if not self.names:
            self.names = sorted(rows[0])
            if not self.names:
                raise ValueError("features: the first example has no features")
        matrix = torch.zeros(len(rows), len(self.names), dtype=torch.float32)
        for row_index, row in enumerate(rows):
            for column, name in enumerate(self.names):
                value = row.get(name)
                if value is None:
                    continue
                if isinstance(value, str) or not isinstance(value, (int, float, bool)):
                    raise ValueError(f"features.{name}: expected a number, got {type(value).__name__} {value!r}")
                if isinstance(value, float) and not math.isfinite(value):
                    raise ValueError(f"features.{name}: expected a finite number, got {value!r}")
                matrix[row_index, column] = float(value)
        return matrix

    def update(self, row: Mapping[str, Any]) -> None:
        """Add one example to the running statistics."""
        self.update_many(self.raw([row]))

    def update_many(self, matrix: torch.Tensor) -> None:
        """Add a raw matrix (from :meth:`raw`) to the running statistics (Chan et al.'s merge)."""
        if not self.scale:
            return
        batch_count = matrix.shape[0]
        batch_mean = matrix.mean(dim=0)
        batch_m2 = ((matrix - batch_mean) ** 2).sum(dim=0)
        if self._mean is None or self._m2 is None:
            self._count, self._mean, self._m2 = batch_count, batch_mean, batch_m2
            return
        total = self._count + batch_count
        delta = batch_mean - self._mean
        self._mean = self._mean + delta * batch_count / total
        self._m2 = self._m2 + batch_m2 + delta ** 2 * self._count * batch_count / total
        self._count = total

    def transform(self, matrix: torch.Tensor) -> torch.Tensor:
        """Standardise a raw matrix with the statistics so far."""
        if not self.scale or self._mean is None or self._m2 is None:
            return matrix
        variance = self._m2 / max(self._count, 1)
        std = torch.where(variance > 0, variance.sqrt(), torch.ones_like(variance))
        return (matrix - self._mean) / std

    def encode(self, rows: list[Mapping[str, Any]]) -> torch.Tensor:
        """Raw then standardised; does not update the statistics."""
        return self.transform(self.raw(rows))

    def state(self) -> dict[str, Any]:
        return {"scale": self.scale, "names": list(self.names), "count": self._count,
                "mean": self._mean, "m2": self._m2}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "FeatureEncoder":
        encoder = cls(scale=state["scale"])
        encoder.names = list(state["names"])
        encoder._count, encoder._mean, encoder._m2 = state["count"], state["mean"], state["m2"]
        return encoder
