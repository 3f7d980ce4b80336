"""The drift monitor's typed configuration: which detector watches what, and where alerts go.

One :class:`DriftConfig` drives both the service (``helicon run drift``) and the offline tools
(``helicon drift replay``), so that a replay behaves like the live monitor. It is read from a YAML
or JSON file (:func:`load_config`); every field is validated and an error names the field.

>>> config = DriftConfig.model_validate({"features": {"amount": {"detector": "kswin"}}})
>>> config.detector_for("amount").detector, config.detector_for("age").detector
('kswin', 'adwin')
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FeatureDetectorSpec(_Strict):
    """How one feature is watched. Numeric values feed the detector directly; a string value
    feeds one ADWIN per category on the 0/1 indicator "value is this category" (see docs/drift.md).

    Defaults come from the calibration in docs/drift.md (`python -m bench.drift.calibrate`).
    """

    detector: Literal["adwin", "page_hinkley", "kswin"] = Field(
        default="adwin", description="river.drift.ADWIN (default), PageHinkley or KSWIN.")
    delta: float = Field(default=0.0002, gt=0, lt=1,
                         description="ADWIN confidence δ (Bifet & Gavaldà 2007); smaller = fewer false alarms.")
    clock: int = Field(default=32, ge=1, description="ADWIN: check for change every `clock` updates.")
    min_window_length: int = Field(default=5, ge=1, description="ADWIN: smallest sub-window compared.")
    grace_period: int = Field(default=100, ge=1, description="ADWIN: updates before the first check.")
    ph_threshold: float = Field(default=100.0, gt=0, description="PageHinkley λ (cumulative deviation that signals drift).")
    ph_delta: float = Field(default=0.005, ge=0, description="PageHinkley δ (tolerated magnitude of change).")
    ph_min_instances: int = Field(default=30, ge=1, description="PageHinkley: updates before the first check.")
    kswin_alpha: float = Field(default=0.0001, gt=0, lt=1, description="KSWIN: KS-test significance level.")
    kswin_window_size: int = Field(default=200, ge=10, description="KSWIN: values kept.")
    kswin_stat_size: int = Field(default=50, ge=5, description="KSWIN: recent values tested against a sample of the rest.")
    max_categories: int = Field(default=20, ge=1, description="Categorical: categories tracked; later ones are pooled as `__other__`.")

    @model_validator(mode="after")
    def _kswin_sizes(self) -> "FeatureDetectorSpec":
        if self.kswin_stat_size >= self.kswin_window_size:
            raise ValueError(f"kswin_stat_size ({self.kswin_stat_size}) must be smaller than "
                             f"kswin_window_size ({self.kswin_window_size})")
        return self


class ConceptSpec(_Strict):
    """Concept drift on the joined error stream (1 = the prediction was wrong)."""

    detector: Literal["ddm", "eddm", "hddm_a", "hddm_w"] = Field(
        default="ddm", description="river.drift.binary.DDM (default), EDDM, HDDM_A or HDDM_W.")
    task: Literal["classification", "regression"] = Field(
        default="classification", description="classification: error = prediction != label.")
    error_threshold: float | None = Field(
        default=None, gt=0, description="regression: error = |prediction - label| > error_threshold (required).")
    warm_start: int = Field(default=1000, ge=1,
                            description="DDM/EDDM: updates before testing (Gama et al. 2004; river's default 30 gives false drifts, see docs/drift.md).")
    warning_threshold: float = Field(default=3.0, gt=0, description="DDM: warning when p+s > p_min + k·s_min (paper: 2).")
    drift_threshold: float = Field(default=4.0, gt=0, description="DDM: drift when p+s > p_min + k·s_min (paper: 3).")
    drift_confidence: float = Field(default=0.001, gt=0, lt=1, description="HDDM: drift confidence.")
    warning_confidence: float = Field(default=0.005, gt=0, lt=1, description="HDDM: warning confidence.")

    @model_validator(mode="after")
    def _threshold_for_regression(self) -> "ConceptSpec":
        if self.task == "regression" and self.error_threshold is None:
            raise ValueError("error_threshold is required when task is regression")
        if self.drift_threshold <= self.warning_threshold:
            raise ValueError(f"drift_threshold ({self.drift_threshold}) must exceed warning_threshold ({self.warning_threshold})")
        return self


class WebhookSpec(_Strict):
    """A Slack-compatible incoming webhook (`{"text": ...}` plus the alert under `helicon`)."""

    url: HttpUrl


class TriggerSpec(_Strict):
    """A retrain trigger: an HMAC-signed HTTP POST to a CI pipeline."""

    kind: Literal["github", "gitlab", "generic"] = Field(default="generic", description="Payload shape.")
    url: HttpUrl = Field(description="github: .../actions/workflows/ID/dispatches; gitlab: .../trigger/pipeline; or any URL.")
    ref: str = Field(default="main", description="github/gitlab: branch or tag to run.")
    token_env: str | None = Field(default=None, description="Environment variable holding the CI token (never in the file).")
    secret_env: str | None = Field(default=None, description="Environment variable holding the HMAC key.")


class TierSinks(_Strict):
    """What happens on one tier (warning or drift)."""

    log: bool = True
    webhooks: list[WebhookSpec] = Field(default_factory=list)
    triggers: list[TriggerSpec] = Field(default_factory=list)


class DeliverySpec(_Strict):
    """Retries and throttling of webhook and trigger deliveries."""

    retries: int = Field(default=5, ge=0, description="Retries after the first attempt.")
    backoff_s: float = Field(default=0.5, ge=0, description="Backoff factor: waits of b, 2b, 4b, … seconds.")
    timeout_s: float = Field(default=5.0, gt=0, description="Per-request timeout.")
    cooldown_s: float = Field(default=3600.0, ge=0,
                              description="After a trigger for one detector, further triggers for it are suppressed this long.")


class DriftConfig(_Strict):
    """Everything that decides what the monitor detects and whom it tells."""

    features: dict[str, FeatureDetectorSpec] = Field(default_factory=dict, description="Per-feature overrides.")
    default: FeatureDetectorSpec = Field(default_factory=FeatureDetectorSpec, description="For features not listed.")
    only_listed: bool = Field(default=False, description="Watch only the features listed under `features`.")
    concept: ConceptSpec = Field(default_factory=ConceptSpec)
    warning: TierSinks = Field(default_factory=TierSinks)
    drift: TierSinks = Field(default_factory=TierSinks)
    delivery: DeliverySpec = Field(default_factory=DeliverySpec)
    positions_kept: int = Field(default=100_000, ge=100,
                                description="Event positions remembered to name a fresh-data window; longer windows are clipped.")

    def detector_for(self, feature: str) -> FeatureDetectorSpec:
        return self.features.get(feature, self.default)


def load_config(path: Path | None) -> DriftConfig:
    """Read a YAML/JSON file into a :class:`DriftConfig` (defaults when ``path`` is None).

    Raises :class:`ConfigError` naming the file and field when the file is invalid.
    """
    if path is None:
        return DriftConfig()
    try:
        raw: Any = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"cannot read drift config {path}: {error}") from None
    try:
        return DriftConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(f"invalid drift config {path}: {describe(error)}") from None


def describe(error: ValidationError) -> str:
    """The first validation error as ``field.path: message``."""
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"]) or "value"
    return f"{location}: {first['msg']}"


class ConfigError(ValueError):
    """A configuration the user must fix; the message names the file and field."""
