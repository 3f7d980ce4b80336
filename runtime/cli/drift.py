"""``helicon run drift`` (the service) and ``helicon drift …`` (replay, report, export-window)."""

from __future__ import annotations

import json
import logging
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Drift monitoring offline tools: replay a JSONL stream, render a report, export a window.",
                  no_args_is_help=True)


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=code)


def run_drift(
    config: Annotated[Path | None, typer.Option("--config", envvar="HELICON_DRIFT_CONFIG", help="YAML/JSON file with `service` and `monitor` sections.")] = None,
    bootstrap: Annotated[str | None, typer.Option("--bootstrap", envvar="KAFKA_BOOTSTRAP_SERVERS", help="Kafka HOST:PORT.")] = None,
    features: Annotated[str | None, typer.Option("--features", envvar="HELICON_DRIFT_FEATURES", help="Feature events topic (default P.features).")] = None,
    predictions: Annotated[str | None, typer.Option("--predictions", envvar="HELICON_DRIFT_PREDICTIONS", help="Predictions topic (default P.predictions).")] = None,
    feedback: Annotated[str | None, typer.Option("--feedback", envvar="HELICON_DRIFT_FEEDBACK", help="Feedback topic (default P.feedback).")] = None,
    alerts: Annotated[str | None, typer.Option("--alerts", envvar="HELICON_DRIFT_ALERTS", help="Alerts topic (default P.alerts).")] = None,
    group: Annotated[str | None, typer.Option("--group", envvar="HELICON_DRIFT_GROUP", help="Consumer group id (default helicon-drift).")] = None,
    pipeline: Annotated[str | None, typer.Option("--pipeline", envvar="HELICON_PIPELINE", help="Pipeline name P (default demo).")] = None,
    dlq: Annotated[str | None, typer.Option("--dlq", envvar="HELICON_DRIFT_DLQ", help="Dead-letter topic (default P.dlq).")] = None,
    checkpoint: Annotated[str | None, typer.Option("--checkpoint", envvar="HELICON_DRIFT_CHECKPOINT", help="Checkpoint file, or s3://BUCKET/PREFIX.")] = None,
    instance_id: Annotated[str | None, typer.Option("--instance-id", envvar="HELICON_DRIFT_INSTANCE_ID", help="Static group membership id (e.g. the pod name).")] = None,
    mlflow_tracking_uri: Annotated[str | None, typer.Option("--mlflow", envvar="MLFLOW_TRACKING_URI", help="MLflow server for the monitoring run.")] = None,
    metrics_port: Annotated[int | None, typer.Option("--metrics-port", envvar="HELICON_METRICS_PORT", min=0, max=65535, help="Port of /healthz, /readyz and /metrics (default: off).")] = None,
) -> None:
    """Watch features (ADWIN per feature) and the joined error stream (DDM); publish alerts and fire triggers.

    SIGTERM finishes the batch, checkpoints, flushes and exits 0. Kafka security from
    KAFKA_SECURITY_PROTOCOL and KAFKA_SASL_*/KAFKA_SSL_CA_LOCATION (docs/iac.md).
    """
    from helicon.runtime.cli.run import check_kafka_security
    from helicon.runtime.drift.config import ConfigError
    from helicon.runtime.drift.service import DriftService
    from helicon.runtime.drift.settings import load_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    overrides = {"bootstrap": bootstrap, "features_topic": features, "predictions_topic": predictions,
                 "feedback_topic": feedback, "alerts_topic": alerts, "group": group, "pipeline": pipeline,
                 "dlq_topic": dlq, "checkpoint_path": checkpoint, "instance_id": instance_id, "mlflow_tracking_uri": mlflow_tracking_uri,
                 "metrics_port": metrics_port}
    check_kafka_security()
    try:
        settings = load_settings(config, overrides)
        service = DriftService(settings)
    except ConfigError as error:
        raise _fail(str(error)) from None
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: service.stop())
    service.run()
    logging.getLogger(__name__).info("drift monitor stopped: %d alerts published, %d dead-lettered",
                                     service.alerts_published, service.dead_lettered)


def _load_events(input_file: Path):  # noqa: ANN202
    from helicon.runtime.drift.replay import ReplayStats, parse_lines

    try:
        lines = input_file.read_text().splitlines()
    except OSError as error:
        raise _fail(f"--input {input_file}: {error.strerror or error}") from None
    stats = ReplayStats()
    events = list(parse_lines(lines, str(input_file), stats))
    for problem in stats.malformed[:20]:
        typer.echo(f"warning: skipped {problem}", err=True)
    if len(stats.malformed) > 20:
        typer.echo(f"warning: {len(stats.malformed) - 20} more malformed lines skipped", err=True)
    return events


def _load_config(config: Path | None):  # noqa: ANN202
    from helicon.runtime.drift.config import ConfigError, DriftConfig, load_config

    try:
        loaded = load_config(config)
    except ConfigError as error:
        raise _fail(str(error)) from None
    return loaded if loaded is not None else DriftConfig()


