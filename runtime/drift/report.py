"""``helicon drift report``: figures of a replay (or of the topics and their alerts) — each feature with its detections, and the error
rate with DDM warnings and drifts — as PNG files and one self-contained HTML page.

Red vertical lines: drifts. Orange dashed lines: warnings. The error rate is a rolling mean over
``rolling`` joined examples, drawn against the event index.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helicon.runtime.drift.config import DriftConfig
from helicon.runtime.drift.replay import ReplayEvent, replay_events

DRIFT_COLOUR = "#d62728"
WARNING_COLOUR = "#ff7f0e"


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    figures: tuple[Path, ...]
    detections: Path


def render_report(events: list[ReplayEvent], config: DriftConfig, out_dir: Path, title: str = "Helicon drift report",
                  rolling: int = 100, detections: list[dict[str, Any]] | None = None,
                  x_label: str = "event index") -> ReportFiles:
    """Draw ``events`` with their detections into ``out_dir`` and write ``report.html`` next to them.

    The detections are those of a replay of ``events`` unless given (e.g. read from the alerts topic).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    if detections is None:
        detections = list(replay_events(events, config))
    detections_file = out_dir / "detections.jsonl"
    detections_file.write_text("".join(json.dumps(d, default=float) + "\n" for d in detections))

    figures: list[Path] = []
    series: dict[str, tuple[list[int], list[float]]] = {}
    categorical: dict[str, tuple[list[int], list[str]]] = {}
    errors: tuple[list[int], list[float]] = ([], [])
    for event in events:
        for name, value in event.features.items():
            if isinstance(value, (int, float)):
                xs, ys = series.setdefault(name, ([], []))
                xs.append(event.index)
                ys.append(float(value))
            elif isinstance(value, str):
                xs_c, ys_c = categorical.setdefault(name, ([], []))
                xs_c.append(event.index)
                ys_c.append(value)
        if event.has_outcome:
            errors[0].append(event.index)
            errors[1].append(float(_is_error(config, event)))

    for name in sorted({*series, *categorical}):
        fig, axis = plt.subplots(figsize=(10, 3))
        if name in series:
            xs, ys = series[name]
            axis.plot(xs, ys, ",", color="#1f77b4", alpha=0.6)
            axis.set_ylabel(name)
        else:
            xs_c, ys_c = categorical[name]
            levels = sorted(set(ys_c))
            axis.plot(xs_c, [levels.index(v) for v in ys_c], ",", color="#1f77b4", alpha=0.6)
            axis.set_yticks(range(len(levels)), levels)
        _mark(axis, [d for d in detections if d["feature"] == name])
        axis.set_xlabel(x_label)
        axis.set_title(f"{name}: values and detections")
        figures.append(save_figure(fig, out_dir / f"feature-{_slug(name)}.png"))
        plt.close(fig)

    if errors[0]:
        fig, axis = plt.subplots(figsize=(10, 3))
        axis.plot(errors[0], rolling_mean(errors[1], rolling), color="#2ca02c")
        axis.set_ylabel(f"error rate (rolling {rolling})")
        axis.set_xlabel(x_label)
        _mark(axis, [d for d in detections if d["tier"] == "concept"])
        axis.set_title(f"error rate with {config.concept.detector.upper()} warnings and drifts")
        figures.append(save_figure(fig, out_dir / "error-rate.png"))
        plt.close(fig)

    page = out_dir / "report.html"
    page.write_text(_html(title, figures, detections))
    return ReportFiles(page, tuple(figures), detections_file)


def _is_error(config: DriftConfig, event: ReplayEvent) -> bool:
    from helicon.runtime.drift.concept import is_error

    try:
        return is_error(config.concept, event.prediction, event.label)
    except ValueError:
        return False


def _mark(axis: Any, detections: list[dict[str, Any]]) -> None:
    for detection in detections:
        drift = detection["kind"] == "drift"
        axis.axvline(detection["index"], color=DRIFT_COLOUR if drift else WARNING_COLOUR,
                     linestyle="-" if drift else "--", linewidth=1.2 if drift else 0.8)


def rolling_mean(values: list[float], width: int) -> list[float]:
    """The mean of each value with up to ``width - 1`` before it (a plotting aid)."""
    out, total = [], 0.0
    for position, value in enumerate(values):
        total += value
        if position >= width:
            total -= values[position - width]
        out.append(total / min(position + 1, width))
    return out


def save_figure(fig: Any, path: Path, dpi: int = 100) -> Path:
    """Lay ``fig`` out tightly and write it to ``path`` (PNG)."""
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    return path


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)


def _html(title: str, figures: list[Path], detections: list[dict[str, Any]]) -> str:
    images = "\n".join(
        f'<figure><img alt="{html.escape(path.stem)}" src="data:image/png;base64,'
        f'{base64.b64encode(path.read_bytes()).decode()}"><figcaption>{html.escape(path.stem)}</figcaption></figure>'
        for path in figures)
    rows = "\n".join(
        f"<tr><td>{d['index']}</td><td>{html.escape(d['kind'])}</td><td>{html.escape(d['detector'])}</td>"
        f"<td>{html.escape(str(d['feature'] or 'error rate'))}</td><td>{d['window']['first_event']}–{d['window']['last_event']}</td></tr>"
        for d in detections)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}img{{max-width:100%}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 8px}}</style></head>
<body><h1>{html.escape(title)}</h1>
<p>{len(detections)} detections. Red lines: drift; orange dashed: warning.</p>
{images}
<h2>Detections</h2>
<table><tr><th>index</th><th>kind</th><th>detector</th><th>feature</th><th>fresh-data window (events)</th></tr>
{rows}
</table></body></html>
"""
