"""The evaluation harness: the paper's streams, HBP-20 against fixed depths and river baselines.

``helicon learn harness`` generates the stationary deep-network stream (Syn8) and the two
concept-drift streams (CD1: C1→C2→C1, CD2: C1→C2→C3) of Sahoo et al. (2018, Table 1), runs every
model prequentially on each, and writes a Markdown results table (cumulative error % at checkpoints
of the stream — 1k, 5k, 20k, … — and at its end, as the paper's Table 4, plus the error over the last
fifth of the stream) and one plot per stream of HBP's α over time, with the drift points marked.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from helicon.runtime.learn.prequential import PrequentialMetrics
from helicon.runtime.learn.spec import build_model
from helicon.runtime.learn.synthetic import paper_stream

DEPTHS = (2, 3, 4, 8, 16, 20)
RIVER_BASELINES = (
    "river:preprocessing.StandardScaler|linear_model.LogisticRegression",
    "river:tree.HoeffdingAdaptiveTreeClassifier",
)
CHECKPOINTS = (1_000, 5_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000)
STREAMS = {"syn8": "Syn8 (stationary, 8-layer target)", "cd1": "CD1 (C1→C2→C1)", "cd2": "CD2 (C1→C2→C3)"}


def default_models(units: int = 100) -> list[str]:
    """HBP-20 (hedge on ``1 − p(y)``, and on min-max-scaled losses), the fixed depths, river."""
    return [f"hbp:layers=20,units={units}", f"hbp:layers=20,units={units},hedge_loss=minmax",
            *(f"mlp:layers={depth},units={units}" for depth in DEPTHS), *RIVER_BASELINES]


def run_one(spec: str, rows: Sequence[tuple[dict[str, Any], int]], alpha_every: int) -> dict[str, Any]:
    """Prequential run of one model; returns error %, last-fifth error %, rate and α trace."""
    model = build_model(spec, task="classification")
    scores = PrequentialMetrics("classification")
    tail = PrequentialMetrics("classification")
    tail_start = len(rows) - len(rows) // 5
    alpha_trace: list[tuple[int, list[float]]] = []
    at: dict[int, float] = {}
    started = time.perf_counter()
    for index, (features, label) in enumerate(rows):
        prediction = model.predict_one(features)
        scores.update(label, prediction)
        if index >= tail_start:
            tail.update(label, prediction)
        model.learn_one(features, label)
        if index + 1 in CHECKPOINTS:
            at[index + 1] = 100 * (1 - scores.values()["accuracy"])
        if spec.startswith("hbp") and (index + 1) % alpha_every == 0:
            alpha_trace.append((index + 1, list(model.alpha)))
    seconds = time.perf_counter() - started
    return {"model": spec, "error": 100 * (1 - scores.values()["accuracy"]), "error_at": at,
            "tail_error": 100 * (1 - tail.values()["accuracy"]), "rate": len(rows) / seconds,
            "alpha": alpha_trace}


def run_harness(examples: int, output: Path, models: Sequence[str] | None = None, streams: Sequence[str] = tuple(STREAMS),
                seed: int = 0, units: int = 100, log: Any = print) -> Path:
    """Run every model on every stream; write ``learning-results.md``, ``results.json`` and α plots to ``output``."""
    output.mkdir(parents=True, exist_ok=True)
    models = list(models or default_models(units))
    results: dict[str, list[dict[str, Any]]] = {}
    for stream in streams:
        rows = list(paper_stream(stream, examples, seed=seed))
        results[stream] = []
        for spec in models:
            outcome = run_one(spec, rows, alpha_every=max(examples // 200, 1))
            log(f"{stream:5s} {spec:70s} error {outcome['error']:6.2f}%  last fifth {outcome['tail_error']:6.2f}%  {outcome['rate']:8.0f} ex/s")
            results[stream].append(outcome)
        hbp = next((outcome for outcome in results[stream] if outcome["model"].startswith("hbp")), None)
        if hbp is not None and hbp["alpha"]:
            plot_alpha(hbp["alpha"], output / f"alpha-{stream}.png", f"HBP-20 α over time — {STREAMS[stream]}",
                       segments=1 if stream == "syn8" else 3, examples=examples)
    (output / "results.json").write_text(json.dumps({"examples": examples, "seed": seed, "results": results}))
    path = output / "learning-results.md"
    path.write_text(render_table(results, examples, seed))
    return path


def render_table(results: dict[str, list[dict[str, Any]]], examples: int, seed: int) -> str:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    marks = [mark for mark in CHECKPOINTS if mark < examples] + [examples]
    lines = [
        "# Online deep learning: HBP-20 against fixed depths and river baselines",
        "",
        f"Prequential (test-then-train), single pass, batch size 1; {examples:,} examples per stream, seed {seed}.",
        f"Machine: {platform.machine()}, nproc {os.cpu_count()}, load average {load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f} "
        "(rates are noisy when the machine is shared).",
        f"Written by `helicon learn harness --examples {examples} --seed {seed}`; rerun it to reproduce.",
        "Error = cumulative error rate (%) after the first *n* examples (the paper's Table 4 reports it at",
        "the end of the stream); *last fifth* = error over the last 20% of the stream. Best per column in bold.",
        "",
    ]
    for stream, outcomes in results.items():
        columns = [*(f"{mark:,}" for mark in marks), "last fifth"]
        lines += [f"## {STREAMS.get(stream, stream)}", "",
                  "| model | " + " | ".join(f"error @ {column}" if column != "last fifth" else column for column in columns)
                  + " | ex/s |",
                  "|---|" + "---|" * len(columns) + "---|"]
        values = {outcome["model"]: [*(_at(outcome, mark, examples) for mark in marks), outcome["tail_error"]]
                  for outcome in outcomes}
        best = [min(row[index] for row in values.values()) for index in range(len(columns))]
        for outcome in outcomes:
            cells = [f"**{value:.2f}**" if abs(value - best[index]) < 1e-9 else f"{value:.2f}"
                     for index, value in enumerate(values[outcome["model"]])]
            escaped = outcome["model"].replace("|", "\\|")  # a pipeline's "|" would split the Markdown cell
            lines.append(f"| `{escaped}` | " + " | ".join(cells) + f" | {outcome['rate']:,.0f} |")
        lines += ["", f"![α over time, {stream}](alpha-{stream}.png)", ""]
    return "\n".join(lines)


def _at(outcome: dict[str, Any], mark: int, examples: int) -> float:
    if mark == examples:
        return float(outcome["error"])
    return float(outcome["error_at"].get(mark, outcome["error_at"].get(str(mark), float("nan"))))


def plot_alpha(trace: list[tuple[int, list[float]]], path: Path, title: str, segments: int, examples: int) -> None:
    """A heat map of α (heads × time), with the concept boundaries as dashed lines."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    steps = [step for step, _ in trace]
    alpha = np.array([values for _, values in trace]).T       # heads × time
    figure, axes = plt.subplots(figsize=(9, 4.5))
    image = axes.imshow(alpha, aspect="auto", origin="lower", cmap="viridis",
                        extent=(0, steps[-1], 0.5, alpha.shape[0] + 0.5))
    axes.plot(steps, 1 + alpha.argmax(axis=0), color="white", linewidth=1, label="head with the largest α")
    for boundary in range(1, segments):
        axes.axvline(boundary * examples / segments, color="red", linestyle="--", linewidth=1)
    axes.set_xlabel("examples seen")
    axes.set_ylabel("head (hidden layer)")
    axes.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    axes.set_title(title)
    axes.legend(loc="upper right", fontsize=8)
    figure.colorbar(image, ax=axes, label="α")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
