"""The demo's services as separate processes, through the entry points the containers run.

``helicon run bridge|drift|learn --config FILE``, each with its own config file in the run's
directory, its log next to it, and a metrics port in both ``HELICON_METRICS_PORT`` and the
service's own setting. :class:`Services` starts them and stops every one it started.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from helicon.runtime.contracts import PipelineTopics

TRIGGER_SECRET_ENV = "HELICON_DEMO_TRIGGER_SECRET"


class ServiceFailed(RuntimeError):
    """A service exited on its own or never became ready; the message names it and its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServicePlan:
    """What the services are told: topics, model, learner spec, trigger URL and secret."""

    bootstrap: str
    tracking_uri: str
    topics: PipelineTopics
    learner_topic: str
    model_name: str
    learner_model: str
    trigger_url: str
    trigger_secret: str
    run_id: str
    ddm_warm_start: int
    promotion_min_joined: int
    promotion_window: int
    canary_share: float = 0.5
    experiment: str = "helicon-demo"

    def group(self, service: str) -> str:
        return f"helicon-demo-{service}-{self.run_id}"

    def bridge_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "bootstrap": self.bootstrap, "input_topic": self.topics.features, "output_topic": self.topics.predictions,
            "dlq_topic": self.topics.dlq, "group": self.group("bridge"), "model_uri": f"models:/{self.model_name}@champion",
            "alias_poll_s": 2.0, "max_wait_ms": 20,
        }
        config["canary"] = {"model": f"models:/{self.model_name}@challenger", "share": self.canary_share,
                            "promotion": {"feedback_topic": self.topics.feedback, "min_joined": self.promotion_min_joined,
                                          "margin": 0.0, "window": self.promotion_window}}
        return config

    def drift_config(self, state_dir: Path) -> dict[str, Any]:
        return {
            "service": {"bootstrap": self.bootstrap, "pipeline": self.topics.features.rsplit(".", 1)[0],
                        "features_topic": self.topics.features, "predictions_topic": self.topics.predictions,
                        "feedback_topic": self.topics.feedback, "alerts_topic": self.topics.alerts,
                        "dlq_topic": self.topics.dlq, "group": self.group("drift"),
                        "checkpoint_path": str(state_dir / "drift-checkpoint.pkl"), "checkpoint_interval_s": 1.0},
            "monitor": {
                # A wide warning zone (2 σ) before the drift (7 σ): the window retrained on holds enough labels.
                "concept": {"detector": "ddm", "warm_start": self.ddm_warm_start, "warning_threshold": 2.0,
                            "drift_threshold": 7.0},
                "drift": {"triggers": [{"kind": "generic", "url": self.trigger_url, "secret_env": TRIGGER_SECRET_ENV}]},
                # one partition, one detector per stream: every drift alert is its own drift, so no cooldown
                "delivery": {"cooldown_s": 0, "retries": 3, "backoff_s": 0.5, "timeout_s": 5.0},
            },
        }

    def learner_config(self) -> dict[str, Any]:
        return {"bootstrap": self.bootstrap, "features_topic": self.topics.features, "feedback_topic": self.topics.feedback,
                "predictions_topic": self.learner_topic, "dlq_topic": self.topics.dlq, "group": self.group("learn"),
                "model": self.learner_model, "mlflow_experiment": f"{self.experiment}-learner",
                "metrics_interval_s": 3.0, "max_wait_ms": 20}


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    metrics_port: int


@dataclass
class Services:
    """Starts the three services; :meth:`stop` ends each (SIGTERM, then SIGKILL after a bound)."""

    plan: ServicePlan
    run_dir: Path
    started: dict[str, Service] = field(default_factory=dict)

    def start(self, names: list[str] | None = None) -> None:
        """Start the named services (default all three: bridge, drift, learn)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for name in names or ["bridge", "drift", "learn"]:
            if name == "bridge":
                self._start("bridge", self.plan.bridge_config(), "HELICON_BRIDGE_HTTP_PORT")
            elif name == "drift":
                self._start("drift", self.plan.drift_config(self.run_dir), None,
                            extra_env={TRIGGER_SECRET_ENV: self.plan.trigger_secret})
            elif name == "learn":
                self._start("learn", self.plan.learner_config(), "HELICON_LEARN_METRICS_PORT")
            else:
                raise ValueError(f"unknown service {name!r}: bridge, drift or learn")

    def _start(self, name: str, config: dict[str, Any], port_setting: str | None,
               extra_env: dict[str, str] | None = None) -> None:
        config_file = self.run_dir / f"{name}.yaml"
        config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        port = free_port()
        env = {**os.environ, "MLFLOW_TRACKING_URI": self.plan.tracking_uri, "HELICON_METRICS_PORT": str(port),
               "PYTHONUNBUFFERED": "1", **(extra_env or {})}
        if port_setting:
            env[port_setting] = str(port)
        log = self.run_dir / f"{name}.log"
        with log.open("ab") as handle:
            process = subprocess.Popen([sys.executable, "-m", "helicon.runtime.cli.main", "run", name, "--config", str(config_file)],
                                       stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        self.started[name] = Service(name, process, log, port)

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        """Until the bridge answers ``/readyz`` (its model loaded, partitions assigned); raises if a service died."""
        bridge = self.started["bridge"]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.check()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{bridge.metrics_port}/readyz", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise ServiceFailed(f"the bridge was not ready within {timeout_s:.0f} s (log: {bridge.log})")

    def check(self) -> None:
        """Raise if a service exited on its own, naming it, its exit code and the end of its log."""
        for service in self.started.values():
            code = service.process.poll()
            if code is not None:
                tail = service.log.read_text(errors="replace").strip().splitlines()[-5:]
                raise ServiceFailed(f"helicon run {service.name} exited with code {code} (log {service.log}):\n  "
                                   + "\n  ".join(tail))

    def pids(self) -> dict[str, int]:
        return {name: service.process.pid for name, service in self.started.items()}

    def stop(self, timeout_s: float = 40.0) -> dict[str, int]:
        """SIGTERM all at once, wait up to ``timeout_s``, SIGKILL what is left; returns the exit codes."""
        for service in self.started.values():
            if service.process.poll() is None:
                service.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        codes: dict[str, int] = {}
        for name, service in self.started.items():
            try:
                codes[name] = service.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                service.process.kill()
                codes[name] = service.process.wait()
        return codes
