"""Whether one joined example was an error: the rule the drift monitor and the bridge's promotion share.

Classification: the prediction differs from the label (``1``, ``1.0`` and ``True`` are one class;
``"1"`` stays a string label). Regression: ``|prediction - label| > error_threshold``.

>>> is_error("classification", None, 1.0, True)
False
>>> is_error("regression", 0.5, 2.0, 2.7)
True
"""

from __future__ import annotations

from typing import Any


def is_error(task: str, error_threshold: float | None, prediction: Any, label: Any) -> bool:
    """The error indicator of one joined example (raises ValueError for a non-numeric regression pair)."""
    if task == "classification":
        return _normalise(prediction) != _normalise(label)
    try:
        return abs(float(prediction) - float(label)) > (error_threshold or 0.0)
    except (TypeError, ValueError):
        raise ValueError(f"regression needs numeric prediction and label (got {prediction!r}, {label!r})") from None


def _normalise(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
