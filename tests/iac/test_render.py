"""``helicon render``: deterministic, one file per resource, secrets redacted, equal to the golden renders."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from helicon.stacks.render import HEADER, REDACTED, render_stack, write_manifests
from tests.helpers import run_cli

GOLDEN = Path(__file__).parent / "golden"


def _tree(root: Path) -> dict[str, str]:
    return {str(path.relative_to(root)): path.read_text() for path in sorted(root.rglob("*.yaml"))}


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_render_equals_the_golden_snapshot(stack: str, tmp_path: Path) -> None:
    write_manifests(render_stack(stack), tmp_path)
    rendered, golden = _tree(tmp_path), _tree(GOLDEN / stack)
    assert sorted(rendered) == sorted(golden), "files added/removed: regenerate (tests/iac/golden/README.md)"
    changed = [name for name in rendered if rendered[name] != golden[name]]
    assert changed == [], f"manifests changed: {changed[:5]} — regenerate if intended (tests/iac/golden/README.md)"


def test_rendering_twice_gives_identical_files(tmp_path: Path) -> None:
    write_manifests(render_stack("prod"), tmp_path / "a")
    write_manifests(render_stack("prod"), tmp_path / "b")
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")


def test_secrets_are_redacted_and_one_file_holds_one_object() -> None:
    texts = _tree(GOLDEN / "prod")
    secret = yaml.safe_load(texts["helicon-prod/secret-helicon-mlflow-credentials.yaml"])
    assert secret["stringData"] == {"AWS_ACCESS_KEY_ID": REDACTED, "AWS_SECRET_ACCESS_KEY": REDACTED,
                                    "MLFLOW_BACKEND_STORE_URI": REDACTED}
    assert not any("<secret helicon:" in text for text in texts.values())  # no placeholder leaked through
    for name, text in texts.items():
        assert text.startswith(HEADER) and len(list(yaml.safe_load_all(text))) == 1, name


def test_the_cli_renders_a_stack_and_removes_files_it_no_longer_produces(tmp_path: Path) -> None:
    stale = tmp_path / "helicon-dev" / "deployment-gone.yaml"
    stale.parent.mkdir(parents=True)
    stale.write_text(HEADER + "kind: Deployment\n")
    mine = tmp_path / "notes.yaml"
    mine.write_text("not rendered\n")
    result = run_cli(["render", "dev", "--out", str(tmp_path)])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"37 manifests written to {tmp_path}"
    assert not stale.exists() and mine.exists()
    assert _tree(tmp_path) | {"notes.yaml": "not rendered\n"} == _tree(GOLDEN / "dev") | {"notes.yaml": "not rendered\n"}


def test_the_cli_names_the_bad_field_of_a_stack_file(tmp_path: Path) -> None:
    stack = yaml.safe_load((Path(__file__).parents[2] / "stacks" / "Pulumi.prod.yaml").read_text())
    stack["config"]["helicon:kafka"]["controllers"]["replicas"] = 2
    path = tmp_path / "Pulumi.broken.yaml"
    path.write_text(yaml.safe_dump(stack))
    result = run_cli(["render", str(path), "--out", str(tmp_path / "out")])
    assert result.returncode == 2
    assert result.stderr.strip() == "error: helicon:kafka.controllers.replicas must be ≥ 3 in prod (got 2)"
    assert not (tmp_path / "out").exists()


def test_an_invalid_object_stops_the_render_before_anything_is_written(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from dataclasses import replace

    from typer.testing import CliRunner

    from helicon.runtime.cli.main import app
    from helicon.stacks import render as render_module

    registrations = render_stack("dev")
    index = next(i for i, r in enumerate(registrations) if r.type_token == "kubernetes:apps/v1:Deployment")
    inputs = yaml.safe_load(yaml.safe_dump(registrations[index].inputs))
    inputs["spec"]["template"]["spec"]["containers"][0]["imagePullPolice"] = "Always"
    registrations[index] = replace(registrations[index], inputs=inputs)
    monkeypatch.setattr(render_module, "render_stack", lambda stack: registrations)

    result = CliRunner().invoke(app, ["render", "dev", "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert (f"invalid: Deployment/{inputs['metadata']['name']}: spec.template.spec.containers[0]: "
            "Additional properties are not allowed ('imagePullPolice' was unexpected)") in result.output
    assert not (tmp_path / "out").exists()
