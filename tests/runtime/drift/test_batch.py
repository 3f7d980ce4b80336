"""The batched observe path does per event exactly what the per-event path does.

The service feeds :class:`DriftMonitor` a consumed batch at a time (``observe_feature_batch``,
``observe_outcome_batch``); replay and the per-message join path go event by event. Same input →
same alerts (ids, windows, statistics, positions) and the same detector state, whatever the batch
sizes — including windows clipped by a short position log.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from helicon.runtime.drift.alerts import DriftAlert
from helicon.runtime.drift.config import DriftConfig
from helicon.runtime.drift.monitor import DriftMonitor
from helicon.runtime.drift.service import statistics_metrics
from helicon.runtime.drift.window import Position

PARTITIONS = 2
EVENTS = 6_000  # per partition; changes at 2000 and 4000


def _stream(seed: int, regression: bool) -> list[tuple[int, int, dict[str, Any], Any, Any]]:
    """(partition, offset, features, prediction, label) in an interleaved consumption order."""
    rng = random.Random(seed)
    per_partition: list[list[tuple[int, int, dict[str, Any], Any, Any]]] = []
    for partition in range(PARTITIONS):
        events = []
        for offset in range(EVENTS):
            phase = offset // 2000
            features: dict[str, Any] = {f"f{k}": rng.gauss(phase * 1.5 if k < 2 else 0.0, 1.0) for k in range(5)}
            features["colour"] = rng.choice("ab" if phase == 0 else "abcc")
            if rng.random() < 0.01:
                del features["f3"]  # missing
            if rng.random() < 0.01:
                features["f4"] = "oops"  # wrong type
            if rng.random() < 0.005:
                features["f2"] = None
            wrong = rng.random() < (0.1 if phase == 0 else 0.35)
            if regression:
                prediction = rng.gauss(0, 1)
                label: Any = prediction + (rng.choice((-3.0, 3.0)) if wrong else 0.0)
                if rng.random() < 0.01:
                    label = "n/a"  # unscorable
            else:
                prediction = rng.choice((0, 1, 1.0, True, "1"))
                label = (1 - int(prediction == 1)) if wrong else prediction
            events.append((partition, offset, features, prediction, label))
        per_partition.append(events)
    # Consumption order: runs of random length from each partition, as a consumer reads them.
    order: list[tuple[int, int, dict[str, Any], Any, Any]] = []
    cursors = [0] * PARTITIONS
    while any(cursor < EVENTS for cursor in cursors):
        partition = rng.randrange(PARTITIONS)
        run = rng.randint(1, 700)
        order += per_partition[partition][cursors[partition]:cursors[partition] + run]
        cursors[partition] = min(EVENTS, cursors[partition] + run)
    return order


def _comparable(alerts: list[DriftAlert]) -> list[dict[str, Any]]:
    out = []
    for alert in alerts:
        payload = alert.to_json()
        payload.pop("emitted_at_ms")
        out.append(payload)
    return sorted(out, key=lambda a: (a["tier"], a["detected_at"]["partition"], a["index"], a["detector_id"], a["kind"]))


def _per_event(config: DriftConfig, stream: list[tuple[int, int, dict[str, Any], Any, Any]]) -> tuple[DriftMonitor, list[DriftAlert]]:
    monitor = DriftMonitor(config, "batch-test")
    alerts: list[DriftAlert] = []
    for partition, offset, features, prediction, label in stream:
        alerts += monitor.observe_features(features, Position("p.features", partition, offset, 1_000 + offset))
        alerts += monitor.observe_outcome(prediction, label, Position("p.feedback", partition, offset, 2_000 + offset))
    return monitor, alerts


def _batched(config: DriftConfig, stream: list[tuple[int, int, dict[str, Any], Any, Any]], seed: int) -> tuple[DriftMonitor, list[DriftAlert]]:
    monitor = DriftMonitor(config, "batch-test")
    alerts: list[DriftAlert] = []
    rng = random.Random(seed)
    start = 0
    while start < len(stream):
        # A batch: the longest run of one partition, cut at a random size (1 to 900).
        partition = stream[start][0]
        end = start + 1
        limit = start + rng.randint(1, 900)
        while end < len(stream) and end < limit and stream[end][0] == partition:
            end += 1
        chunk = stream[start:end]
        offsets = [offset for _, offset, _, _, _ in chunk]
        alerts += monitor.observe_feature_batch("p.features", partition, [features for _, _, features, _, _ in chunk],
                                                offsets, [1_000 + offset for offset in offsets])
        alerts += monitor.observe_outcome_batch("p.feedback", partition, [c[3] for c in chunk], [c[4] for c in chunk],
                                                offsets, [2_000 + offset for offset in offsets])
        start = end
    return monitor, alerts


def _state(monitor: DriftMonitor) -> dict[str, Any]:
    state: dict[str, Any] = {"metrics": statistics_metrics(monitor), "unscorable": monitor.unscorable,
                             "feature_events": monitor.feature_events}
    for partition, part in monitor.partitions.items():
        state[f"p{partition}"] = {
            "features": part.features.features, "index": part.features.index,
            "missing": dict(part.features.missing), "wrong_type": dict(part.features.wrong_type),
            "concept": (part.concept.index, part.concept.errors, part.concept._warning_start,
                        part.concept.detector._p.get(), part.concept.detector._p_min),
            "logs": (part.feature_log.end_index, len(part.feature_log), part.joined_log.end_index, len(part.joined_log),
                     part.feature_log.window(0, part.feature_log.end_index).to_json(),
                     part.joined_log.window(0, part.joined_log.end_index).to_json()),
        }
    return state


@pytest.mark.parametrize("regression", [False, True], ids=["classification", "regression"])
def test_batches_of_any_size_give_the_per_event_alerts_and_state(regression: bool) -> None:
    concept = ({"task": "regression", "error_threshold": 1.0, "warm_start": 300} if regression
               else {"warm_start": 300})
    config = DriftConfig.model_validate({"positions_kept": 150, "concept": concept})  # short log: windows clip
    stream = _stream(seed=7, regression=regression)
    one_by_one, expected = _per_event(config, stream)
    batched, alerts = _batched(config, stream, seed=11)
    assert _comparable(alerts) == _comparable(expected)
    assert _state(batched) == _state(one_by_one)
    # The comparison has teeth: both tiers fired on both partitions, some windows were clipped,
    # and bad values were counted.
    tiers = {(a.tier, a.detection.kind, a.detected_at.partition) for a in expected}
    assert {("data", "drift", p) for p in range(PARTITIONS)} | {("concept", "drift", p) for p in range(PARTITIONS)} <= tiers
    assert any(a.window.clipped for a in expected)
    assert any(a.detection.detector == "adwin-category" for a in expected)
    assert one_by_one.partitions[0].features.missing["f3"] > 0 and one_by_one.partitions[0].features.wrong_type["f4"] > 0
    assert (one_by_one.unscorable > 0) == regression


def test_a_batch_needs_one_offset_and_timestamp_per_event() -> None:
    monitor = DriftMonitor(DriftConfig())
    with pytest.raises(ValueError, match="2 events, 1 offsets, 2 timestamps"):
        monitor.observe_feature_batch("t", 0, [{"x": 1.0}, {"x": 2.0}], [5], [1, 2])
