"""Seeded synthetic streams with known change points, for calibration, tests, benchmarks and demos.

>>> stream = feature_stream(n=1000, features=2, change_at=(500,), shift=2.0, seed=1)
>>> len(stream), sorted(stream[0]["features"])
(1000, ['f00', 'f01'])
>>> rows = outcome_stream(n=1000, change_at=(500,), error_before=0.1, error_after=0.3, seed=1)
>>> sum(r["label"] != r["prediction"] for r in rows[:500]) < sum(r["label"] != r["prediction"] for r in rows[500:])
True
"""

from __future__ import annotations

import random
from typing import Any


def feature_stream(n: int, features: int = 1, change_at: tuple[int, ...] = (), shift: float = 1.0,
                   seed: int = 0, drifting: int | None = None) -> list[dict[str, Any]]:
    """``n`` events of ``features`` Gaussian features (σ = 1); at each change point the mean of the
    first ``drifting`` features (all by default) moves by ``shift`` standard deviations."""
    rng = random.Random(seed)
    names = [f"f{index:02d}" for index in range(features)]
    moving = set(names[: features if drifting is None else drifting])
    rows = []
    level = 0.0
    changes = set(change_at)
    for index in range(n):
        if index in changes:
            level += shift
        rows.append({"features": {name: rng.gauss(level if name in moving else 0.0, 1.0) for name in names}})
    return rows


def outcome_stream(n: int, change_at: tuple[int, ...] = (), error_before: float = 0.1, error_after: float = 0.3,
                   seed: int = 0) -> list[dict[str, Any]]:
    """``n`` binary predictions with labels; the error rate is ``error_before`` until the first change
    point and ``error_after`` after it (alternating at later change points)."""
    rng = random.Random(seed)
    rows = []
    rate = error_before
    changes = sorted(change_at)
    for index in range(n):
        if changes and index == changes[0]:
            changes.pop(0)
            rate = error_after if rate == error_before else error_before
        prediction = rng.randrange(2)
        label = prediction if rng.random() >= rate else 1 - prediction
        rows.append({"features": {"x": rng.gauss(0, 1)}, "prediction": prediction, "label": label})
    return rows
