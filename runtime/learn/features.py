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

import numpy as np
import torch


class FeatureEncoder:
    """Turn ``{name: number}`` dicts into standardised float32 matrices of a fixed width.

    The statistics are numpy arrays (cheap at one row per call); :meth:`state` gives them as torch
    tensors, as HBP's checkpoints and merges carry them.

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
        self._mean: np.ndarray | None = None
        self._m2: np.ndarray | None = None
        self._std: np.ndarray | None = None

    @property
    def width(self) -> int:
        return len(self.names)

    def raw(self, rows: list[Mapping[str, Any]]) -> np.ndarray:
        """The unscaled matrix; raises ``ValueError`` naming a feature whose value is not a number."""
        if not self.names:
            self.names = sorted(rows[0])
            if not self.names:
                raise ValueError("features: the first example has no features")
        names, data = self.names, []
        for row in rows:
            values = [row.get(name) for name in names]
            # Fast path: plain finite floats (a non-finite sum only sends the row to the checks).
            if not (all(type(value) is float for value in values) and math.isfinite(sum(values))):
                values = [_number(name, value) for name, value in zip(names, values)]
            data.append(values)
        return np.array(data, dtype=np.float32).reshape(len(rows), len(names))

    def update(self, row: Mapping[str, Any]) -> None:
        """Add one example to the running statistics."""
        self.update_many(self.raw([row]))

    def update_many(self, matrix: np.ndarray) -> None:
        """Add a raw matrix (from :meth:`raw`) to the running statistics (Chan et al.'s merge)."""
        if not self.scale:
            return
        batch_count = matrix.shape[0]
        if self._mean is None or self._m2 is None:
            batch_mean = matrix.mean(axis=0)
            self._count, self._mean = batch_count, batch_mean
            self._m2 = ((matrix - batch_mean) ** 2).sum(axis=0)
        elif batch_count == 1:                      # Welford's step: the same update, fewer operations
            row = matrix[0]
            self._count += 1
            delta = row - self._mean
            self._mean = self._mean + delta / np.float32(self._count)
            self._m2 = self._m2 + delta * (row - self._mean)
        else:
            batch_mean = matrix.mean(axis=0)
            batch_m2 = ((matrix - batch_mean) ** 2).sum(axis=0)
            total = self._count + batch_count
            delta = batch_mean - self._mean
            self._mean = self._mean + delta * np.float32(batch_count / total)
            self._m2 = self._m2 + batch_m2 + delta ** 2 * np.float32(self._count * batch_count / total)
            self._count = total
        self._std = _std(self._m2, self._count)

    def transform(self, matrix: np.ndarray) -> np.ndarray:
        """Standardise a raw matrix with the statistics so far."""
        if not self.scale or self._mean is None or self._std is None:
            return matrix
        return (matrix - self._mean) / self._std

    def encode(self, rows: list[Mapping[str, Any]]) -> np.ndarray:
        """Raw then standardised; does not update the statistics."""
        return self.transform(self.raw(rows))

    def state(self) -> dict[str, Any]:
        return {"scale": self.scale, "names": list(self.names), "count": self._count,
                "mean": _tensor(self._mean), "m2": _tensor(self._m2)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "FeatureEncoder":
        encoder = cls(scale=state["scale"])
        encoder.names = list(state["names"])
        encoder._count = state["count"]
        encoder._mean, encoder._m2 = _array(state["mean"]), _array(state["m2"])
        if encoder._m2 is not None:
            encoder._std = _std(encoder._m2, encoder._count)
        return encoder


def _number(name: str, value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, str) or not isinstance(value, (int, float, bool)):
        raise ValueError(f"features.{name}: expected a number, got {type(value).__name__} {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"features.{name}: expected a finite number, got {value!r}")
    return float(value)


def _std(m2: np.ndarray, count: int) -> np.ndarray:
    variance = m2 / np.float32(max(count, 1))
    std = np.sqrt(variance)
    std[variance <= 0] = 1
    return std


def _tensor(array: np.ndarray | None) -> torch.Tensor | None:
    return None if array is None else torch.from_numpy(array.copy())


def _array(value: Any) -> np.ndarray | None:
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        value = value.detach().numpy()
    return np.array(value, dtype=np.float32)
