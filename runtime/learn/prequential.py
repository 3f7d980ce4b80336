"""Prequential (test-then-train) evaluation of any model spec on a stream of rows.

Each example is first predicted with the model as it is, scored with river's metrics, and only then
learnt from — the order the paper and river's ``evaluate.progressive_val_score`` use.

>>> rows = [({"x": float(i % 2)}, i % 2) for i in range(300)]
>>> result = evaluate(build_model("hbp:layers=2,units=8"), rows)
>>> result["n"], result["accuracy"] > 0.9
(300, True)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Callable

from river import metrics

from helicon.runtime.learn.spec import build_model, model_task

__all__ = ["evaluate", "read_jsonl", "build_model", "PrequentialMetrics"]


class PrequentialMetrics:
    """river metrics for one task: accuracy for classification; MAE and RMSE for regression."""

    def __init__(self, task: str) -> None:
        self.task = task
        self.n = 0
        if task == "classification":
            self.metrics: dict[str, metrics.base.Metric] = {"accuracy": metrics.Accuracy()}
        else:
            self.metrics = {"mae": metrics.MAE(), "rmse": metrics.RMSE()}

    def update(self, y_true: Any, y_pred: Any) -> None:
        self.n += 1
        if y_pred is None:
            # No prediction yet (a classifier before its first label) counts as wrong.
            y_pred = object() if self.task == "classification" else 0.0
        for metric in self.metrics.values():
            metric.update(y_true, y_pred)

    def values(self) -> dict[str, float]:
        return {name: float(metric.get()) for name, metric in self.metrics.items()}

    def summary(self) -> dict[str, Any]:
        return {"n": self.n, **{name: round(value, 6) for name, value in self.values().items()}}


def evaluate(model: Any, rows: Iterable[tuple[dict[str, Any], Any]],
             on_step: Callable[[int, Any], None] | None = None) -> dict[str, Any]:
    """Test-then-train over ``(features, label)`` pairs; returns ``{"n", "accuracy"}`` or ``{"n", "mae", "rmse"}``.

    ``on_step(i, model)`` is called after each example is learnt (the harness records α with it).
    """
    iterator = iter(rows)
    first = next(iterator, None)
    if first is None:
        raise ValueError("evaluate: the stream is empty")
    scores = PrequentialMetrics(model_task(model))
    for index, (features, label) in enumerate(_chain(first, iterator)):
        scores.update(label, model.predict_one(features))
        model.learn_one(features, label)
        if on_step is not None:
            on_step(index, model)
    return scores.summary()


def read_jsonl(path: Path, target: str) -> Iterator[tuple[dict[str, Any], Any]]:
    """``(features, label)`` from a JSON-lines file of flat rows or ``{"features": {...}, "label": ...}`` events.

    In a flat row every column but ``target`` (and ``id``/``ts``) is a feature. Errors name the
    file, line and field.
    """
    with Path(path).open(encoding="utf-8") as stream:
        for line_number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            where = f"{path}:{line_number}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{where}: not JSON ({error.msg})") from None
            if not isinstance(row, dict):
                raise ValueError(f"{where}: expected a JSON object, got {type(row).__name__}")
            if isinstance(row.get("features"), dict):
                features = row["features"]
                if target in row:
                    label = row[target]
                elif target in features:
                    label = features[target]
                    features = {key: value for key, value in features.items() if key != target}
                else:
                    raise ValueError(f"{where}: no field {target!r} in the event nor in its features")
            else:
                if target not in row:
                    raise ValueError(f"{where}: no column {target!r}; columns are {sorted(row)}")
                label = row[target]
                features = {key: value for key, value in row.items() if key not in (target, "id", "ts")}
            if label is None:
                raise ValueError(f"{where}: field {target!r} is null")
            yield features, label


def infer_task(label: Any) -> str:
    """The task a label implies: a non-integral float means regression, anything else a class."""
    if isinstance(label, float) and not label.is_integer():
        return "regression"
    return "classification"


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest
