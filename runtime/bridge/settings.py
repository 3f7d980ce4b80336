"""The bridge's one settings object: typed, validated, from a YAML file, the environment and flags.

Precedence, highest first: values passed to the constructor (the CLI's flags), environment
variables ``HELICON_BRIDGE_<FIELD>`` (nested with ``__``, e.g. ``HELICON_BRIDGE_CANARY__SHARE``),
then the YAML file named by ``config_file`` (or ``HELICON_BRIDGE_CONFIG_FILE``), then defaults.
"""

from __future__ import annotations

import os
import re
from enum import Enum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from helicon.runtime.endpoints import metrics_port_from_env

ENV_PREFIX = "HELICON_BRIDGE_"
_MODEL_URI = re.compile(r"^(models:/[^/@]+(@[^/]+|/[^/]+)|oip\+https?://.+)$")
_REGISTRY_ALIAS = re.compile(r"^models:/(?P<name>[^/@]+)@(?P<alias>[^/]+)$")
_BOOTSTRAP = re.compile(r"^[^\s:,]+:\d{1,5}(,[^\s:,]+:\d{1,5})*$")


def _check_model_uri(uri: str) -> str:
    if not _MODEL_URI.match(uri):
        raise ValueError("must be models:/NAME@ALIAS, models:/NAME/VERSION or oip+http://HOST:PORT/v2/models/NAME")
    return uri


class Delivery(str, Enum):
    """How the bridge couples its outputs to its input offsets (docs/bridge.md, "Delivery")."""

    AT_LEAST_ONCE = "at-least-once"
    EXACTLY_ONCE = "exactly-once"


class PromotionSettings(BaseModel):
    """Promote the canary's challenger to champion once its error on joined feedback is lower.

    Errors follow the drift monitor's convention: classification ``prediction != label``;
    regression ``|prediction - label| > error_threshold``.
    """

    model_config = ConfigDict(extra="forbid")

    feedback_topic: str = Field(min_length=1, description="Topic of true labels (P.feedback), joined by event id.")
    min_joined: int = Field(default=200, ge=1, description="Joined events each role needs before a decision.")
    margin: float = Field(default=0.0, ge=0.0, description="Promote when challenger error < champion error - margin.")
    window: int = Field(default=500, ge=1, description="Each role's error is over its last `window` joined events.")
    task: Literal["classification", "regression"] = Field(default="classification",
                                                         description="How a joined example counts as an error.")
    error_threshold: float | None = Field(default=None, gt=0,
                                          description="regression: error = |prediction - label| > error_threshold.")

    @field_validator("window")
    @classmethod
    def _window_holds_min_joined(cls, value: int, info: ValidationInfo) -> int:
        min_joined = info.data.get("min_joined")
        if min_joined is not None and value < min_joined:
            raise ValueError(f"must be >= min_joined ({min_joined})")
        return value

    @model_validator(mode="after")
    def _threshold_for_regression(self) -> "PromotionSettings":
        if self.task == "regression" and self.error_threshold is None:
            raise ValueError("error_threshold is required when task is regression")
        return self


class CanarySettings(BaseModel):
    """Send a share of events, chosen by a hash of their key, to a challenger model.

    A ``models:/NAME@ALIAS`` challenger is followed like the champion: the canary starts when the
    alias appears, follows it when it moves and stops when it is deleted. With ``promotion`` the
    bridge also joins feedback and promotes a better challenger.
    """

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="The challenger's model URI.")
    # Declared before ``share`` so that share's check can see it (the file's order does not matter).
    promotion: PromotionSettings | None = Field(default=None, description="Promote the challenger by joined error.")
    share: float = Field(ge=0.0, le=1.0, description="Share of keys routed to the challenger, 0..1.")

    @field_validator("model")
    @classmethod
    def _check_model(cls, value: str) -> str:
        return _check_model_uri(value)

    @field_validator("share")
    @classmethod
    def _both_roles_get_events(cls, value: float, info: ValidationInfo) -> float:
        if info.data.get("promotion") is not None and not 0.0 < value < 1.0:
            raise ValueError("must be strictly between 0 and 1 with promotion: both roles need events to compare")
        return value


