"""Data and concept drift on seeded synthetic streams with known change points.

Documented delays (docs/drift.md, from bench/drift/calibrate.py): ADWIN with the defaults finds a
1σ mean shift within 200 events and a 2σ shift within 100; DDM finds an error rate moving from
0.10 to 0.30 within 1000 joined examples. No detection on stationary seeded streams.
"""

from __future__ import annotations

import doctest
import importlib
import random

import pytest

from helicon.runtime.drift.concept import ConceptDriftMonitor, is_error
from helicon.runtime.drift.config import ConceptSpec, DriftConfig, FeatureDetectorSpec
from helicon.runtime.drift.feature_detectors import FeatureDriftMonitor
from helicon.runtime.drift.synthetic import feature_stream, outcome_stream

ADWIN_DELAY_1SIGMA = 200
ADWIN_DELAY_2SIGMA = 100
DDM_DELAY = 1_000


@pytest.mark.parametrize("module", ["config", "feature_detectors", "concept", "window", "monitor", "signing",
                                    "trigger_payloads", "throttle", "replay", "synthetic"])
def test_docstring_examples_run(module: str) -> None:
    failures, tried = doctest.testmod(importlib.import_module(f"helicon.runtime.drift.{module}"))
    assert tried > 0 and failures == 0


@pytest.mark.parametrize("seed", range(8))
def test_adwin_finds_each_drifting_feature_within_the_documented_delay_and_only_those(seed: int) -> None:
    monitor = FeatureDriftMonitor(DriftConfig())
    stream = feature_stream(n=4_000, features=5, change_at=(2_000,), shift=1.0, seed=seed, drifting=3)
    detections = [d for row in stream for d in monitor.update(row["features"])]
    first = {}
    for detection in detections:
        first.setdefault(detection.feature, detection)
    assert set(first) == {"f00", "f01", "f02"}, detections
    for feature, detection in first.items():
        assert 2_000 <= detection.index <= 2_000 + ADWIN_DELAY_1SIGMA, (feature, detection)
        # ADWIN's retained window holds all the post-change data seen; being made of exponential
        # buckets it also holds pre-change data, up to its largest bucket (1024 at this length;
        # docs/drift.md, "fresh-data window").
        assert 2_000 - 1_024 <= detection.window_start <= 2_000


@pytest.mark.parametrize("detector", ["adwin", "page_hinkley", "kswin"])
def test_every_numeric_detector_finds_a_two_sigma_shift(detector: str) -> None:
    config = DriftConfig(default=FeatureDetectorSpec(detector=detector))
    delays = []
    for seed in range(3):
        monitor = FeatureDriftMonitor(config)
        found = [d.index for row in feature_stream(2_000, 1, (1_000,), 2.0, seed=seed)
                 for d in monitor.update(row["features"]) if d.index >= 1_000]
        assert found, f"{detector} missed the change (seed {seed})"
        delays.append(found[0] - 1_000)
    limit = 100 if detector != "page_hinkley" else 120
    assert sorted(delays)[1] <= limit, delays


def test_no_detection_on_stationary_seeded_streams() -> None:
    detections = []
    for seed in range(10):
        monitor = FeatureDriftMonitor(DriftConfig())
        detections += [d for row in feature_stream(10_000, 4, seed=100 + seed) for d in monitor.update(row["features"])]
    assert detections == []


def test_categorical_frequency_change_is_a_drift_of_that_feature() -> None:
    rng = random.Random(5)
    monitor = FeatureDriftMonitor(DriftConfig())
    detections = []
    for index in range(6_000):
        weights = (0.6, 0.3, 0.1) if index < 3_000 else (0.3, 0.3, 0.4)
        colour = rng.choices(["red", "green", "blue"], weights)[0]
        detections += monitor.update({"colour": colour})
    assert detections and all(d.feature == "colour" and d.detector == "adwin-category" for d in detections)
    assert 3_000 <= detections[0].index <= 3_000 + ADWIN_DELAY_1SIGMA
    assert {d.statistics["category"] for d in detections} & {"red", "blue"}


def test_stationary_categorical_feature_raises_nothing() -> None:
    rng = random.Random(6)
    monitor = FeatureDriftMonitor(DriftConfig())
    assert [d for _ in range(10_000) for d in monitor.update({"c": rng.choice("abcd")})] == []


def test_missing_and_wrong_typed_values_are_counted_not_fatal() -> None:
    monitor = FeatureDriftMonitor(DriftConfig())
    monitor.update({"x": 1.0, "c": "a"})
    monitor.update({"x": "oops", "c": 3})
    monitor.update({"c": None})
    monitor.update({"x": [1, 2], "c": "b"})
    assert monitor.wrong_type == {"x": 2, "c": 1}
    assert monitor.missing == {"x": 1, "c": 1}
    assert monitor.features == ["c", "x"]


@pytest.mark.parametrize("seed", range(5))
def test_ddm_warns_then_drifts_within_the_documented_delay(seed: int) -> None:
    monitor = ConceptDriftMonitor(ConceptSpec())
    rows = outcome_stream(6_000, (3_000,), 0.1, 0.3, seed=seed)
    detections = [d for row in rows for d in monitor.update(row["prediction"] != row["label"])]
    drifts = [d for d in detections if d.kind == "drift"]
    assert drifts and drifts[0].index >= 3_000 and drifts[0].index - 3_000 <= DDM_DELAY, detections
    # The fresh data start at the warning that preceded the drift, after the change.
    assert 3_000 <= drifts[0].window_start <= drifts[0].index


def test_ddm_raises_no_drift_on_stationary_seeded_error_streams() -> None:
    drifts = []
    for seed in range(10):
        monitor = ConceptDriftMonitor(ConceptSpec())
        drifts += [d for row in outcome_stream(10_000, seed=200 + seed) for d in monitor.update(row["prediction"] != row["label"])
                   if d.kind == "drift"]
    assert drifts == []


@pytest.mark.parametrize("detector", ["eddm", "hddm_a", "hddm_w"])
def test_other_binary_detectors_are_selectable_and_detect(detector: str) -> None:
    monitor = ConceptDriftMonitor(ConceptSpec(detector=detector))
    rows = outcome_stream(6_000, (3_000,), 0.1, 0.4, seed=1)
    drifts = [d for row in rows for d in monitor.update(row["prediction"] != row["label"]) if d.kind == "drift"]
    assert any(d.index >= 3_000 for d in drifts) and all(d.detector == detector for d in drifts)


def test_error_indicator_for_classification_and_regression() -> None:
    classification = ConceptSpec()
    assert is_error(classification, 1, 1.0) is False and is_error(classification, True, 1) is False
    assert is_error(classification, "cat", "dog") is True
    regression = ConceptSpec(task="regression", error_threshold=0.5)
    assert is_error(regression, 2.0, 2.4) is False and is_error(regression, 2.0, 2.6) is True
    with pytest.raises(ValueError, match="numeric"):
        is_error(regression, "a", 1)


@pytest.mark.parametrize("raw,field", [
    ({"default": {"delta": 0}}, "default.delta"),
    ({"features": {"x": {"detector": "cusum"}}}, "features.x.detector"),
    ({"concept": {"task": "regression"}}, "concept"),
    ({"drift": {"triggers": [{"url": "not a url"}]}}, "drift.triggers.0.url"),
    ({"unknown": 1}, "unknown"),
])
def test_bad_config_names_the_field(raw: dict, field: str, tmp_path) -> None:  # noqa: ANN001
    import yaml

    from helicon.runtime.drift.config import ConfigError, load_config

    path = tmp_path / "drift.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=f"{path}: {field}"):
        load_config(path)
