"""The MLflow monitoring run: drift events and detector statistics, linked to the served model.

One run per pipeline in the experiment ``helicon-drift`` (run name ``drift-<pipeline>``), resumed
after a restart (its id is in the checkpoint). It is tagged with the model name and version seen on
the predictions topic, and the model version in the registry gets the tag
``helicon.drift_run_id`` pointing back, when that version exists. Per alert: metrics
``alerts_drift`` / ``alerts_warning`` (running counts) and the alert JSON as an artifact under
``alerts/``; periodically: each feature's ADWIN mean and width, the joined error rate and the join
counters. All calls run on the dispatcher thread; a tracking server that is down is logged, never
fatal.
"""

from __future__ import annotations

import logging
import time
from typing import Any

logger = logging.getLogger(__name__)

EXPERIMENT = "helicon-drift"


class MonitoringRun:
    """Log to one MLflow run; every method is safe to call when MLflow is unreachable."""

    def __init__(self, tracking_uri: str, pipeline: str, run_id: str | None = None) -> None:
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri)
        self.pipeline = pipeline
        self.run_id = run_id
        self._linked: tuple[str, str] | None = None
        self.counts = {"drift": 0, "warning": 0}

    def ensure_run(self) -> str:
        if self.run_id is None:
            experiment = self.client.get_experiment_by_name(EXPERIMENT)
            experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(EXPERIMENT)
            run = self.client.create_run(experiment_id, run_name=f"drift-{self.pipeline}",
                                         tags={"helicon.pipeline": self.pipeline, "helicon.role": "drift-monitor"})
            self.run_id = run.info.run_id
        return self.run_id

    def link_model(self, model: dict[str, str] | None) -> None:
        if not model or self._linked == (model.get("name"), model.get("version")):
            return
        run_id = self.ensure_run()
        name, version = str(model.get("name")), str(model.get("version"))
        self.client.set_tag(run_id, "helicon.model.name", name)
        self.client.set_tag(run_id, "helicon.model.version", version)
        try:
            self.client.set_model_version_tag(name, version, "helicon.drift_run_id", run_id)
        except Exception as error:  # noqa: BLE001 - a model logged elsewhere still gets the run's tags
            logger.info("model %s v%s not in this registry; run tagged only (%s)", name, version, error.__class__.__name__)
        self._linked = (name, version)

    def log_alert(self, alert: dict[str, Any]) -> None:
        run_id = self.ensure_run()
        self.link_model(alert.get("model"))
        kind = alert["kind"]
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self.client.log_metric(run_id, f"alerts_{kind}", self.counts[kind], timestamp=_now_ms(), step=self.counts[kind])
        self.client.log_dict(run_id, alert, f"alerts/{alert['emitted_at_ms']}-{alert['id']}.json")

    def log_statistics(self, metrics: dict[str, float], step: int) -> None:
        if not metrics:
            return
        from mlflow.entities import Metric

        run_id = self.ensure_run()
        now = _now_ms()
        self.client.log_batch(run_id, metrics=[Metric(key, float(value), now, step) for key, value in metrics.items()])


def _now_ms() -> int:
    return int(time.time() * 1000)
