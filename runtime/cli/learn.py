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
