"""The proof that the rendered runtime workloads work: run each one's container as a local process.

The dev stack is rendered with the code of ``helicon render``. For every Deployment of
``InferenceBridge``, ``DriftMonitor`` and ``OnlineLearner``, the container's ``command`` + ``args``
+ ``env`` run as a process with only what a cluster would provide remapped to this machine: the
ConfigMap's file to a temporary file, every volume mount to a temporary directory, cluster DNS names
(Kafka bootstrap, MLflow) to the test session's local platform, the metrics port to a free one, and
the bridge's serving endpoint (a Seldon model, not running here) to a model in the session's
registry. Then the probes the Deployment declares must pass, ``/metrics`` must expose the service's
metrics, and SIGTERM must stop it with exit code 0.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from helicon.infra.local import PlatformStatus
from helicon.infra.local.ports import pick_free_port
from helicon.runtime.demo import first_slice

pytestmark = pytest.mark.platform

RUNTIME_COMPONENTS = {"bridge": "helicon_bridge_model_info", "drift": "helicon_drift_checkpoint_age_seconds",
                      "learn": "helicon_learn_examples_total"}


_taken: set[int] = set()


def _free_port() -> int:
    port = pick_free_port(avoid=_taken)  # the services bind all interfaces, as in a pod
    _taken.add(port)
    return port


@pytest.fixture(scope="module")
def dev_objects() -> list[dict[str, Any]]:
    from helicon.stacks.render import manifests, render_stack

    return manifests(render_stack("dev"))


def _workloads(objects: list[dict[str, Any]]) -> dict[str, tuple[dict, dict]]:
    """component → (Deployment, its ConfigMap), for the runtime workloads."""
    config_maps = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects if o["kind"] == "ConfigMap"}
    found = {}
    for obj in objects:
        component = obj["metadata"]["labels"].get("app.kubernetes.io/component")
        if obj["kind"] == "Deployment" and component in RUNTIME_COMPONENTS:
            volumes = obj["spec"]["template"]["spec"]["volumes"]
            (config_name,) = [v["configMap"]["name"] for v in volumes if "configMap" in v]
            found[component] = (obj, config_maps[(obj["metadata"]["namespace"], config_name)])
    return found


def _create_topics(bootstrap: str, names: set[str]) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    missing = names - set(admin.list_topics(timeout=30).topics)
    if not missing:
        return
    for name, future in admin.create_topics([NewTopic(t, num_partitions=3, replication_factor=1) for t in missing]).items():
        try:
            future.result(60)
        except Exception as error:  # noqa: BLE001 - another test may have created it meanwhile
            if "TOPIC_ALREADY_EXISTS" not in str(error):
                raise AssertionError(f"cannot create {name}: {error}") from error


class Localised:
    """One container made runnable here: argv, environment, and where its probes are."""

    def __init__(self, deployment: dict, config_map: dict, tmp: Path, bootstrap: str, tracking_uri: str,
                 model_uri: str) -> None:
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        self.name = deployment["metadata"]["name"]
        self.container = container
        root = tmp / self.name
        mounts: dict[str, Path] = {}
        for mount in container["volumeMounts"]:
            local = root / mount["mountPath"].lstrip("/")
            if mount["name"] == "config":  # the ConfigMap key, mounted with subPath as a file
                local.parent.mkdir(parents=True, exist_ok=True)
                local.write_text(config_map["data"][mount["subPath"]])
            else:
                local.mkdir(parents=True, exist_ok=True)
            mounts[mount["mountPath"]] = local
        self.port = _free_port()
        declared = {p["name"]: p["containerPort"] for p in container["ports"]}
        env = {}
        for variable in container["env"]:
            assert "value" in variable, f"{self.name}: {variable['name']} needs a Secret the dev stack should not use"
            env[variable["name"]] = variable["value"]
        assert env["HELICON_METRICS_PORT"] == str(declared["metrics"]), "the probes' port is the metrics port"
        env["HELICON_METRICS_PORT"] = str(self.port)
        if "MLFLOW_TRACKING_URI" in env:
            assert env["MLFLOW_TRACKING_URI"].endswith(".svc:80")
            env["MLFLOW_TRACKING_URI"] = tracking_uri
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root), **env}

        def local(arg: str) -> str:
            for mount_path, path in mounts.items():
                if arg == mount_path or arg.startswith(mount_path.rstrip("/") + "/"):
                    return str(path) + arg[len(mount_path):]
            if ".svc:" in arg:  # a cluster DNS name: the serving endpoint, or else Kafka's bootstrap
                return model_uri if arg.startswith("oip+http://") else bootstrap
            return arg

        args = [local(arg) for arg in container["args"]]
        assert container["command"][:2] == ["helicon", "run"]
        self.argv = [sys.executable, "-m", "helicon.runtime.cli.main", *container["command"][1:], *args]
        self.topics = {args[i + 1] for i, flag in enumerate(args)
                       if flag in ("--input", "--output", "--dlq", "--features", "--predictions", "--feedback", "--alerts")}
        self.probes = [container["livenessProbe"]["httpGet"], container["readinessProbe"]["httpGet"]]
        assert all(probe["port"] == "metrics" for probe in self.probes)
        self.log = root / "process.log"


def _status(url: str) -> int:
    try:
        return requests.get(url, timeout=2).status_code
    except requests.RequestException:
        return 0


def test_the_dev_stacks_runtime_workloads_run_and_pass_their_probes(
        dev_objects: list[dict[str, Any]], local_platform: PlatformStatus, tmp_path: Path) -> None:
    workloads = _workloads(dev_objects)
    assert set(workloads) == set(RUNTIME_COMPONENTS), "the dev stack deploys a bridge, a drift monitor and a learner"
    bootstrap = local_platform.kafka.endpoint or ""
    tracking_uri = local_platform.mlflow.endpoint or ""
    model = first_slice.train_and_register(tracking_uri, f"workload-run-{uuid.uuid4().hex[:6]}")
    runs = {component: Localised(deployment, config_map, tmp_path, bootstrap, tracking_uri,
                                 f"models:/{model.name}@champion")
            for component, (deployment, config_map) in workloads.items()}
    _create_topics(bootstrap, set().union(*(run.topics for run in runs.values())))

    processes: dict[str, subprocess.Popen] = {}
    try:
        for component, run in runs.items():
            log = run.log.open("wb")
            processes[component] = subprocess.Popen(run.argv, env=run.env, stdout=log, stderr=subprocess.STDOUT)
        pending = dict(runs)
        deadline = time.monotonic() + 240
        while pending and time.monotonic() < deadline:
            for component, run in list(pending.items()):
                assert processes[component].poll() is None, \
                    f"{run.name} exited {processes[component].returncode}:\n{run.log.read_text()[-3000:]}"
                base = f"http://127.0.0.1:{run.port}"
                if all(_status(base + probe["path"]) == 200 for probe in run.probes):
                    scrape = requests.get(f"{base}/metrics", timeout=5)
                    assert scrape.status_code == 200
                    assert RUNTIME_COMPONENTS[component] in scrape.text, f"{run.name}: {scrape.text[:2000]}"
                    del pending[component]
            time.sleep(0.5)
        assert not pending, "probes never passed for " + ", ".join(
            f"{run.name} ({[(p['path'], _status(f'http://127.0.0.1:{run.port}' + p['path'])) for p in run.probes]}):\n"
            f"{run.log.read_text()[-3000:]}" for run in pending.values())

        for process in processes.values():
            process.send_signal(signal.SIGTERM)
        for component, process in processes.items():
            assert process.wait(timeout=90) == 0, f"{runs[component].name}:\n{runs[component].log.read_text()[-3000:]}"
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    # The drift monitor wrote its checkpoint where the Deployment mounts its state volume.
    # One part per replica and one per partition (docs/drift.md, "Checkpoint"), beside the configured path.
    drift_state = tmp_path / runs["drift"].name / "var/lib/helicon/drift"
    parts = sorted(path.name for path in drift_state.iterdir())
    assert "checkpoint.pkl.replica-default" in parts and any(".partition-" in part for part in parts), parts
