"""``helicon run SERVICE``: the runtime services, as the containers run them."""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

def check_kafka_security() -> None:
    """Exit 2 with the variable's name when the Kafka security environment is inconsistent."""
    from helicon.runtime.kafka_client import KafkaSecurityError, security_config

    try:
        security_config()
    except KafkaSecurityError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None


app = typer.Typer(help="Run one of Helicon's runtime services in the foreground.", no_args_is_help=True)


@app.command()
def bridge(
    config: Annotated[Path | None, typer.Option("--config", help="YAML settings file (any BridgeSettings field; see docs/bridge.md).")] = None,
    bootstrap: Annotated[str | None, typer.Option("--bootstrap", help="Kafka HOST:PORT[,HOST:PORT].")] = None,
    input_topic: Annotated[str | None, typer.Option("--input", help="Feature events topic.")] = None,
    output_topic: Annotated[str | None, typer.Option("--output", help="Predictions topic.")] = None,
    dlq_topic: Annotated[str | None, typer.Option("--dlq", help="Dead-letter topic.")] = None,
    group: Annotated[str | None, typer.Option("--group", help="Consumer group id.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="models:/NAME@ALIAS, models:/NAME/VERSION or oip+http://HOST:PORT/v2/models/NAME.")] = None,
    metrics_port: Annotated[int | None, typer.Option("--metrics-port", min=0, max=65535, help="Port of /healthz, /readyz and /metrics (default: HELICON_BRIDGE_HTTP_PORT, then HELICON_METRICS_PORT, then 8080).")] = None,
) -> None:
    """Consume feature events, predict, produce predictions; SIGTERM stops it cleanly (exit 0).

    Settings come from flags, then HELICON_BRIDGE_* environment variables, then the --config file;
    Kafka security from KAFKA_SECURITY_PROTOCOL and KAFKA_SASL_*/KAFKA_SSL_CA_LOCATION (docs/iac.md).
    """
    from helicon.runtime.bridge import Bridge, SettingsError, load_settings
    from helicon.runtime.bridge.logs import configure_logging

    try:
        settings = load_settings(config_file=config, bootstrap=bootstrap, input_topic=input_topic,
                                 output_topic=output_topic, dlq_topic=dlq_topic, group=group, model_uri=model,
                                 http_port=metrics_port)
    except SettingsError as error:
        typer.echo(f"error: invalid bridge settings: {error}", err=True)
        raise typer.Exit(code=2) from None
    check_kafka_security()
    configure_logging(settings.log_format, settings.log_level)
    log = logging.getLogger("helicon.runtime.bridge")
    try:
        service = Bridge(settings)
    except Exception as error:  # noqa: BLE001 - a model or broker that cannot be opened is a one-line error
        log.error("bridge could not start", extra={"error": f"{error.__class__.__name__}: {error}"})
        raise typer.Exit(code=1) from None

    def _on_signal(signum: int, _frame: object) -> None:
        log.info("stop requested", extra={"signal": signal.Signals(signum).name})
        service.stop()
        # The bound: an exit that cannot finish cleanly leaves its batch uncommitted, to be replayed.
        timer = threading.Timer(settings.shutdown_timeout_s + 5, lambda: os._exit(3))
        timer.daemon = True
        timer.start()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _on_signal)
    try:
        service.run()
    except Exception as error:  # noqa: BLE001 - logged as one JSON line; uncommitted events are replayed on restart
        log.exception("bridge failed; offsets after the last acknowledged batch stay uncommitted",
                      extra={"error": f"{error.__class__.__name__}: {error}"})
        raise typer.Exit(code=1) from None

