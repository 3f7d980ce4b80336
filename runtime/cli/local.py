"""``helicon local up | down | status | env | fetch``: the platform on this machine."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from helicon.infra.local import LocalPlatform, LocalPlatformConfig, PlatformStatus
from helicon.infra.local.kafka_jars import KafkaJarCache
from helicon.runtime.cli.errors import user_errors

app = typer.Typer(help="The local platform: a real Kafka broker, MLflow server and S3 endpoint on loopback.",
                  no_args_is_help=True)
console = Console(stderr=True)

StateDir = Annotated[Path, typer.Option("--state-dir", envvar="HELICON_STATE_DIR",
                                        help="Directory holding the platform's data, logs and state.")]
DEFAULT_STATE_DIR = Path(".helicon")


def _say(message: str) -> None:
    console.print(f"[dim]·[/dim] {message}")


@app.command()
def up(
    state_dir: StateDir = DEFAULT_STATE_DIR,
    kafka_port: Annotated[Optional[int], typer.Option(envvar="HELICON_KAFKA_PORT", help="Kafka client port (default 9092; 0 = any free port).")] = None,
    kafka_controller_port: Annotated[Optional[int], typer.Option(envvar="HELICON_KAFKA_CONTROLLER_PORT", help="KRaft controller port (default 9093).")] = None,
    mlflow_port: Annotated[Optional[int], typer.Option(envvar="HELICON_MLFLOW_PORT", help="MLflow server port (default 5000).")] = None,
    s3_port: Annotated[Optional[int], typer.Option(envvar="HELICON_S3_PORT", help="S3 endpoint port (default 9000).")] = None,
) -> None:
    """Start Kafka, MLflow and S3; return once each works (Kafka: a produce/consume round trip)."""
    config = LocalPlatformConfig(state_dir=state_dir, kafka_port=kafka_port, kafka_controller_port=kafka_controller_port,
                                 mlflow_port=mlflow_port, s3_port=s3_port)
    with user_errors():
        status = LocalPlatform(config).up(progress=_say)
    _print_table(status)
    console.print(f"Stop it with: [bold]helicon local down --state-dir {shlex.quote(str(state_dir))}[/bold]")


@app.command()
def down(state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """Stop every process of the platform in STATE_DIR (data and logs stay)."""
    with user_errors():
        stopped = LocalPlatform(LocalPlatformConfig(state_dir=state_dir)).down(progress=_say)
    console.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@app.command()
def status(
    state_dir: StateDir = DEFAULT_STATE_DIR,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
) -> None:
    """Each service's address, health, pid and log. Exits 1 unless all are healthy."""
    with user_errors():
        report = LocalPlatform(LocalPlatformConfig(state_dir=state_dir)).status()
    if as_json:
        typer.echo(json.dumps(report.to_json()))
    else:
        _print_table(report)
    raise typer.Exit(code=0 if report.healthy else 1)


@app.command()
def env(state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """Print shell exports that point clients at the platform: eval "$(helicon local env)"."""
    with user_errors():
        report = LocalPlatform(LocalPlatformConfig(state_dir=state_dir)).status()
    for name, value in report.client_environment().items():
        typer.echo(f"export {name}={shlex.quote(value)}")


@app.command()
def fetch(
    force: Annotated[bool, typer.Option("--force", help="Fetch again even if the cache looks complete.")] = False,
) -> None:
    """Resolve the Apache Kafka jars from Maven Central into the cache, and verify them."""
    cache = KafkaJarCache.default()
    with user_errors():
        cache.fetch(force=force)
        cache.verify()
    console.print(f"Kafka {cache.version} jars verified in {cache.libs}")


def _print_table(report: PlatformStatus) -> None:
    table = Table(title=f"Helicon local platform ({report.state_dir})")
    for column in ("service", "address", "healthy", "pid", "log"):
        table.add_column(column)
    for service in report.services:
        table.add_row(service.name, service.endpoint or "-", "yes" if service.healthy else "[red]no[/red]",
                      str(service.pid or "-"), os.path.relpath(service.log) if service.log.exists() else str(service.log))
    Console().print(table)
