"""The MLflow tracking server and model registry, on SQLite with a local artifact root."""

from __future__ import annotations

import sys

import requests

from helicon.infra.local.ports import LOOPBACK
from helicon.infra.local.services.base import LocalService


class MlflowServer(LocalService):
    """``mlflow server`` with artifacts proxied through the server (``mlflow-artifacts:``).

    Clients need only the tracking URL: they upload and download artifacts through the server, so
    nothing on the client side depends on the server's file system.
    """

    name = "mlflow"
    port_names = ("port",)
    endpoint_key = "url"
    default_ports = {"port": 5000}

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def command(self) -> list[str]:
        directory = self.directory.resolve()
        return [
            sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", f"sqlite:///{directory / 'mlflow.db'}",
            "--artifacts-destination", str(directory / "artifacts"),
            "--serve-artifacts",
            "--host", LOOPBACK,
            "--port", str(self.port),
            "--workers", "1",
        ]

    def environment(self) -> dict[str, str]:
        # The job runner (GenAI evaluation jobs) would add about six huey worker processes of
        # ~250 MB each; nothing on the local platform submits jobs.
        return {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true",
                "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}

    def probe(self, timeout: float) -> bool:
        try:
            response = requests.get(f"{self.endpoint}/health", timeout=timeout)
            return response.status_code == 200
        except requests.RequestException:
            return False
