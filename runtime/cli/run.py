"""``helicon run SERVICE``: the runtime services, as the containers run them."""

from __future__ import annotations

import logging
import signal
from typing import Annotated

import typer
from pydantic import ValidationError

app = typer.Typer(help="Run one of Helicon's runtime services in the foreground.", no_args_is_help=True)


@app.command()
def bridge(
    model: Annotated[str, typer.Option("--model", envvar="HELICON_MODEL_URI", help="models:/NAME@ALIAS or models:/NAME/VERSION.")],
    bootstrap: Annotated[str, typer.Option("--bootstrap", envvar="KAFKA_BOOTSTRAP_SERVERS", help="Kafka HOST:PORT.")] = "127.0.0.1:9092",
    input_topic: Annotated[str, typer.Option("--input", help="Feature events topic.")] = "demo.features",
    output_topic: Annotated[str, typer.Option("--output", help="Predictions topic.")] = "demo.predictions",
    dlq_topic: Annotated[str, typer.Option("--dlq", help="Dead-letter topic.")] = "demo.dlq",
    group: Annotated[str, typer.Option("--group", help="Consumer group id.")] = "helicon-bridge",
    batch_size: Annotated[int, typer.Option(help="Largest micro-batch.")] = 256,
    max_wait_ms: Annotated[int, typer.Option(help="Longest wait for a micro-batch to fill, in ms.")] = 20,
) -> None:
    """Consume feature events, predict with an MLflow model, produce predictions (SIGTERM stops it cleanly)."""
    from helicon.runtime.bridge import Bridge, BridgeSettings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = BridgeSettings(bootstrap=bootstrap, input_topic=input_topic, output_topic=output_topic,
                                  dlq_topic=dlq_topic, group=group, model_uri=model,
                                  batch_size=batch_size, max_wait_ms=max_wait_ms)
    except ValidationError as error:
        first = error.errors()[0]
        typer.echo(f"error: invalid bridge setting {'.'.join(map(str, first['loc']))}: {first['msg']}", err=True)
        raise typer.Exit(code=2) from None
    service = Bridge(settings)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: service.stop())
    service.run()
    logging.getLogger(__name__).info("bridge stopped: %d scored, %d dead-lettered", service.scored, service.dead_lettered)

from helicon.runtime.cli.learn import run_learn as _run_learn  # noqa: E402 - issue 5: `helicon run learn`

app.command(name="learn")(_run_learn)
