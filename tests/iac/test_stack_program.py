"""The Pulumi program under Pulumi's unit-test mode, with each stack's own config file."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pytest
import yaml

from helicon.stacks import program

STACKS_DIR = Path(program.__file__).parent


class _RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):  # noqa: ANN201
        self.resources.append(args)
        return f"{args.name}-id", args.inputs

    def call(self, args: pulumi.runtime.MockCallArgs):  # noqa: ANN201
        return {}


def _run_program(stack: str, config: dict[str, str]) -> program.StackSettings:
    pulumi.runtime.set_mocks(_RecordingMocks(), project="helicon", stack=stack, preview=False)
    pulumi.runtime.set_all_config(config)
    return program.main()


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_each_stack_config_runs_the_program(stack: str) -> None:
    config_file = STACKS_DIR / f"Pulumi.{stack}.yaml"
    config = {key: str(value) for key, value in yaml.safe_load(config_file.read_text())["config"].items()}
    settings = _run_program(stack, config)
    assert settings.environment == stack
    assert settings.namespace == f"helicon-{stack}"


def test_an_unknown_environment_fails_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"helicon:environment must be one of dev, staging, prod \(got 'qa'\)"):
        _run_program("qa", {"helicon:environment": "qa"})


def test_pulumi_yaml_points_at_the_stacks_program() -> None:
    project = yaml.safe_load((Path(__file__).parents[2] / "Pulumi.yaml").read_text())
    assert project["runtime"]["name"] == "python"
    assert project["main"].rstrip("/") == "stacks" and project["stackConfigDir"] == "stacks"
    assert (Path(__file__).parents[2] / "stacks" / "__main__.py").is_file()
