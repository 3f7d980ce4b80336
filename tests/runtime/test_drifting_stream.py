"""The demo's drifting stream has its changes exactly where it says."""

from __future__ import annotations

import doctest
from collections import Counter
from statistics import mean

import pytest

from helicon.runtime.demo import drifting_stream
from helicon.runtime.demo.drifting_stream import CONCEPTS, DriftingStream


def test_docstring_examples_run() -> None:
    failures, tried = doctest.testmod(drifting_stream)
    assert tried > 0 and failures == 0


def test_same_seed_same_stream_other_seed_other_stream() -> None:
    assert list(DriftingStream(length=50, seed=3)) == list(DriftingStream(length=50, seed=3))
    assert list(DriftingStream(length=50, seed=3)) != list(DriftingStream(length=50, seed=4))


def test_concepts_change_at_the_documented_points() -> None:
    stream = DriftingStream(length=6_000, label_noise=0.0)
    events = list(stream)
    assert {event.concept for event in events[: stream.abrupt_at]} == {"C1"}
    assert {event.concept for event in events[stream.abrupt_at: stream.gradual_start]} == {"C2"}
    assert {event.concept for event in events[stream.gradual_end:]} == {"C3"}
    middle = Counter(event.concept for event in events[stream.gradual_start: stream.gradual_end])
    assert 0.35 < middle["C3"] / sum(middle.values()) < 0.65
    for event in events:
        score = sum(weight * event.features[name] for weight, name in zip(CONCEPTS[event.concept], sorted(event.features)))
        assert event.label == int(score > 0)


def test_a_c1_rule_fails_after_the_abrupt_change() -> None:
    stream = DriftingStream(length=3_000, label_noise=0.0)
    events = list(stream)

    def c1_accuracy(window: list) -> float:  # noqa: ANN001
        return mean(int((event.features["f0"] + event.features["f1"] > 0) == event.label) for event in window)

    assert c1_accuracy(events[: stream.abrupt_at]) == 1.0
    assert c1_accuracy(events[stream.abrupt_at:]) < 0.7


def test_only_f3_drifts_and_by_the_configured_shift() -> None:
    stream = DriftingStream(length=8_000)
    events = list(stream)
    before, after = events[: stream.feature_drift_at], events[stream.feature_drift_at:]
    assert abs(mean(e.features["f3"] for e in after) - mean(e.features["f3"] for e in before) - stream.feature_shift) < 0.15
    for name in ("f0", "f1", "f2"):
        assert abs(mean(e.features[name] for e in after) - mean(e.features[name] for e in before)) < 0.15


def test_impossible_change_points_are_refused() -> None:
    with pytest.raises(ValueError, match="abrupt_at <= gradual_start <= gradual_end"):
        DriftingStream(abrupt_at=5_000, gradual_start=1_000)
