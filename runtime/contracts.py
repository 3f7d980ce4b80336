"""The data contracts on Helicon's topics, per pipeline ``P`` (see docs/architecture.md).

| topic           | key       | value (JSON)                                                       |
|-----------------|-----------|--------------------------------------------------------------------|
| ``P.features``    | event id  | ``{"id", "ts", "features": {name: value}}``                          |
| ``P.predictions`` | event id  | ``{"id", "ts", "model": {"name", "version", "role"?}, "prediction", ...}`` |
| ``P.feedback``    | event id  | ``{"id", "label", "ts"}``                                            |
| ``P.alerts``      | detector  | drift and warning events                                           |
| ``P.dlq``         | orig. key | the original bytes; headers name stage, error class and reason     |

Timestamps (``ts``) are milliseconds since the Unix epoch.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Union

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

FeatureValue = Union[StrictBool, StrictInt, StrictFloat, StrictStr, None]


@dataclass(frozen=True)
class PipelineTopics:
    """The topic names of one pipeline; ``PipelineTopics.for_pipeline("fraud").features == "fraud.features"``."""

    features: str
    predictions: str
    feedback: str
    alerts: str
    dlq: str

    @classmethod
    def for_pipeline(cls, pipeline: str) -> "PipelineTopics":
        return cls(*(f"{pipeline}.{suffix}" for suffix in ("features", "predictions", "feedback", "alerts", "dlq")))


class FeatureEvent(BaseModel):
    """A value on ``P.features``: one event to score."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: StrictStr = Field(min_length=1, description="Event id; also the message key.")
    ts: StrictInt | StrictFloat | None = Field(default=None, description="Event time, ms since the epoch.")
    features: dict[str, FeatureValue] = Field(description="Feature name to value.")


class FeedbackEvent(BaseModel):
    """A value on ``P.feedback``: the true label of an earlier event."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: StrictStr = Field(min_length=1, description="Event id; also the message key.")
    label: Any = Field(description="The true label; required (null is a label).")
    ts: StrictInt | StrictFloat | None = Field(default=None, description="When the label was known, ms since the epoch.")


@dataclass(frozen=True)
class ModelRef:
    """Which model answered: registered name and version."""

    name: str
    version: str


def now_ms() -> int:
    return int(time.time() * 1000)


def encode_prediction(event_id: str, model: ModelRef, prediction: Any, latency_ms: float,
                      scores: dict[str, float] | None = None, role: str | None = None) -> bytes:
    """The JSON value for ``P.predictions``; ``role`` (``champion``/``challenger``) goes under ``model``."""
    answered: dict[str, Any] = {"name": model.name, "version": model.version}
    if role is not None:
        answered["role"] = role
    value: dict[str, Any] = {
        "id": event_id,
        "ts": now_ms(),
        "model": answered,
        "prediction": prediction,
        "latency_ms": round(latency_ms, 3),
    }
    if scores is not None:
        value["scores"] = scores
    return json.dumps(value, separators=(",", ":"), default=_json_default).encode()


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
