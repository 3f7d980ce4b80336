"""Decode and validate feature events; a bad one becomes a :class:`Rejection` with its reason."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from pydantic import ValidationError

from helicon.runtime.bridge.backends.base import BOOLEAN, INTEGER, NUMERIC, STRING, FeatureSpec
from helicon.runtime.contracts import FeatureEvent


@dataclass(frozen=True)
class Rejection:
    """Why an event cannot be scored: ``error_class`` is a stable name, ``reason`` says where and what."""

    error_class: str
    reason: str


class EventCodec:
    """Turns message bytes into :class:`FeatureEvent`s, checked against the model's input schema.

    Error classes: ``EmptyEvent``, ``OversizedEvent``, ``InvalidJSON``, ``InvalidEvent`` (envelope
    does not match the contract), ``MissingFeatures``, ``UnexpectedFeatures``, ``WrongFeatureType``.
    """

    def __init__(self, max_event_bytes: int, strict_features: bool = True) -> None:
        self.max_event_bytes = max_event_bytes
        self.strict_features = strict_features

    def decode(self, value: bytes | None, spec: FeatureSpec | None) -> FeatureEvent | Rejection:
        """The event in ``value``, or why it is rejected."""
        if not value:
            return Rejection("EmptyEvent", "the message has no value")
        if len(value) > self.max_event_bytes:
            return Rejection("OversizedEvent", f"{len(value)} bytes exceeds max_event_bytes={self.max_event_bytes}")
        try:
            event = FeatureEvent.model_validate_json(value)
        except ValidationError as error:
            first = error.errors()[0]
            if first["type"] == "json_invalid":
                return Rejection("InvalidJSON", f"not JSON: {first['msg']}")
            location = ".".join(str(part) for part in first["loc"]) or "event"
            return Rejection("InvalidEvent", f"{location}: {first['msg']}")
        if spec is not None and self.strict_features:
            return _check_features(event, spec) or event
        return event


def _check_features(event: FeatureEvent, spec: FeatureSpec) -> Rejection | None:
    given = event.features.keys()
    missing = [name for name in spec.names if name not in given]
    if missing:
        return Rejection("MissingFeatures", f"features missing: {', '.join(missing)}")
    extra = sorted(set(given) - set(spec.names))
    if extra:
        return Rejection("UnexpectedFeatures", f"features not in the model's schema: {', '.join(extra)}")
    for name in spec.names:
        value = event.features[name]
        kind = spec.kinds.get(name, NUMERIC)
        if not _fits(value, kind):
            shown = json.dumps(value)[:40]
            return Rejection("WrongFeatureType", f"features.{name}: expected {kind}, got {type(value).__name__} {shown}")
    return None


def _fits(value: object, kind: str) -> bool:
    if kind == NUMERIC:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind == INTEGER:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == BOOLEAN:
        return isinstance(value, bool)
    if kind == STRING:
        return isinstance(value, str)
    return True
