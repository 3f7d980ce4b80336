"""Decoding the three input topics. A value that does not decode goes to the DLQ with the reason."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr

from helicon.runtime.contracts import FeatureEvent

__all__ = ["FeatureEvent", "FeedbackMessage", "PredictionMessage"]


class PredictionMessage(BaseModel):
    """A value on ``P.predictions`` (extra fields such as ``latency_ms`` and ``scores`` are allowed)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: StrictStr = Field(min_length=1)
    ts: StrictInt | StrictFloat | None = None
    model: dict[str, Any] | None = None
    prediction: Any = Field(description="The model's answer; required (null is an answer).")


class FeedbackMessage(BaseModel):
    """A value on ``P.feedback``: the true label of an earlier event."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: StrictStr = Field(min_length=1)
    label: Any = Field(description="The true label; required.")
    ts: StrictInt | StrictFloat | None = None
