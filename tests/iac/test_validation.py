"""Every object each stack emits validates strictly against pinned schemas; misspellings are caught."""

from __future__ import annotations

import copy
import hashlib
import re
from importlib import resources

import pytest

from helicon.stacks.render import manifests, render_stack
from helicon.stacks.validate import validate_all, validate_object


@pytest.fixture(scope="module")
def objects() -> dict[str, list[dict]]:
    return {stack: manifests(render_stack(stack)) for stack in ("dev", "staging", "prod")}


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_object_of_every_stack_is_schema_valid(objects, stack) -> None:  # noqa: ANN001
    assert objects[stack], "the stack emitted nothing"
    assert [str(v) for v in validate_all(objects[stack])] == []


def test_every_custom_resource_kind_emitted_has_a_pinned_crd(objects) -> None:  # noqa: ANN001
    kinds = {(o["apiVersion"], o["kind"]) for stack in objects.values() for o in stack if "." in o["apiVersion"].split("/")[0]}
    assert {("kafka.strimzi.io/v1", "Kafka"), ("mlops.seldon.io/v1alpha1", "Experiment"),
            ("flink.apache.org/v1beta1", "FlinkDeployment"), ("sparkoperator.k8s.io/v1beta2", "SparkApplication"),
            ("serving.kserve.io/v1beta1", "InferenceService"), ("keda.sh/v1alpha1", "ScaledObject")} <= kinds


def _first(objects, kind):  # noqa: ANN001, ANN202
    return copy.deepcopy(next(o for stack in objects.values() for o in stack if o["kind"] == kind))


@pytest.mark.parametrize(("kind", "mutate", "path", "message"), [
    ("Kafka", lambda o: o["spec"]["kafka"]["listeners"][0].update(authentification={"type": "scram-sha-512"}),
     "spec.kafka.listeners[0]", "'authentification' was unexpected"),
    ("KafkaNodePool", lambda o: o["spec"].update(roles=["leader"]), "spec.roles[0]", "'leader' is not one of"),
    ("Deployment", lambda o: o["spec"]["template"]["spec"]["containers"][0]["securityContext"].update(
        readOnlyRootFileSystem=True), "spec.template.spec.containers[0].securityContext", "'readOnlyRootFileSystem' was unexpected"),
    ("Deployment", lambda o: o["spec"].update(replicas="two"), "spec.replicas", "'two' is not of type"),
    ("Experiment", lambda o: o["spec"]["candidates"][0].pop("weight"), "spec.candidates[0]", "'weight' is a required property"),
    ("InferenceService", lambda o: o["spec"]["predictor"]["model"].update(storageURI="s3://x"),
     "spec.predictor.model", "'storageURI' was unexpected"),
    ("ScaledObject", lambda o: o["spec"].update(maxReplicas=3), "spec", "'maxReplicas' was unexpected"),
    ("FlinkDeployment", lambda o: o["spec"]["job"].update(upgradeMode="hot"), "spec.job.upgradeMode", "'hot' is not one of"),
    ("SparkApplication", lambda o: o["spec"]["driver"].update(core=1), "spec.driver", "'core' was unexpected"),
    ("NetworkPolicy", lambda o: o["spec"].update(policyType=["Ingress"]), "spec", "'policyType' was unexpected"),
    ("KafkaTopic", lambda o: o["metadata"].update(label={}), "metadata", "'label' was unexpected"),
])
def test_a_misspelt_or_wrong_field_is_an_error_with_its_path(objects, kind, mutate, path, message) -> None:  # noqa: ANN001
    obj = _first(objects, kind)
    assert validate_object(obj) == []
    mutate(obj)
    violations = validate_object(obj)
    assert any(v.path == path and message in v.message for v in violations), [str(v) for v in violations]


def test_an_unknown_custom_resource_kind_is_not_silently_accepted() -> None:
    violations = validate_object({"apiVersion": "kafka.strimzi.io/v1", "kind": "KafkaConnect", "metadata": {"name": "x"}})
    assert [v.message for v in violations] == ["no pinned CRD schema for kafka.strimzi.io/v1 KafkaConnect"]


def test_the_pinned_crds_are_the_files_the_provenance_notice_lists() -> None:
    crds = resources.files("helicon.infra.crds")
    notice = crds.joinpath("README.md").read_text()
    listed = dict((path, digest) for digest, path in re.findall(r"^([0-9a-f]{64})  (\S+\.yaml)$", notice, re.MULTILINE))
    assert len(listed) == 13
    for path, digest in listed.items():
        assert hashlib.sha256(crds.joinpath(path).read_bytes()).hexdigest() == digest, path
    assert "Apache License" in crds.joinpath("LICENSE-Apache-2.0.txt").read_text()
