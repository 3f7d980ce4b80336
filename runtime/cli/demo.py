"""``helicon demo``: the whole streaming-ML loop on the local platform, live, with a report."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from helicon.runtime.cli.errors import user_errors

console = Console()


def demo(
    state_dir: Annotated[Path, typer.Option("--state-dir", envvar="HELICON_STATE_DIR", help="Local platform state directory.")] = Path(".helicon"),
    events: Annotated[int | None, typer.Option("--events", min=1000, help="Events to stream (default 6000; 3600 with --short); the change points scale with it.")] = None,
    pipeline: Annotated[str, typer.Option("--pipeline", help="Pipeline name; topics are PIPELINE.features etc. (reset at start).")] = "demo",
    keep_up: Annotated[bool, typer.Option("--keep-up/--no-keep-up", help="Leave the platform running afterwards (default: stop it if this command started it).")] = False,
    short: Annotated[bool, typer.Option("--short", help="CI mode: fewer events, shorter phases; the same checks hold.")] = False,
    report: Annotated[Path, typer.Option("--report", help="Directory for index.html, the PNG figures and summary.json.")] = Path("demo-report"),
    live: Annotated[bool | None, typer.Option("--live/--no-live", help="Rich live view, or plain log lines (default: live on a terminal).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the drifting stream.")] = 7,
) -> None:
    """Stream a drifting dataset through the bridge, the drift monitor and the online learner; retrain, canary
    and promote on concept drift; show it live and write a report. Ctrl-C stops everything cleanly."""
    from helicon.runtime.demo.loop import DemoFailed, DemoOptions, run_demo
    from helicon.runtime.demo.services import ServiceFailed

    options = DemoOptions(state_dir=state_dir, pipeline=pipeline, keep_up=keep_up, short=short, events=events,
                          report_dir=report, live=sys.stdout.isatty() if live is None else live, seed=seed)
    try:
        with user_errors():
            run_demo(options, console)
    except KeyboardInterrupt:
        raise typer.Exit(code=130) from None
    except (DemoFailed, ServiceFailed) as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(code=1) from None
