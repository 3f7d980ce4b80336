"""The Pulumi program under Pulumi's unit-test mode, with each stack's own config file."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from helicon.stacks import program
from helicon.stacks.render import RecordingMocks, render_stack, run_program, stack_config

STACKS_DIR = Path(program.__file__).parent


def _kinds(registrations) -> Counter:  # noqa: ANN001
    return Counter(r.type_token.rsplit(":", 1)[-1] for r in registrations if r.custom)


@pytest.fixture(scope="module")
def stacks() -> dict:
    return {stack: render_stack(stack) for stack in ("dev", "staging", "prod")}


def test_dev_is_one_plain_broker_and_one_replica_of_everything(stacks) -> None:  # noqa: ANN001
    dev = stacks["dev"]
    kafka = next(r for r in dev if r.type_token.endswith(":Kafka"))
    assert kafka.inputs["spec"]["kafka"]["listeners"][0]["tls"] is False
    pools = {r.name: r.inputs["spec"]["replicas"] for r in dev if r.type_token.endswith(":KafkaNodePool")}
    assert pools == {"helicon-kafka-controllers": 1, "helicon-kafka-brokers": 1}
    assert all(r.inputs["spec"].get("replicas", 1) == 1 for r in dev if r.type_token.endswith(":Deployment"))
    assert _kinds(dev)["KafkaUser"] == 0  # no authentication on a plain listener
    assert _kinds(dev)["PodDisruptionBudget"] == 0


def test_prod_is_three_controllers_three_brokers_tls_scram_and_two_of_everything(stacks) -> None:  # noqa: ANN001
    prod = stacks["prod"]
    kafka = next(r for r in prod if r.type_token.endswith(":Kafka"))
    assert [(l["tls"], l["authentication"]["type"]) for l in kafka.inputs["spec"]["kafka"]["listeners"]] == \
        [(True, "scram-sha-512")]
    pools = {r.name: r.inputs["spec"]["replicas"] for r in prod if r.type_token.endswith(":KafkaNodePool")}
    assert pools == {"helicon-kafka-controllers": 3, "helicon-kafka-brokers": 3}
    deployments = [r for r in prod if r.type_token.endswith(":Deployment")]
    autoscaled = {r.inputs["spec"]["scaleTargetRef"]["name"]: r.inputs["spec"].get("minReplicas", r.inputs["spec"].get("minReplicaCount"))
                  for r in prod if r.type_token.endswith((":HorizontalPodAutoscaler", ":ScaledObject"))}
    for deployment in deployments:
        name = deployment.inputs["metadata"]["name"]
        replicas = deployment.inputs["spec"].get("replicas", autoscaled.get(name))
        assert replicas is not None and replicas >= 2, f"{name} runs {replicas} replica(s) in prod"
    pdb_selectors = [r.inputs["spec"]["selector"]["matchLabels"] for r in prod if r.type_token.endswith(":PodDisruptionBudget")]
    for deployment in deployments:
        assert deployment.inputs["spec"]["selector"]["matchLabels"] in pdb_selectors, deployment.name
    assert all(r.inputs["spec"]["replicas"] >= 2 for r in prod if r.type_token.endswith(":Model"))
    policies = {r.inputs["metadata"]["name"] for r in prod if r.type_token.endswith(":NetworkPolicy")}
    assert "default-deny-ingress" in policies and "runtime-egress" in policies
    users = {r.name for r in prod if r.type_token.endswith(":KafkaUser")}
    assert users == {f"helicon-{user}" for user in ("fraud-bridge", "fraud-drift", "fraud-learner", "fraud-stream",
                                                     "churn-bridge", "churn-drift")}


def test_resource_counts_per_stack(stacks) -> None:  # noqa: ANN001
    counts = {stack: sum(1 for r in registrations if r.custom) for stack, registrations in stacks.items()}
    # Deliberate: a change here changes what every environment deploys; the golden snapshots show which objects.
    assert counts == {"dev": 37, "staging": 44, "prod": 71}


def _config(stack: str, **changes) -> dict:  # noqa: ANN003
    _, config = stack_config(stack)
    for key, change in changes.items():
        config[f"helicon:{key}"] = change(config.get(f"helicon:{key}"))
    return config


@pytest.mark.parametrize(("stack", "changes", "message"), [
    ("prod", {"kafka": lambda k: {**k, "brokers": {"replicas": 1}}},
     r"^helicon:kafka\.brokers\.replicas must be ≥ 3 in prod \(got 1\)$"),
    ("staging", {"kafka": lambda k: {**k, "listener": "plain"}},
     r"^helicon:kafka\.listener must be tls-scram in staging \(plain is for dev only\) \(got 'plain'\)$"),
    ("prod", {"pipelines": lambda p: [{**p[0], "bridge": {"replicas": 1}}, *p[1:]]},
     r"^helicon:pipelines\[0\]\.bridge\.replicas must be ≥ 2 in prod \(got 1\)$"),
    ("dev", {"pipelines": lambda p: [{**p[0], "modle": p[0]["model"]}]},
     r"^helicon:pipelines\[0\]\.modle is not a field of PipelineArgs"),
    ("dev", {"image": lambda _: "ghcr.io/helicon/helicon-runtime:latest"},
     r"^helicon:image must not use the :latest tag"),
    ("dev", {"replicas": lambda _: "2"}, r"^helicon:replicas is not a setting of this program"),
    ("dev", {"pipelines": lambda p: [{**p[0], "streaming_job": {"engine": "flink", "image": "f:1"}}]},
     r"^helicon:pipelines\[0\]\.streaming_job\.artifact is required for engine flink$"),
    ("prod", {"pipelines": lambda p: [{**p[0], "streaming_job": {k: v for k, v in p[0]["streaming_job"].items()
                                                                   if k != "checkpoint_dir"}}, *p[1:]]},
     r"^helicon:pipelines\[0\]\.streaming_job\.checkpoint_dir is required for Flink in prod"),
    ("prod", {"pipelines": lambda p: [p[0], {**p[1], "name": "fraud"}]},
     r"^helicon:pipelines\[1\]\.name is used by another pipeline"),
])
def test_a_bad_config_fails_before_any_resource_is_registered(stack, changes, message) -> None:  # noqa: ANN001
    config = _config(stack, **changes)
    mocks = RecordingMocks()
    with pytest.raises(ValueError, match=message):
        run_program(program.main, stack=stack, config=config, mocks=mocks)
    # Not one resource — no component, no Kubernetes object — was registered before the error.
    assert mocks.registrations == []


def test_a_missing_secret_names_the_command_that_sets_it() -> None:
    config = _config("dev")
    del config["helicon:s3_secret_access_key"]
    with pytest.raises(ValueError, match=r"helicon:s3_secret_access_key is required: set it with `pulumi config set --secret"):
        run_program(program.main, stack="dev", config=config)


def test_an_unknown_environment_fails_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"helicon:environment must be one of dev, staging, prod \(got 'qa'\)"):
        run_program(program.main, stack="qa", config=_config("dev", environment=lambda _: "qa"))


def test_pulumi_yaml_points_at_the_stacks_program() -> None:
    project = yaml.safe_load((Path(__file__).parents[2] / "Pulumi.yaml").read_text())
    assert project["runtime"]["name"] == "python"
    assert project["main"].rstrip("/") == "stacks" and project["stackConfigDir"] == "stacks"
    assert (Path(__file__).parents[2] / "stacks" / "__main__.py").is_file()
