"""Serving from the MLflow registry, and the runtime CLI working without Pulumi."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from helicon.components.serving import registry_storage_uri
from helicon.stacks.render import SECRET_SIG_KEY, render_stack


def test_a_registered_model_version_resolves_to_its_artifact_location(tmp_path: Path) -> None:
    mlflow = pytest.importorskip("mlflow")
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=tracking, registry_uri=tracking)
    experiment = client.create_experiment("fraud", artifact_location=f"file://{tmp_path / 'artifacts'}")
    run = client.create_run(experiment)
    client.create_registered_model("fraud")
    source = f"file://{tmp_path / 'artifacts' / run.info.run_id / 'artifacts' / 'model'}"
    version = client.create_model_version("fraud", source, run_id=run.info.run_id)
    client.set_registered_model_alias("fraud", "champion", version.version)

    assert registry_storage_uri(f"models:/fraud/{version.version}", tracking) == source
    assert registry_storage_uri("models:/fraud@champion", tracking) == source


def test_every_stacks_secret_values_are_registered_as_pulumi_secrets() -> None:
    for stack in ("dev", "prod"):
        secrets = [r for r in render_stack(stack) if r.type_token == "kubernetes:core/v1:Secret"]
        assert secrets, stack
        for secret in secrets:
            data = secret.inputs["stringData"]
            assert SECRET_SIG_KEY in data or all(SECRET_SIG_KEY in value for value in data.values()), secret.name


def test_the_cli_imports_without_pulumi() -> None:
    # The runtime image has no Pulumi: `helicon render` must import it lazily.
    code = ("import sys; sys.modules['pulumi'] = None; sys.modules['pulumi_kubernetes'] = None\n"
            "from helicon.runtime.cli.main import app\nprint('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
