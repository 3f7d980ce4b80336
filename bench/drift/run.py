"""Benchmark: Helicon's drift monitor vs a bare river update loop, on the same data, in one run.

    .venv/bin/python bench/drift/run.py [--events 50000] [--repeats 3]

Writes bench/results/drift.md. Both sides see the same 20 Gaussian features (a 1σ shift in 5 of
them halfway) and the same 0/1 error stream (0.1 → 0.3 halfway):

- **bare river**: 20 ``river.drift.ADWIN`` and one ``river.drift.binary.DDM``, each ``update``d in
  a plain loop — the floor any river-based monitor pays;
- **Helicon**: ``DriftMonitor.observe_feature_batch`` + ``observe_outcome_batch`` with the same
  detector parameters, in batches of 500 events as the service calls them — adds type checks per
  value, missing-value counting, per-partition state, the fresh-data position log (offset and
  event time of every event) and alert construction.

Best of ``repeats`` runs each, alternating the two, timed in CPU time of this process
(``time.process_time``): on a shared machine wall time mostly measures the neighbours.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import time
from pathlib import Path

from river import drift
from river.drift import binary

from helicon.runtime.drift.config import DriftConfig
from helicon.runtime.drift.monitor import DriftMonitor
from helicon.runtime.drift.window import Position

FEATURES = 20
#: events per call, as the service's default `batch_size`
BATCH = 500


def make_data(events: int, seed: int = 0) -> tuple[list[dict[str, float]], list[tuple[int, int]]]:
    rng = random.Random(seed)
    rows, outcomes = [], []
    for index in range(events):
        late = index >= events // 2
        rows.append({f"f{k:02d}": rng.gauss(1.0 if late and k < 5 else 0.0, 1.0) for k in range(FEATURES)})
        prediction = rng.randrange(2)
        wrong = rng.random() < (0.3 if late else 0.1)
        outcomes.append((prediction, 1 - prediction if wrong else prediction))
    return rows, outcomes


def bare_river(rows: list[dict[str, float]], outcomes: list[tuple[int, int]], config: DriftConfig) -> tuple[float, int]:
    spec, concept = config.default, config.concept
    detectors = {name: drift.ADWIN(delta=spec.delta, clock=spec.clock, min_window_length=spec.min_window_length,
                                   grace_period=spec.grace_period) for name in rows[0]}
    ddm = binary.DDM(warm_start=concept.warm_start, warning_threshold=concept.warning_threshold,
                     drift_threshold=concept.drift_threshold)
    found = 0
    started = time.process_time()
    for row, (prediction, label) in zip(rows, outcomes):
        for name, value in row.items():
            detector = detectors[name]
            detector.update(value)
            found += detector.drift_detected
        ddm.update(prediction != label)
        found += ddm.drift_detected
    return time.process_time() - started, found


def helicon(rows: list[dict[str, float]], outcomes: list[tuple[int, int]], config: DriftConfig,
            batch: int = BATCH) -> tuple[float, int]:
    monitor = DriftMonitor(config, "bench")
    found = 0
    started = time.process_time()
    # As the service feeds it: a consumed batch's feature events of one partition at once, with
    # their offsets and event times (here the offset doubles as the time).
    for first in range(0, len(rows), batch):
        last = min(first + batch, len(rows))
        offsets = range(first, last)
        stamps = list(offsets)
        outcome = outcomes[first:last]
        alerts = monitor.observe_feature_batch("bench.features", 0, rows[first:last], offsets, stamps)
        alerts += monitor.observe_outcome_batch("bench.feedback", 0, [p for p, _ in outcome], [label for _, label in outcome],
                                                offsets, stamps)
        if alerts:
            found += sum(alert.detection.kind == "drift" for alert in alerts)
    return time.process_time() - started, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "results" / "drift.md")
    args = parser.parse_args()
    config = DriftConfig()
    rows, outcomes = make_data(args.events)
    sides = (("bare river loop (20 ADWIN + DDM)", bare_river), ("Helicon DriftMonitor", helicon))
    timings: dict[str, list[tuple[float, int]]] = {name: [] for name, _ in sides}
    for _ in range(args.repeats):  # alternate the two, so that a burst of load hits both alike
        for name, run in sides:
            timings[name].append(run(rows, outcomes, config))
    results = {name: (args.events / min(t for t, _ in runs), runs[0][1]) for name, runs in timings.items()}
    bare = results["bare river loop (20 ADWIN + DDM)"][0]
    load = os.getloadavg()
    lines = [
        "# Drift monitor benchmark",
        "",
        f"Command: `.venv/bin/python bench/drift/run.py --events {args.events} --repeats {args.repeats}`",
        "",
        f"Machine: {platform.processor() or platform.machine()}, nproc {os.cpu_count()}, load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end (other processes on the machine show in the load average; CPU-time figures are the steadier ones).",
        f"Python {platform.python_version()}; {args.events} events × {FEATURES} features + one DDM update each; "
        f"best of {args.repeats}, alternating, in process CPU time.",
        "",
        "| implementation | events/s | × bare river | drifts found |",
        "|---|---|---|---|",
        *[f"| {name} | {rate:,.0f} | {rate / bare:.2f} | {found} |" for name, (rate, found) in results.items()],
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
