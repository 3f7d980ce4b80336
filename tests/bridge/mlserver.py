"""A real MLServer process (from the separate ``.venv-mlserver``) serving a registered MLflow model.

MLServer 1.7 pins FastAPI/Starlette below the versions Helicon's MLflow 3 uses, so it lives in its
own virtualenv, built by ``make .venv-mlserver/.installed`` (a prerequisite of ``make test``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from helicon.infra.local.ports import pick_free_port

REPO = Path(__file__).resolve().parents[2]
MLSERVER = Path(os.environ.get("HELICON_MLSERVER", REPO / ".venv-mlserver" / "bin" / "mlserver"))


def free_port() -> int:
    return pick_free_port()


@dataclass
class MLServerProcess:
    process: subprocess.Popen[bytes]
    http_port: int
    model: str
    log_file: Path

    @property
    def oip_uri(self) -> str:
        return f"oip+http://127.0.0.1:{self.http_port}/v2/models/{self.model}"

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start_mlserver(model_name: str, version: str, tracking_uri: str, workdir: Path,
                   kafka: dict[str, str] | None = None, timeout: float = 120.0) -> MLServerProcess:
    """Download ``models:/NAME/VERSION`` and serve it with MLServer's MLflow runtime on free ports.

    ``kafka`` (``{"servers", "input", "output"}``) also turns on MLServer's Kafka transport.
    """
    if not MLSERVER.exists():
        raise FileNotFoundError(f"{MLSERVER} is missing: run `make .venv-mlserver/.installed` (part of `make test`)")
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    artifacts = Path(mlflow.artifacts.download_artifacts(f"models:/{model_name}/{version}", dst_path=str(workdir / "artifacts")))
    model_dir = workdir / "models" / model_name
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "model-settings.json").write_text(json.dumps({
        "name": model_name, "implementation": "mlserver_mlflow.MLflowRuntime", "versions": [version],
        "parameters": {"uri": str(artifacts), "version": version},
    }))
    http_port = free_port()
    settings: dict[str, object] = {"http_port": http_port, "grpc_port": free_port(), "metrics_port": free_port(),
                                   "parallel_workers": 0, "host": "127.0.0.1"}
    if kafka is not None:
        settings.update({"kafka_enabled": True, "kafka_servers": kafka["servers"],
                         "kafka_topic_input": kafka["input"], "kafka_topic_output": kafka["output"]})
    (workdir / "models" / "settings.json").write_text(json.dumps(settings))
    log_file = workdir / "mlserver.log"
    with log_file.open("ab") as log:
        process = subprocess.Popen([str(MLSERVER), "start", str(workdir / "models")], stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True, env={**os.environ, "MLFLOW_TRACKING_URI": tracking_uri})
    server = MLServerProcess(process, http_port, model_name, log_file)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"MLServer exited with {process.returncode}: {log_file.read_text()[-2000:]}")
        try:
            if requests.get(f"http://127.0.0.1:{http_port}/v2/models/{model_name}/ready", timeout=2).status_code == 200:
                return server
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    server.stop()
    raise TimeoutError(f"MLServer not ready within {timeout} s: {log_file.read_text()[-2000:]}")
