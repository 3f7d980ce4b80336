"""The alert event: what goes to the alerts topic, the webhooks and the retrain triggers.

One JSON object per detection (documented in docs/drift.md)::

    {"schema": "helicon.drift.alert/1", "id": "<idempotency key>", "kind": "drift",
     "detector": "adwin", "detector_id": "adwin:amount", "feature": "amount", "tier": "data",
     "index": 2051, "statistics": {...}, "detected_at": {"topic", "partition", "offset", "ts_ms"},
     "window": {"start_index", "end_index", "events", "ranges": [...], "ts_from_ms", "ts_to_ms", "clipped"},
     "model": {"name", "version"} | null, "pipeline": "fraud", "emitted_at_ms": 1764000000000}

The ``id`` is derived from the pipeline, detector and the position that fired, so the same
detection replayed after a restart carries the same key and receivers can de-duplicate it.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from helicon.runtime.drift.detection import Detection
from helicon.runtime.drift.window import FreshDataWindow, Position

SCHEMA = "helicon.drift.alert/1"


@dataclass(frozen=True)
class DriftAlert:
    """A detection with its context, ready to publish."""

    detection: Detection
    tier: str
    window: FreshDataWindow
    detected_at: Position | None
    pipeline: str
    model: dict[str, str] | None = None

    @property
    def key(self) -> str:
        """Idempotency key: stable for the same detection at the same position."""
        where = (f"{self.detected_at.topic}/{self.detected_at.partition}/{self.detected_at.offset}"
                 if self.detected_at is not None and self.detected_at.offset >= 0 else "")
        material = f"{self.pipeline}|{self.detection.detector_id}|{self.detection.kind}|{self.detection.index}|{where}"
        return hashlib.sha256(material.encode()).hexdigest()[:32]

    def to_json(self) -> dict[str, Any]:
        d = self.detection
        return {
            "schema": SCHEMA, "id": self.key, "kind": d.kind, "detector": d.detector,
            "detector_id": d.detector_id, "feature": d.feature, "tier": self.tier, "index": d.index,
            "statistics": d.statistics,
            "detected_at": None if self.detected_at is None else {
                "topic": self.detected_at.topic, "partition": self.detected_at.partition,
                "offset": self.detected_at.offset, "ts_ms": self.detected_at.ts_ms},
            "window": self.window.to_json(), "model": self.model, "pipeline": self.pipeline,
            "emitted_at_ms": int(time.time() * 1000),
        }

    def encode(self) -> bytes:
        return json.dumps(self.to_json(), separators=(",", ":"), sort_keys=True, default=float).encode()

    def summary(self) -> str:
        """One line for logs and chat: what, where, and the window."""
        d = self.detection
        what = f"{d.kind} on {d.feature}" if d.feature else f"concept {d.kind} (error rate)"
        window = self.window
        return (f"[helicon:{self.pipeline}] {what} by {d.detector} at index {d.index}; "
                f"fresh data: {window.events} events {window.ts_from_ms}..{window.ts_to_ms}")