@app.command()
def replay(
    input_file: Annotated[Path, typer.Option("--input", help="JSONL: one event per line.")],
    config: Annotated[Path | None, typer.Option("--config", help="YAML/JSON DriftConfig (the `monitor` section of the service's file also works).")] = None,
) -> None:
    """Run the monitor's detectors over a JSONL stream; print one JSON line per detection."""
    from helicon.runtime.drift.replay import replay_events

    drift_config = _load_config(_monitor_section(config))
    for detection in replay_events(_load_events(input_file), drift_config):
        sys.stdout.write(json.dumps(detection, default=float) + "\n")


@app.command()
def report(
    input_file: Annotated[Path | None, typer.Option("--input", help="JSONL: one event per line (as for replay).")] = None,
    out: Annotated[Path, typer.Option("--out", help="Directory for the PNG figures and report.html.")] = Path("drift-report"),
    config: Annotated[Path | None, typer.Option("--config", help="YAML/JSON DriftConfig.")] = None,
    rolling: Annotated[int, typer.Option(min=1, help="Window of the rolling error rate.")] = 100,
    alerts: Annotated[str | None, typer.Option("--alerts", help="Instead of --input: draw the alerts of this topic over --features.")] = None,
    features: Annotated[str | None, typer.Option("--features", help="With --alerts: the feature events topic.")] = None,
    predictions: Annotated[str | None, typer.Option("--predictions", help="With --alerts: predictions topic (for the error rate).")] = None,
    feedback: Annotated[str | None, typer.Option("--feedback", help="With --alerts: feedback topic (for the error rate).")] = None,
    bootstrap: Annotated[str, typer.Option("--bootstrap", envvar="KAFKA_BOOTSTRAP_SERVERS", help="Kafka HOST:PORT.")] = "127.0.0.1:9092",
) -> None:
    """Draw each feature with its detections and the error rate with DDM warnings/drifts, from a replay
    of --input or from the topics and their --alerts."""
    from helicon.runtime.cli.run import check_kafka_security
    from helicon.runtime.drift.report import render_report

    if alerts is not None:
        check_kafka_security()
    drift_config = _load_config(_monitor_section(config))
    if (input_file is None) == (alerts is None):
        raise _fail("give exactly one of --input FILE or --alerts TOPIC (with --features TOPIC)")
    if alerts is not None:
        if not features:
            raise _fail("--alerts needs --features TOPIC")
        from helicon.runtime.drift.topic_source import events_and_detections

        events, detections = events_and_detections(bootstrap, features, predictions, feedback, alerts)
        if not events:
            raise _fail(f"no feature events on {features} at {bootstrap}", code=1)
        files = render_report(events, drift_config, out, rolling=rolling, detections=detections,
                              title=f"Helicon drift report: {alerts}", x_label="event time (ms since the epoch)")
    else:
        files = render_report(_load_events(input_file), drift_config, out, rolling=rolling)
    typer.echo(f"wrote {files.html} ({len(files.figures)} figures) and {files.detections}")


@app.command("export-window")
def export_window(
    output: Annotated[str, typer.Option("--output", help="PATH.parquet or s3://BUCKET/KEY.parquet.")],
    alert_file: Annotated[Path | None, typer.Option("--alert", help="A file with the alert JSON (or its window).")] = None,
    alert_id: Annotated[str | None, typer.Option("--alert-id", help="Find the alert with this id on --alerts.")] = None,
    alerts: Annotated[str | None, typer.Option("--alerts", help="Alerts topic to search for --alert-id.")] = None,
    bootstrap: Annotated[str, typer.Option("--bootstrap", envvar="KAFKA_BOOTSTRAP_SERVERS", help="Kafka HOST:PORT.")] = "127.0.0.1:9092",
) -> None:
    """Materialise an alert's fresh-data window (topic/partition/offset ranges) to Parquet, locally or on S3."""
    from helicon.runtime.cli.run import check_kafka_security
    from helicon.runtime.drift.export import ExportError, find_alert, read_window, window_from_alert, write_parquet

    check_kafka_security()

    if (alert_file is None) == (alert_id is None):
        raise _fail("give exactly one of --alert FILE or --alert-id ID (with --alerts TOPIC)")
    try:
        if alert_file is not None:
            try:
                alert = json.loads(alert_file.read_text())
            except (OSError, ValueError) as error:
                raise _fail(f"--alert {alert_file}: {error}") from None
        else:
            if not alerts:
                raise _fail("--alert-id needs --alerts TOPIC")
            alert = find_alert(bootstrap, alerts, alert_id or "")
        try:
            window = window_from_alert(alert)
        except (KeyError, TypeError) as error:
            raise _fail(f"the alert has no valid `window` ({error})") from None
        rows = read_window(bootstrap, window)
        where = write_parquet(rows, output)
    except ExportError as error:
        raise _fail(str(error), code=1) from None
    typer.echo(f"wrote {len(rows)} rows to {where}")


def _monitor_section(config: Path | None) -> Path | None:
    """Accept the service's file too: when it has a `monitor` section, use just that."""
    if config is None:
        return None
    import tempfile

    import yaml

    try:
        raw = yaml.safe_load(config.read_text())
    except (OSError, yaml.YAMLError):
        return config  # load_config reports the problem with the file name
    if isinstance(raw, dict) and set(raw) <= {"service", "monitor"} and raw:
        handle = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
        with handle:
            yaml.safe_dump(raw.get("monitor") or {}, handle)
        return Path(handle.name)
    return config
