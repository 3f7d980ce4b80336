"""``helicon learn …``: evaluate online models offline, on a JSON-lines file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Online learning: evaluate models prequentially.", no_args_is_help=True)


@app.command()
def evaluate(
    model: Annotated[str, typer.Option("--model", help="Model spec: hbp, hbp:layers=N,units=M, mlp:layers=N,units=M, river:<module>.<Class>.")],
    input_path: Annotated[Path, typer.Option("--input", help="JSON-lines file: flat rows, or {\"features\": {...}, \"label\": ...} events.")],
    target: Annotated[str, typer.Option("--target", help="Column (or event field) holding the label.")],
) -> None:
    """Test-then-train over the file; print one JSON object: {"n", "accuracy"} or {"n", "mae", "rmse"}."""
    from helicon.runtime.learn.prequential import evaluate as run_evaluation
    from helicon.runtime.learn.prequential import infer_task, read_jsonl
    from helicon.runtime.learn.spec import SpecError, build_model, parse_spec

    if not input_path.is_file():
        typer.echo(f"error: --input {input_path}: no such file", err=True)
        raise typer.Exit(code=2)
    try:
        spec = parse_spec(model)
        rows = read_jsonl(input_path, target)
        first = next(rows, None)
        if first is None:
            typer.echo(f"error: --input {input_path}: no rows", err=True)
            raise typer.Exit(code=2)
        estimator = build_model(spec, task=spec.task or infer_task(first[1]))
        result = run_evaluation(estimator, _chain(first, rows))
    except (SpecError, ValueError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(json.dumps({"model": model, **result}))


def _chain(first, rest):  # type: ignore[no-untyped-def]
    yield first
    yield from rest


def run_learn(
    model: Annotated[str | None, typer.Option("--model", envvar="HELICON_LEARN_MODEL", help="Model spec: hbp, hbp:layers=N,units=M, mlp:layers=N,units=M, river:<module>.<Class>.")] = None,
    bootstrap: Annotated[str | None, typer.Option("--bootstrap", envvar="KAFKA_BOOTSTRAP_SERVERS", help="Kafka HOST:PORT.")] = None,
    features: Annotated[str | None, typer.Option("--features", envvar="HELICON_LEARN_FEATURES", help="Feature events topic (default demo.features).")] = None,
    feedback: Annotated[str | None, typer.Option("--feedback", envvar="HELICON_LEARN_FEEDBACK", help="Feedback topic (default demo.feedback).")] = None,
    predictions: Annotated[str | None, typer.Option("--predictions", envvar="HELICON_LEARN_PREDICTIONS", help="Predictions topic (default demo.predictions).")] = None,
    group: Annotated[str | None, typer.Option("--group", envvar="HELICON_LEARN_GROUP", help="Consumer group id (default helicon-learn).")] = None,
    dlq: Annotated[str | None, typer.Option("--dlq", envvar="HELICON_LEARN_DLQ", help="Dead-letter topic (default demo.dlq).")] = None,
    checkpoint: Annotated[str | None, typer.Option("--checkpoint", envvar="HELICON_LEARN_CHECKPOINT", help="mlflow:NAME or mlflow:NAME@ALIAS (default alias online-latest), or s3://BUCKET/PREFIX.")] = None,
    checkpoint_interval: Annotated[float | None, typer.Option("--checkpoint-interval", envvar="HELICON_LEARN_CHECKPOINT_INTERVAL", help="Seconds between checkpoints (default 60).")] = None,
    metrics_port: Annotated[int | None, typer.Option("--metrics-port", envvar="HELICON_LEARN_METRICS_PORT", min=0, max=65535, help="Port of /metrics, /healthz and /readyz (default: HELICON_METRICS_PORT, else off).")] = None,
    mlflow_experiment: Annotated[str | None, typer.Option("--mlflow-experiment", envvar="HELICON_LEARN_MLFLOW_EXPERIMENT", help="MLflow experiment for prequential metrics (default: off).")] = None,
    task: Annotated[str | None, typer.Option("--task", envvar="HELICON_LEARN_TASK", help="classification or regression, when the spec does not say.")] = None,
    merge_topic: Annotated[str | None, typer.Option("--merge-topic", envvar="HELICON_LEARN_MERGE_TOPIC", help="Compacted topic for averaging HBP replicas (default: off).")] = None,
    merge_interval: Annotated[float | None, typer.Option("--merge-interval", envvar="HELICON_LEARN_MERGE_INTERVAL", help="Seconds between merges (default 300).")] = None,
    replica_id: Annotated[str | None, typer.Option("--replica-id", envvar="HELICON_LEARN_REPLICA_ID", help="Key of this replica on the merge topic (default: host name).")] = None,
    config: Annotated[Path | None, typer.Option("--config", envvar="HELICON_LEARN_CONFIG", help="YAML/JSON file of settings; environment and flags override it.")] = None,
) -> None:
    """Predict on features, learn from joined feedback, checkpoint (SIGTERM checkpoints and stops).

    Kafka security from KAFKA_SECURITY_PROTOCOL and KAFKA_SASL_*/KAFKA_SSL_CA_LOCATION (docs/iac.md).
    """
    import logging
    import signal

    from pydantic import ValidationError

    from helicon.runtime.cli.run import check_kafka_security
    from helicon.runtime.endpoints import EndpointError, metrics_port_from_env
    from helicon.runtime.learn.service import Learner, LearnerSettings, load_settings_file
    from helicon.runtime.learn.spec import SpecError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    check_kafka_security()
    values: dict[str, object] = {"bootstrap": "127.0.0.1:9092", "features_topic": "demo.features",
                                 "feedback_topic": "demo.feedback", "predictions_topic": "demo.predictions",
                                 "dlq_topic": "demo.dlq", "group": "helicon-learn"}
    try:
        if config is not None:
            values.update(load_settings_file(str(config)))
        given = {"model": model, "bootstrap": bootstrap, "features_topic": features, "feedback_topic": feedback,
                 "predictions_topic": predictions, "group": group, "dlq_topic": dlq, "checkpoint": checkpoint,
                 "checkpoint_interval_s": checkpoint_interval, "metrics_port": metrics_port,
                 "mlflow_experiment": mlflow_experiment, "task": task, "merge_topic": merge_topic,
                 "merge_interval_s": merge_interval, "replica_id": replica_id}
        values.update({key: value for key, value in given.items() if value is not None})
        if values.get("metrics_port") is None:  # the learner's own setting wins over the shared convention
            values["metrics_port"] = metrics_port_from_env()
        if "model" not in values:
            raise ValueError("--model is required (or model: in --config, or HELICON_LEARN_MODEL)")
        settings = LearnerSettings(**values)  # type: ignore[arg-type]
        service = Learner(settings)
    except ValidationError as error:
        first = error.errors()[0]
        typer.echo(f"error: invalid learner setting {'.'.join(map(str, first['loc']))}: {first['msg']}", err=True)
        raise typer.Exit(code=2) from None
    except (SpecError, EndpointError, ValueError, OSError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: service.stop())
    service.run()
    logging.getLogger(__name__).info("learner stopped: %s", service.counts)


@app.command()
def harness(
    examples: Annotated[int, typer.Option("--examples", help="Examples per stream (the paper used 4.5–5 million).")] = 20_000,
    output: Annotated[Path, typer.Option("--output", help="Directory for learning-results.md, results.json and alpha-*.png.")] = Path("bench/results/learning"),
    streams: Annotated[str, typer.Option("--streams", help="Comma-separated: syn8, cd1, cd2.")] = "syn8,cd1,cd2",
    models: Annotated[str | None, typer.Option("--models", help="Semicolon-separated specs (default: HBP-20, MLP depths 2,3,4,8,16,20, river baselines).")] = None,
    units: Annotated[int, typer.Option("--units", help="Width of every network (paper: 100).")] = 100,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the streams.")] = 0,
) -> None:
    """Run the paper's streams through HBP-20, fixed-depth online backprop and river; write table and α plots."""
    from helicon.runtime.learn.harness import run_harness

    if examples < 10:
        typer.echo("error: --examples must be ≥ 10", err=True)
        raise typer.Exit(code=2)
    chosen = [spec.strip() for spec in models.split(";")] if models else None
    path = run_harness(examples, output, chosen, [stream.strip() for stream in streams.split(",")], seed, units,
                       log=lambda line: typer.echo(line, err=True))
    typer.echo(str(path))
