"""The policy pack: every stack's resources are clean; each rule catches its counter-example."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest

from helicon.infra.policy import pack_path
from helicon.infra.policy.pack import policies
from helicon.infra.policy.rules import RULES, violations
from helicon.stacks.render import render_stack, unwrap_secrets


@pytest.fixture(scope="module")
def registrations() -> dict:
    return {stack: [r for r in render_stack(stack) if r.custom] for stack in ("dev", "staging", "prod")}


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_stack_is_policy_clean(registrations, stack) -> None:  # noqa: ANN001
    found = [(r.type_token, r.name, rule, message) for r in registrations[stack]
             for rule, message in violations(r.type_token, unwrap_secrets(r.inputs), stack)]
    assert found == []


def _find(registrations, kind, stack="prod"):  # noqa: ANN001, ANN202
    registration = next(r for r in registrations[stack] if r.type_token.endswith(f":{kind}"))
    return registration.type_token, copy.deepcopy(unwrap_secrets(registration.inputs))


def _container(props):  # noqa: ANN001, ANN202
    return props["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize(("rule", "kind", "mutate", "expected"), [
    ("resource-limits", "Deployment", lambda p: _container(p)["resources"]["limits"].pop("memory"),
     "resources.limits.memory is not set"),
    ("non-root", "Deployment", lambda p: (p["spec"]["template"]["spec"]["securityContext"].pop("runAsNonRoot"),
                                          _container(p)["securityContext"].pop("runAsNonRoot")), "runAsNonRoot is not true"),
    ("non-root", "Deployment", lambda p: _container(p)["securityContext"].update(allowPrivilegeEscalation=True),
     "allowPrivilegeEscalation is not false"),
    ("non-root", "SparkApplication", lambda p: p["spec"]["executor"]["securityContext"].pop("capabilities"),
     "spec.executor: capabilities.drop does not include ALL"),
    ("no-latest-tag", "Deployment", lambda p: _container(p).update(image="ghcr.io/helicon/helicon-runtime:latest"),
     "uses :latest"),
    ("no-latest-tag", "FlinkDeployment", lambda p: p["spec"].update(image="flink"), "has no tag"),
    ("tls-listeners-outside-dev", "Kafka", lambda p: p["spec"]["kafka"]["listeners"][0].update(tls=False),
     "tls is not true in prod"),
    ("secrets-as-secrets", "Deployment", lambda p: _container(p)["env"].append({"name": "DB_PASSWORD", "value": "x"}),
     "(DB_PASSWORD) is a literal value"),
    ("secrets-as-secrets", "Deployment", lambda p: _container(p)["args"].append("postgresql://u:hunter2@db/x"),
     "holds a URI with a password"),
    ("secrets-as-secrets", "ConfigMap", lambda p: p["data"].update(S3_SECRET_ACCESS_KEY="x"), "looks like a credential"),
])
def test_each_rule_reports_its_counter_example(registrations, rule, kind, mutate, expected) -> None:  # noqa: ANN001
    type_token, props = _find(registrations, kind, "staging" if kind == "SparkApplication" else "prod")
    assert violations(type_token, props, "prod") == []
    mutate(props)
    assert any(name == rule and expected in message for name, message in violations(type_token, props, "prod")), \
        violations(type_token, props, "prod")


def test_the_dev_stacks_plain_listener_passes_only_in_dev(registrations) -> None:  # noqa: ANN001
    type_token, props = _find(registrations, "Kafka", "dev")
    assert violations(type_token, props, "dev") == []
    assert [name for name, _ in violations(type_token, props, "staging")] == ["tls-listeners-outside-dev"] * 2


def test_the_crossguard_pack_runs_the_rules_with_its_config() -> None:
    by_name = {policy.name: policy for policy in policies()}
    assert set(by_name) == {f"helicon-{name}" for name in RULES}
    kafka = {"spec": {"kafka": {"listeners": [{"name": "plain", "port": 9092, "type": "internal", "tls": False}]}}}
    reported: list[str] = []

    def validate(environment: str | None) -> list[str]:
        reported.clear()
        args = SimpleNamespace(resource_type="kubernetes:kafka.strimzi.io/v1:Kafka", props=kafka,
                               get_config=lambda: {} if environment is None else {"environment": environment})
        by_name["helicon-tls-listeners-outside-dev"].validate(args, lambda message, urn=None: reported.append(message))
        return list(reported)

    assert len(validate(None)) == 2  # no config: the strictest environment
    assert validate("dev") == []
    assert all(p.enforcement_level.value == "mandatory" for p in policies())


def test_the_pack_directory_is_what_policy_pack_takes() -> None:
    assert (pack_path() / "PulumiPolicy.yaml").read_text().startswith("runtime: python")
    assert (pack_path() / "__main__.py").is_file()
