"""The learner's metrics: Prometheus gauges and counters, and MLflow metric logs.

Exported (Prometheus names; the same values go to MLflow without the prefix):

- ``helicon_learn_examples_total{kind=predicted|learnt|dead_lettered|checkpoints}``
- ``helicon_learn_prequential{metric=accuracy|mae|rmse}``: since the start (restored on restart)
- ``helicon_learn_rolling{metric=...}``: over the last ``window`` learnt examples
- ``helicon_learn_alpha{head}``, ``helicon_learn_head_error{head}``: HBP's hedge weights and each
  head's rolling error (head = 1-based hidden layer)
- ``helicon_learn_join_pending{side=predictions|feedback}``
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Gauge
from river import metrics as river_metrics
from river import utils

from helicon.runtime.endpoints import DEFAULT_HOST, ServiceEndpoints

if TYPE_CHECKING:
    from helicon.runtime.learn.service import Learner

logger = logging.getLogger(__name__)


class LearnerMetrics:
    """One registry per learner (no global state), so that tests can run several."""

    def __init__(self, model_spec: str, window: int = 500) -> None:
        self.registry = CollectorRegistry()
        self.window = window
        self._rolling: dict[str, Any] | None = None
        labels = {"model": model_spec}
        self._label_names = list(labels)
        self._labels = labels
        self.examples = Gauge("helicon_learn_examples_total", "Events handled by kind", ["model", "kind"], registry=self.registry)
        self.prequential = Gauge("helicon_learn_prequential", "Prequential metric since the start", ["model", "metric"], registry=self.registry)
        self.rolling = Gauge("helicon_learn_rolling", "Prequential metric over the last window", ["model", "metric"], registry=self.registry)
        self.alpha = Gauge("helicon_learn_alpha", "HBP hedge weight per head", ["model", "head"], registry=self.registry)
        self.head_error = Gauge("helicon_learn_head_error", "HBP rolling error per head", ["model", "head"], registry=self.registry)
        self.pending = Gauge("helicon_learn_join_pending", "Entries waiting in the feedback join", ["model", "side"], registry=self.registry)
        self._mlflow_run: str | None = None
        self._mlflow_run_seen: str | None = None
        self._mlflow_client: Any = None
        self._step = 0
        self._server: Any = None

    def record(self, label: Any, prediction: Any) -> None:
        """One learnt example's (label, prediction made before learning) for the rolling metrics."""
        if self._rolling is None:
            regression = isinstance(label, float) and not isinstance(label, bool)
            base = {"mae": river_metrics.MAE, "rmse": river_metrics.RMSE} if regression else {"accuracy": river_metrics.Accuracy}
            self._rolling = {name: utils.Rolling(metric, window_size=self.window) for name, metric in base.items()}
        for metric in self._rolling.values():
            metric.update(label, prediction if prediction is not None else (0.0 if "mae" in self._rolling else object()))

    def rolling_values(self) -> dict[str, float]:
        return {name: float(metric.get()) for name, metric in (self._rolling or {}).items()}

    def snapshot(self, learner: "Learner") -> dict[str, float]:
        """All current values, flat, as MLflow logs them."""
        values: dict[str, float] = {f"examples_{kind}": float(count) for kind, count in learner.counts.items()}
        values.update({f"prequential_{name}": value for name, value in learner.prequential.values().items()})
        values.update({f"rolling_{name}": value for name, value in self.rolling_values().items()})
        for index, (alpha, error) in enumerate(zip(getattr(learner.model, "alpha", []), getattr(learner.model, "head_errors", [])), start=1):
            values[f"alpha_{index:02d}"] = alpha
            values[f"head_error_{index:02d}"] = error
        return values

    def observe(self, learner: "Learner") -> None:
        """Copy the learner's state into the Prometheus gauges (after each batch)."""
        model = self._labels["model"]
        for kind, count in learner.counts.items():
            self.examples.labels(model, kind).set(count)
        for name, value in learner.prequential.values().items():
            self.prequential.labels(model, name).set(value)
        for name, value in self.rolling_values().items():
            self.rolling.labels(model, name).set(value)
        head_layers = getattr(learner.model, "head_layers", None)
        if head_layers is not None:
            for layer, alpha, error in zip(head_layers, learner.model.alpha, learner.model.head_errors):
                self.alpha.labels(model, str(layer)).set(alpha)
                self.head_error.labels(model, str(layer)).set(error)
        self.pending.labels(model, "predictions").set(learner.join.pending_predictions)
        self.pending.labels(model, "feedback").set(learner.join.pending_feedback)

    def serve(self, port: int, ready: Callable[[], bool] = lambda: True) -> int:
        """Start ``/metrics``, ``/healthz`` and ``/readyz`` (:mod:`helicon.runtime.endpoints`); returns the
        port (``0`` picks a free one)."""
        self._server = ServiceEndpoints(DEFAULT_HOST, port, self.registry, ready, name="learn-http")
        self._server.start()
        return self._server.port

    def beat(self) -> None:
        """The learner's loop is turning (keeps ``/healthz`` at 200)."""
        if self._server is not None:
            self._server.beat()

    def start_mlflow(self, experiment: str | None) -> bool:
        if not experiment:
            return False
        from mlflow import MlflowClient

        self._mlflow_client = MlflowClient()
        found = self._mlflow_client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found else self._mlflow_client.create_experiment(experiment)
        run = self._mlflow_client.create_run(experiment_id, run_name="online-learner", tags={"helicon.model": self._labels["model"]})
        self._mlflow_run = self._mlflow_run_seen = run.info.run_id
        return True

    def log_mlflow(self, learner: "Learner") -> None:
        if self._mlflow_run is None:
            return
        from mlflow.entities import Metric

        timestamp = int(time.time() * 1000)
        self._step += 1
        batch = [Metric(key, value, timestamp, learner.counts["learnt"]) for key, value in self.snapshot(learner).items()]
        self._mlflow_client.log_batch(self._mlflow_run, metrics=batch)

    def end_mlflow(self) -> None:
        if self._mlflow_run is not None:
            self._mlflow_client.set_terminated(self._mlflow_run)
            self._mlflow_run = None
        if self._server is not None:
            self._server.stop()
            self._server = None

    @property
    def mlflow_run_id(self) -> str | None:
        """The MLflow run the metrics were logged to (also after the learner stopped)."""
        return self._mlflow_run_seen