class ShadowSettings(BaseModel):
    """Score every event with a challenger too, and publish its answers to a separate topic."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="The shadow model's URI.")
    topic: str = Field(min_length=1, description="Topic for the shadow model's predictions.")

    @field_validator("model")
    @classmethod
    def _check_model(cls, value: str) -> str:
        return _check_model_uri(value)


class BridgeSettings(BaseSettings):
    """Where the bridge reads and writes, which model(s) it asks, and how it delivers."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid",
                                      populate_by_name=True)

    config_file: Path | None = Field(default=None, description="YAML file with any of these settings.")
    bootstrap: str = Field(description="Kafka bootstrap servers, HOST:PORT[,HOST:PORT].")
    input_topic: str = Field(min_length=1, description="Topic of feature events.")
    output_topic: str = Field(min_length=1, description="Topic the predictions go to.")
    dlq_topic: str = Field(min_length=1, description="Topic for events that cannot be scored.")
    group: str = Field(min_length=1, description="Consumer group id.")
    model_uri: str = Field(description="models:/NAME@ALIAS, models:/NAME/VERSION or oip+http://HOST:PORT/v2/models/NAME.")
    batch_size: int = Field(default=256, ge=1, le=100_000, description="Largest micro-batch.")
    max_wait_ms: int = Field(default=20, ge=0, le=60_000, description="Longest wait for a micro-batch to fill.")
    delivery: Delivery = Field(default=Delivery.AT_LEAST_ONCE, description="at-least-once or exactly-once.")
    transactional_id: str | None = Field(default=None, description="Kafka transactional.id for exactly-once; default GROUP-INPUT.")
    session_timeout_ms: int = Field(default=10_000, ge=6_000, le=300_000, description="Consumer group session timeout: how soon a dead replica's partitions move.")
    max_event_bytes: int = Field(default=1_048_576, ge=16, description="Larger events go to the DLQ as oversized.")
    strict_features: bool = Field(default=True, description="Dead-letter events whose features differ from the model's input schema.")
    alias_poll_s: float = Field(default=10.0, gt=0, description="How often a models:/NAME@ALIAS alias is checked for a move.")
    predict_attempts: int = Field(default=3, ge=1, le=20, description="Tries of a failing batch before events are tried alone and dead-lettered.")
    retry_backoff_ms: int = Field(default=100, ge=0, description="First retry delay; doubled on each retry.")
    oip_timeout_s: float = Field(default=10.0, gt=0, description="HTTP timeout of an Open Inference Protocol request.")
    canary: CanarySettings | None = Field(default=None, description="Route a share of keys to a challenger.")
    shadow: ShadowSettings | None = Field(default=None, description="Score all events with a shadow model too.")
    http_host: str = Field(default="0.0.0.0", description="Address of the health/readiness/metrics server (all interfaces: probes come from outside the pod).")
    http_port: int | None = Field(default=8080, ge=0, le=65535, description="Port of that server; 0 picks a free one; null disables it. When not set, HELICON_METRICS_PORT (the convention of every runtime service) is used, else 8080.")
    shutdown_timeout_s: float = Field(default=30.0, gt=0, description="Bound on the clean exit after SIGTERM.")
    log_format: str = Field(default="json", pattern="^(json|text)$", description="json (containers) or text.")
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$", description="Logging level.")

    @field_validator("model_uri")
    @classmethod
    def _check_model(cls, value: str) -> str:
        return _check_model_uri(value)

    @field_validator("bootstrap")
    @classmethod
    def _check_bootstrap(cls, value: str) -> str:
        if not _BOOTSTRAP.match(value):
            raise ValueError("must be HOST:PORT or a comma-separated list of them")
        return value

    @model_validator(mode="after")
    def _shared_port(self) -> "BridgeSettings":
        if "http_port" not in self.model_fields_set:
            port = metrics_port_from_env()
            if port is not None:
                self.http_port = port
        return self

    @model_validator(mode="after")
    def _check_routes(self) -> "BridgeSettings":
        if self.canary is not None and self.shadow is not None:
            raise ValueError("canary and shadow cannot both be set: choose one experiment")
        if self.canary is not None and self.canary.promotion is not None:
            champion, challenger = _REGISTRY_ALIAS.match(self.model_uri), _REGISTRY_ALIAS.match(self.canary.model)
            if champion is None or challenger is None or champion["name"] != challenger["name"]:
                raise ValueError("canary.promotion needs model_uri and canary.model to be two aliases of one "
                                 "registered model (models:/NAME@champion, models:/NAME@challenger)")
            if champion["alias"] == challenger["alias"]:
                raise ValueError("canary.promotion needs canary.model to name another alias than model_uri")
        if len({self.input_topic, self.output_topic, self.dlq_topic}) != 3:
            raise ValueError("input_topic, output_topic and dlq_topic must be three different topics")
        return self

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config_file = getattr(init_settings, "init_kwargs", {}).get("config_file") or os.environ.get(f"{ENV_PREFIX}CONFIG_FILE")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if config_file:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=Path(config_file)))
        return tuple(sources)


class SettingsError(ValueError):
    """The settings could not be read or are invalid; the message names the field and the reason."""


def load_settings(**overrides: Any) -> BridgeSettings:
    """Settings from ``overrides`` (flags; ``None`` means "not given"), the environment and the file.

    Raises :class:`SettingsError` with ``FIELD: reason`` for the first problem found.
    """
    from pydantic import ValidationError

    given = {name: value for name, value in overrides.items() if value is not None}
    config_file = given.get("config_file") or os.environ.get(f"{ENV_PREFIX}CONFIG_FILE")
    if config_file:
        path = Path(config_file)
        if not path.is_file():
            raise SettingsError(f"config_file: {path} does not exist or is not a file")
        try:
            import yaml

            content = yaml.safe_load(path.read_text())
        except yaml.YAMLError as error:
            raise SettingsError(f"config_file: {path} is not valid YAML ({error.__class__.__name__})") from None
        if content is not None and not isinstance(content, dict):
            raise SettingsError(f"config_file: {path} must hold a mapping of settings, not {type(content).__name__}")
    try:
        return BridgeSettings(**given)
    except ValidationError as error:
        raise SettingsError(describe_validation_error(error)) from None


def describe_validation_error(error: Any) -> str:
    """``field.path: message`` for each problem in a pydantic ``ValidationError``, joined by ``; ``."""
    parts = []
    for problem in error.errors():
        location = ".".join(str(part) for part in problem["loc"]) or "settings"
        message = problem["msg"]
        if problem["type"] == "extra_forbidden":
            message = "unknown setting"
        parts.append(f"{location}: {message}")
    return "; ".join(parts)
