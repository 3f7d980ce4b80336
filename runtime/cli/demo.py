"""``helicon demo``: the local platform and the first end-to-end slice, told step by step."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from helicon.infra.local import LocalPlatform, LocalPlatformConfig
from helicon.runtime.cli.errors import user_errors
from helicon.runtime.contracts import PipelineTopics, now_ms
from helicon.runtime.demo import first_slice

console = Console()


def demo(
    state_dir: Annotated[Path, typer.Option("--state-dir", envvar="HELICON_STATE_DIR", help="Local platform state directory.")] = Path(".helicon"),
    events: Annotated[int, typer.Option("--events", min=1, help="How many feature events to stream.")] = 200,
    pipeline: Annotated[str, typer.Option("--pipeline", help="Pipeline name; topics are PIPELINE.features etc.")] = "demo",
    keep_up: Annotated[bool, typer.Option("--keep-up/--no-keep-up", help="Leave the platform running afterwards (default: stop it if this command started it).")] = False,
) -> None:
    """Bring the local platform up, register a model, stream events through the bridge, show the predictions."""
    platform = LocalPlatform(LocalPlatformConfig(state_dir=state_dir))
    with user_errors():
        was_up = platform.status().healthy
        console.rule("[bold]1. Local platform")
        status = platform.up(progress=lambda message: console.print(f"  · {message}"))
    console.print(f"  Kafka [bold]{status.kafka.endpoint}[/bold] · MLflow [bold]{status.mlflow.endpoint}[/bold] · S3 [bold]{status.s3.endpoint}[/bold]")
    bridge = None
    try:
        console.rule("[bold]2. Train, register, alias")
        model_name = f"{pipeline}-classifier"
        trained = first_slice.train_and_register(status.mlflow.endpoint or "", model_name)
        console.print(f"  logistic regression, hold-out accuracy {trained.accuracy:.3f}; registered "
                      f"[bold]{trained.name}[/bold] version {trained.version} as @{first_slice.CHAMPION}")

        console.rule("[bold]3. Inference bridge")
        topics = PipelineTopics.for_pipeline(pipeline)
        bridge_log = status.state_dir / "demo" / "bridge.log"
        model_uri = f"models:/{model_name}@{first_slice.CHAMPION}"
        bridge = first_slice.start_bridge(status.kafka.endpoint or "", status.mlflow.endpoint or "", topics,
                                          model_uri, group=f"{pipeline}-bridge", log_file=bridge_log)
        console.print(f"  helicon run bridge --input {topics.features} --output {topics.predictions} --model {model_uri}"
                      f"  (pid {bridge.pid}, log {bridge_log})")

        console.rule(f"[bold]4. Stream {events} events")
        rows = [trained.holdout[index % len(trained.holdout)] for index in range(events)]
        sent_at = now_ms()
        started = time.monotonic()
        ids = first_slice.produce_feature_events(status.kafka.endpoint or "", topics.features, rows)
        predictions = first_slice.collect_predictions(status.kafka.endpoint or "", topics.predictions, ids)
        elapsed = time.monotonic() - started
        _report(ids, rows, predictions, trained, sent_at, elapsed)
        if len(predictions) != len(ids):
            raise typer.Exit(code=1)
    finally:
        if bridge is not None:
            first_slice.stop_process(bridge)
        if not keep_up and not was_up:
            console.rule("[bold]5. Stop")
            platform.down(progress=lambda message: console.print(f"  · {message}"))
        elif not was_up:
            console.print(f"The platform is still up; stop it with: helicon local down --state-dir {state_dir}")


def _report(ids: list[str], rows: list[dict], predictions: dict[str, dict], trained: first_slice.TrainedModel,
            sent_at: int, elapsed: float) -> None:
    local = trained.estimator.predict(_frame(rows))
    agree = sum(1 for event_id, expected in zip(ids, local) if predictions.get(event_id, {}).get("prediction") == int(expected))
    table = Table(title="First predictions (from the predictions topic)")
    for column in ("event id", *first_slice.FEATURE_NAMES, "prediction", "model"):
        table.add_column(column)
    for event_id, row in list(zip(ids, rows))[:8]:
        answer = predictions.get(event_id)
        table.add_row(event_id[:12], *(f"{row[name]:+.2f}" for name in first_slice.FEATURE_NAMES),
                      str(answer["prediction"]) if answer else "[red]missing[/red]",
                      f"{answer['model']['name']} v{answer['model']['version']}" if answer else "-")
    console.print(table)
    delays = sorted(value["ts"] - sent_at for value in predictions.values())
    console.print(f"  sent {len(ids)} · predictions received {len(predictions)} · missing {len(set(ids) - predictions.keys())}")
    console.print(f"  agree with the model scored in this process: {agree}/{len(ids)}")
    if delays:
        console.print(f"  all answered within {elapsed:.2f} s; median time from first send to prediction {statistics.median(delays):.0f} ms "
                      "(includes the bridge's start-up: events wait in Kafka while it loads the model)")


def _frame(rows: list[dict]):  # noqa: ANN202 - a pandas DataFrame
    import pandas as pd

    return pd.DataFrame.from_records(rows, columns=list(first_slice.FEATURE_NAMES))
