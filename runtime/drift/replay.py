"""Offline replay: the monitor's detectors over a JSONL file, one detection per output line.

Each input line is one event: ``{"features": {...}, "label"?: ..., "prediction"?: ...}`` or a flat
row of columns (every key except ``id``, ``ts``, ``label`` and ``prediction`` is a feature). A row
with both ``label`` and ``prediction`` feeds the concept detector directly (no join needed). The
``index`` of a detection is the 0-based number of the event (non-blank line) that fired it.

>>> lines = ['{"x": %d}' % (0 if i < 300 else 10) for i in range(600)]
>>> [(d["index"] >= 300, d["kind"], d["detector"], d["feature"]) for d in replay_lines(lines, DriftConfig())]
[(True, 'drift', 'adwin', 'x')]
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from helicon.runtime.drift.config import DriftConfig
from helicon.runtime.drift.monitor import DriftMonitor
from helicon.runtime.drift.window import Position

logger = logging.getLogger(__name__)

RESERVED = ("id", "ts", "label", "prediction")


@dataclass
class ReplayEvent:
    """One decoded line."""

    index: int
    features: dict[str, Any]
    label: Any = None
    prediction: Any = None
    has_outcome: bool = False
    ts_ms: int | None = None


@dataclass
class ReplayStats:
    events: int = 0
    malformed: list[str] = field(default_factory=list)


def parse_lines(lines: Iterable[str], source: str = "input", stats: ReplayStats | None = None) -> Iterator[ReplayEvent]:
    """Decode JSONL lines into events; a malformed line is recorded in ``stats`` (file:line: reason) and skipped."""
    stats = stats if stats is not None else ReplayStats()
    index = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError(f"expected a JSON object, got {type(row).__name__}")
            if "features" in row:
                features = row["features"]
                if not isinstance(features, dict):
                    raise ValueError("`features` must be an object")
            else:
                features = {key: value for key, value in row.items() if key not in RESERVED}
        except ValueError as error:
            stats.malformed.append(f"{source}:{number}: {error}")
            continue
        ts = row.get("ts")
        has_outcome = "label" in row and "prediction" in row
        yield ReplayEvent(index, features, row.get("label"), row.get("prediction"), has_outcome,
                          int(ts) if isinstance(ts, (int, float)) and not isinstance(ts, bool) else None)
        index += 1
        stats.events = index


def replay_events(events: Iterable[ReplayEvent], config: DriftConfig, pipeline: str = "replay") -> Iterator[dict[str, Any]]:
    """Run the detectors; yield one JSON-able detection per warning or drift."""
    monitor = DriftMonitor(config, pipeline)
    for event in events:
        position = Position("replay", 0, event.index, event.ts_ms)
        alerts = monitor.observe_features(event.features, position)
        if event.has_outcome:
            alerts += monitor.observe_outcome(event.prediction, event.label, position)
        for alert in alerts:
            detection, window = alert.detection, alert.window
            yield {"index": event.index, "kind": detection.kind, "detector": detection.detector,
                   "feature": detection.feature, "tier": alert.tier, "id": alert.key,
                   "statistics": detection.statistics,
                   "window": {"first_event": window.ranges[0].first_offset if window.ranges else event.index,
                              "last_event": event.index, "events": window.events,
                              "ts_from_ms": window.ts_from_ms, "ts_to_ms": window.ts_to_ms, "clipped": window.clipped}}


def replay_lines(lines: Iterable[str], config: DriftConfig) -> list[dict[str, Any]]:
    """Convenience: decode and replay, returning the detections."""
    return list(replay_events(parse_lines(lines), config))
