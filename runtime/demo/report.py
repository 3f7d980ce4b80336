"""The demo's report: ``index.html`` (self-contained, PNGs embedded), the PNGs and ``summary.json``.

Figures, all against the event index of the stream:

- ``features.png``: each feature's values, red lines where a data drift was detected;
- ``error-rate.png``: the served model's rolling error rate, DDM warnings (orange dashed) and
  drifts (red), the true change points (grey dotted);
- ``accuracy.png``: rolling accuracy of the served model, the online learner and each retrained
  version (on the events it answered);
- ``alpha.png``: HBP's hedge weights α per hidden layer, from the learner's MLflow metrics.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from helicon.runtime.demo.observer import Outcome
from helicon.runtime.demo.scenario import Scenario
from helicon.runtime.drift.report import DRIFT_COLOUR, WARNING_COLOUR, rolling_mean, save_figure

FIGURES = ("features.png", "error-rate.png", "accuracy.png", "alpha.png")


def write_report(out_dir: Path, scenario: Scenario, served: Sequence[Outcome], online: Sequence[tuple[int, bool]],
                 alerts: Sequence[dict[str, Any]], alpha: dict[str, list[tuple[int, float]]],
                 summary: dict[str, Any], rolling: int = 200) -> Path:
    """Draw the figures, write ``summary.json`` and ``index.html`` into ``out_dir``; returns the page."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    points = scenario.change_points()
    figures: list[tuple[Path, str]] = []

    events = list(scenario.stream)
    feature_names = sorted(events[0].features) if events else []
    fig, axes = plt.subplots(len(feature_names), 1, figsize=(11, 1.6 * len(feature_names) + 0.6), sharex=True, squeeze=False)
    for axis, name in zip(axes[:, 0], feature_names):
        axis.plot([e.index for e in events], [e.features[name] for e in events], ",", color="#1f77b4", alpha=0.7)
        axis.set_ylabel(name)
        for alert in alerts:
            if alert.get("tier") == "data" and alert.get("feature") == name and alert.get("kind") == "drift":
                axis.axvline(alert["index"], color=DRIFT_COLOUR, linewidth=1.5)
    axes[-1, 0].set_xlabel("event index")
    fig.suptitle(f"feature values; red: data drift detected (true shift of {points['drifting_feature']} at {points['feature_drift']})")
    figures.append((save_figure(fig, out_dir / "features.png", dpi=90), "Each input feature's values; red lines: ADWIN data drifts."))
    plt.close(fig)

    fig, axis = plt.subplots(figsize=(11, 3.2))
    xs = [o.index for o in served]
    axis.plot(xs, rolling_mean([0.0 if o.correct else 1.0 for o in served], rolling), color="#2ca02c", label="served model error rate")
    _true_changes(axis, points)
    for alert in alerts:
        if alert.get("tier") == "concept":
            drift = alert.get("kind") == "drift"
            axis.axvline(alert["index"], color=DRIFT_COLOUR if drift else WARNING_COLOUR,
                         linestyle="-" if drift else "--", linewidth=1.5 if drift else 0.9)
    axis.set_ylabel(f"error rate (rolling {rolling})")
    axis.set_xlabel("event index (joined examples)")
    axis.set_title("served model's error rate; DDM warnings (orange dashed), drifts (red), true changes (grey dotted)")
    axis.legend(loc="upper left")
    figures.append((save_figure(fig, out_dir / "error-rate.png", dpi=90), "Served model's error rate with DDM warning and drift lines."))
    plt.close(fig)

    fig, axis = plt.subplots(figsize=(11, 3.6))
    axis.plot(xs, rolling_mean([1.0 if o.correct else 0.0 for o in served], rolling), color="#2ca02c", label="served (bridge)")
    axis.plot([i for i, _ in online], rolling_mean([1.0 if c else 0.0 for _, c in online], rolling), color="#9467bd",
              label="online learner (HBP)")
    initial = summary.get("model", {}).get("initial_version")
    for version in sorted({o.version for o in served if o.version != initial}, key=lambda v: int(v) if v.isdigit() else 0):
        mine = [o for o in served if o.version == version]
        axis.plot([o.index for o in mine], rolling_mean([1.0 if o.correct else 0.0 for o in mine], max(20, rolling // 2)),
                  linewidth=1.0, label=f"retrained v{version}")
    _true_changes(axis, points)
    for promotion in summary.get("promotions", []):
        axis.axvline(promotion["index"], color="#17becf", linestyle="-.", linewidth=1.2)
    axis.set_ylim(0, 1.02)
    axis.set_ylabel(f"accuracy (rolling {rolling})")
    axis.set_xlabel("event index")
    axis.set_title("accuracy over time: served vs online learner vs retrained versions (cyan: promotions)")
    axis.legend(loc="lower left", fontsize="small")
    figures.append((save_figure(fig, out_dir / "accuracy.png", dpi=90), "Accuracy over time of the served model, the online learner and each retrained version."))
    plt.close(fig)

    fig, axis = plt.subplots(figsize=(11, 3.2))
    for head, series in sorted(alpha.items()):
        axis.plot([step for step, _ in series], [value for _, value in series], label=f"α layer {head}")
    axis.set_ylim(0, 1.02)
    axis.set_xlabel("examples learnt (≈ event index − feedback delay)")
    axis.set_ylabel("hedge weight α")
    axis.set_title("HBP: weight of each hidden layer's output over time")
    if alpha:
        _true_changes(axis, points)
        axis.legend(loc="upper right", fontsize="small")
    else:
        axis.text(0.5, 0.5, "no α metrics were logged", ha="center", transform=axis.transAxes)
    figures.append((save_figure(fig, out_dir / "alpha.png", dpi=90), "HBP's α over time (the learner's MLflow metrics)."))
    plt.close(fig)

    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n")
    page = out_dir / "index.html"
    page.write_text(_html(summary, figures))
    return page


def _true_changes(axis: Any, points: dict[str, Any]) -> None:
    for key in ("abrupt", "gradual_start", "gradual_end", "feature_drift"):
        axis.axvline(points[key], color="#7f7f7f", linestyle=":", linewidth=1.0)




def _html(summary: dict[str, Any], figures: list[tuple[Path, str]]) -> str:
    images = "\n".join(
        f'<figure><img alt="{html.escape(path.stem)}" src="data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>" for path, caption in figures)
    timeline = "\n".join(f"<tr><td>{html.escape(str(row.get('index', '')))}</td><td>{html.escape(row['what'])}</td></tr>"
                         for row in summary.get("timeline", []))
    points = summary.get("change_points", {})
    facts = [
        ("mode", f"{summary.get('mode')} · {summary.get('events')} events · seed {summary.get('seed')}"),
        ("duration", f"{summary.get('duration_s', 0):.0f} s"),
        ("true changes", f"abrupt at {points.get('abrupt')}, gradual {points.get('gradual_start')}–{points.get('gradual_end')}, "
                         f"{points.get('drifting_feature')} shifted at {points.get('feature_drift')}"),
        ("concept drifts detected at", ", ".join(str(i) for i in summary.get("concept_drifts", [])) or "none"),
        ("data drifts detected at", ", ".join(f"{d['feature']}@{d['index']}" for d in summary.get("data_drifts", [])) or "none"),
        ("triggers / retrained versions", f"{len(summary.get('triggers', []))} / "
                                          f"{', '.join('v' + str(r['version']) for r in summary.get('retrains', []) if r.get('version')) or 'none'}"),
        ("champion", f"v{summary.get('model', {}).get('initial_version')} → v{summary.get('model', {}).get('champion_version')}"),
    ]
    rows = "\n".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in facts)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Helicon demo report</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}img{{max-width:100%}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left}}
figcaption{{color:#555;margin-bottom:1.5em}}</style></head>
<body><h1>Helicon demo: the streaming-ML loop</h1>
<table>{rows}</table>
{images}
<h2>Timeline</h2>
<table><tr><th>event index</th><th>what happened</th></tr>
{timeline}
</table>
<p>Facts as JSON: <code>summary.json</code> next to this page.</p>
</body></html>
"""
