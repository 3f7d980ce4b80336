"""The drift service's settings: one typed object from file, environment and flags.

File (YAML or JSON); service fields may also be given at the top level, next to ``monitor``::

    service:            # any field of DriftServiceSettings except `monitor`
      bootstrap: 127.0.0.1:9092
      features_topic: fraud.features
      ...
    monitor:            # a DriftConfig (detectors, concept, tiers, delivery)
      default: {detector: adwin, delta: 0.0002}

Flags and environment variables override the file; the file overrides the defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from helicon.runtime.drift.config import ConfigError, DriftConfig, describe


class DriftServiceSettings(BaseModel):
    """Where the drift monitor reads and writes, how it checkpoints, and what it detects."""

    model_config = ConfigDict(extra="forbid")

    bootstrap: str = Field(description="Kafka bootstrap servers, HOST:PORT[,HOST:PORT].")
    pipeline: str = Field(default="demo", min_length=1, description="Pipeline name P; topics default to P.features etc.")
    features_topic: str | None = Field(default=None, description="Feature events (default P.features).")
    predictions_topic: str | None = Field(default=None, description="Predictions (default P.predictions).")
    feedback_topic: str | None = Field(default=None, description="Feedback/labels (default P.feedback).")
    alerts_topic: str | None = Field(default=None, description="Where alerts go (default P.alerts).")
    dlq_topic: str | None = Field(default=None, description="Undecodable events (default P.dlq).")
    group: str = Field(default="helicon-drift", min_length=1, description="Consumer group id.")
    instance_id: str | None = Field(default=None, min_length=1,
                                    description="Static group membership (`group.instance.id`, e.g. the pod name): "
                                                "a restarted instance gets its partitions back at once instead of after the session timeout.")
    checkpoint_path: str = Field(default=".helicon-drift/checkpoint.pkl", min_length=1,
                                 description="Checkpoint location: a file path (on a persistent volume), or "
                                             "s3://BUCKET/PREFIX (boto3, AWS_ENDPOINT_URL_S3 and credentials from the environment).")
    checkpoint_interval_s: float = Field(default=5.0, gt=0, description="Checkpoint at least this often (and at every alert).")
    statistics_interval_s: float = Field(default=60.0, gt=0, description="Log detector statistics to MLflow this often.")
    join_ttl_ms: int = Field(default=3_600_000, gt=0, description="How long a prediction waits for its label (event time).")
    join_max_entries: int = Field(default=100_000, gt=0, description="Most predictions (and labels) waiting at once.")
    mlflow_tracking_uri: str | None = Field(default=None, description="MLflow server for the monitoring run (off when unset).")
    batch_size: int = Field(default=500, ge=1, description="Largest batch consumed at once.")
    metrics_port: int | None = Field(default=None, ge=0, le=65535,
                                     description="Port of /healthz, /readyz and /metrics (0 picks a free one; "
                                                 "default HELICON_METRICS_PORT, else off).")
    monitor: DriftConfig = Field(default_factory=DriftConfig)

    @field_validator("checkpoint_path", mode="before")
    @classmethod
    def _checkpoint_location(cls, value: Any) -> Any:
        return str(value) if isinstance(value, Path) else value

    @field_validator("checkpoint_path")
    @classmethod
    def _known_store(cls, value: str) -> str:
        if value.startswith("s3://"):
            bucket, _, prefix = value[len("s3://"):].partition("/")
            if not bucket or not prefix.strip("/"):
                raise ValueError("expected s3://BUCKET/PREFIX with a bucket and a prefix")
        elif "://" in value:
            raise ValueError("expected a file path or s3://BUCKET/PREFIX")
        return value

    @model_validator(mode="after")
    def _default_topics(self) -> "DriftServiceSettings":
        for suffix in ("features", "predictions", "feedback", "alerts", "dlq"):
            if getattr(self, f"{suffix}_topic") is None:
                setattr(self, f"{suffix}_topic", f"{self.pipeline}.{suffix}")
        return self

    @property
    def topics(self) -> tuple[str, str, str]:
        return (self.features_topic or "", self.predictions_topic or "", self.feedback_topic or "")


def load_settings(path: Path | None, overrides: dict[str, Any]) -> DriftServiceSettings:
    """Settings from ``path`` (optional) with ``overrides`` (flags/env; None values ignored) on top."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as error:
            raise ConfigError(f"cannot read drift config {path}: {error}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"drift config {path} must be a mapping with `service` and/or `monitor`")
    # Service fields may also sit at the top level (the Kubernetes workloads' flat settings file).
    values: dict[str, Any] = {key: value for key, value in raw.items() if key not in ("service", "monitor")}
    values.update(raw.get("service") or {})
    values.update({key: value for key, value in overrides.items() if value is not None})
    if "monitor" in raw:
        values["monitor"] = raw["monitor"]
    try:
        return DriftServiceSettings.model_validate(values)
    except ValidationError as error:
        where = f" in {path}" if path else ""
        raise ConfigError(f"invalid drift setting{where}: {describe(error)}") from None
