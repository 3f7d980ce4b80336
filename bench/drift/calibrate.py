"""Calibrate the drift detectors: false alarms on stationary seeded streams, delay on known changes.

    .venv/bin/python bench/drift/calibrate.py [--seeds 20] [--length 10000] > docs/drift-calibration.md

Every stream is seeded (seed 0..seeds-1), so the table is reproducible bit for bit. Numeric
detectors see N(0,1) values, with the mean moving by `shift` σ at the change point in the change
runs. Binary detectors see a 0/1 error stream with rate 0.10, moving to 0.20 or 0.30.
The false-alarm column counts detections per 10 000 stationary events (mean over seeds);
delay is events from the change to the first detection at or after it (median and 90th
percentile over the seeds that detected within `horizon` events); "found" is that share.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from helicon.runtime.drift.concept import build_binary_detector
from helicon.runtime.drift.config import ConceptSpec, FeatureDetectorSpec
from helicon.runtime.drift.feature_detectors import build_numeric_detector

NUMERIC = {
    "ADWIN δ=0.002 (river default)": FeatureDetectorSpec(detector="adwin", delta=0.002, grace_period=10),
    "ADWIN δ=0.0002, grace 100 (Helicon default)": FeatureDetectorSpec(detector="adwin", delta=0.0002),
    "ADWIN δ=0.00002, grace 100": FeatureDetectorSpec(detector="adwin", delta=0.00002),
    "PageHinkley λ=50 (river default)": FeatureDetectorSpec(detector="page_hinkley", ph_threshold=50),
    "PageHinkley λ=100 (Helicon default)": FeatureDetectorSpec(detector="page_hinkley", ph_threshold=100),
    "KSWIN α=0.005 (river default sizes 100/30)": FeatureDetectorSpec(detector="kswin", kswin_alpha=0.005, kswin_window_size=100, kswin_stat_size=30),
    "KSWIN α=0.0001, 200/50 (Helicon default)": FeatureDetectorSpec(detector="kswin"),
}
BINARY = {
    "DDM warm 30, 2σ/3σ (river default)": ConceptSpec(detector="ddm", warm_start=30, warning_threshold=2, drift_threshold=3),
    "DDM warm 300, 2σ/3σ": ConceptSpec(detector="ddm", warm_start=300, warning_threshold=2, drift_threshold=3),
    "DDM warm 300, 3σ/4σ": ConceptSpec(detector="ddm", warm_start=300, warning_threshold=3, drift_threshold=4),
    "DDM warm 1000, 2σ/3σ": ConceptSpec(detector="ddm", warm_start=1000, warning_threshold=2, drift_threshold=3),
    "DDM warm 1000, 3σ/4σ (Helicon default)": ConceptSpec(detector="ddm", warm_start=1000, warning_threshold=3, drift_threshold=4),
    "EDDM (river default)": ConceptSpec(detector="eddm", warm_start=30),
    "HDDM_A (river default)": ConceptSpec(detector="hddm_a"),
    "HDDM_W (river default)": ConceptSpec(detector="hddm_w"),
}


def run(detector: Any, values: list[Any]) -> tuple[list[int], list[int]]:
    drifts, warnings = [], []
    was_warning = False
    for index, value in enumerate(values):
        detector.update(value)
        if detector.drift_detected:
            drifts.append(index)
        warning = bool(getattr(detector, "warning_detected", False))
        if warning and not was_warning:
            warnings.append(index)
        was_warning = warning
    return drifts, warnings


def measure(make: Callable[[], Any], stream: Callable[[int, int | None], list[Any]], seeds: int, length: int,
            change_at: int, horizon: int) -> dict[str, float]:
    false_alarms, false_warnings, delays = [], [], []
    for seed in range(seeds):
        drifts, warnings = run(make(), stream(seed, None))
        false_alarms.append(len(drifts) * 10_000 / length)
        false_warnings.append(len(warnings) * 10_000 / length)
        drifts, _ = run(make(), stream(seed + 10_000, change_at))
        after = [index - change_at for index in drifts if index >= change_at]
        if after and after[0] <= horizon:
            delays.append(after[0])
    found = len(delays) / seeds
    return {"false": statistics.mean(false_alarms), "false_warn": statistics.mean(false_warnings), "found": found,
            "median": statistics.median(delays) if delays else float("nan"),
            "p90": sorted(delays)[min(len(delays) - 1, math.ceil(0.9 * len(delays)) - 1)] if delays else float("nan")}


def gaussian(length: int, shift: float) -> Callable[[int, int | None], list[float]]:
    def make(seed: int, change_at: int | None) -> list[float]:
        rng = random.Random(seed)
        return [rng.gauss(shift if change_at is not None and i >= change_at else 0.0, 1.0) for i in range(length)]
    return make


def bernoulli(length: int, before: float, after: float) -> Callable[[int, int | None], list[bool]]:
    def make(seed: int, change_at: int | None) -> list[bool]:
        rng = random.Random(seed)
        return [rng.random() < (after if change_at is not None and i >= change_at else before) for i in range(length)]
    return make


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--length", type=int, default=10_000)
    parser.add_argument("--horizon", type=int, default=2_000)
    parser.add_argument("--match", default="", help="Only detectors whose name contains this text.")
    parser.add_argument("--only", choices=("numeric", "binary"), default=None, help="Run one of the two tables.")
    args = parser.parse_args()
    change_at = args.length // 2
    started = time.perf_counter()
    out = sys.stdout
    out.write(f"Seeds {args.seeds}, {args.length} events per stream, change at {change_at}, "
              f"found = detected within {args.horizon} events.\n\n")
    numeric = {} if args.only == "binary" else {k: v for k, v in NUMERIC.items() if args.match in k}
    binary = {} if args.only == "numeric" else {k: v for k, v in BINARY.items() if args.match in k}
    out.write("| numeric detector | false alarms / 10k | shift | found | delay median | delay p90 |\n|---|---|---|---|---|---|\n")
    for name, spec in numeric.items():
        for shift in (0.5, 1.0, 2.0):
            result = measure(lambda spec=spec: build_numeric_detector(spec), gaussian(args.length, shift),
                             args.seeds, args.length, change_at, args.horizon)
            out.write(f"| {name} | {result['false']:.2f} | {shift}σ | {result['found']:.0%} | "
                      f"{result['median']:.0f} | {result['p90']:.0f} |\n")
            out.flush()
    out.write("\n| binary detector | false drifts / 10k | warning zones / 10k | error rate | found | delay median | delay p90 |\n"
              "|---|---|---|---|---|---|---|\n")
    for name, spec in binary.items():
        for after in (0.2, 0.3):
            result = measure(lambda spec=spec: build_binary_detector(spec), bernoulli(args.length, 0.1, after),
                             args.seeds, args.length, change_at, args.horizon)
            out.write(f"| {name} | {result['false']:.2f} | {result['false_warn']:.1f} | 0.1→{after} | {result['found']:.0%} | "
                      f"{result['median']:.0f} | {result['p90']:.0f} |\n")
            out.flush()
    out.write(f"\n(measured in {time.perf_counter() - started:.0f} s)\n")


if __name__ == "__main__":
    main()
