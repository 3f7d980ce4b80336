"""HeliconPlatform as a platform team uses it directly, and the infra/ building blocks."""

from __future__ import annotations

import pytest

from helicon.components.platform import HeliconPlatform
from helicon.infra.network import PlatformNamespace
from helicon.infra.operators import CHARTS, Operators
from tests.iac.harness import run, uses_provider, with_provider

ARGS = {
    "environment": "staging", "namespace": "ml", "image": "ghcr.io/helicon/helicon-runtime:0.1.0",
    "kafka": {"controllers": {"replicas": 3}, "brokers": {"replicas": 3}},
    "mlflow": {"image": "ghcr.io/mlflow/mlflow:v3.4.0", "artifacts_destination": "s3://mlflow"},
    "secrets": {"mlflow_backend_store_uri": "postgresql://u:p@db/m", "s3_access_key_id": "a", "s3_secret_access_key": "b"},
    "serving_backend": "kserve",
    "pipelines": [{"name": "fraud", "model": {"storage_uri": "s3://m/fraud"}, "drift": {}},
                  {"name": "churn", "model": {"storage_uri": "s3://m/churn"},
                   "streaming_job": {"engine": "flink", "image": "f:1", "artifact": "local:///job.jar"}}],
}


def test_the_callers_provider_reaches_every_kubernetes_object_through_nested_components() -> None:
    def build():
        platform = HeliconPlatform("acme", ARGS, with_provider())
        return {"bootstrap": platform.bootstrap_servers, "tracking": platform.tracking_uri,
                "uris": platform.inference_uris}

    result = run(build)
    kubernetes = [r for r in result.registrations if r.custom and r.type_token.startswith("kubernetes:")]
    assert len(kubernetes) > 30
    assert [r.name for r in kubernetes if not uses_provider(r)] == []
    assert result.outputs == {
        "bootstrap": "acme-kafka-kafka-bootstrap.ml.svc:9093", "tracking": "http://acme-mlflow.ml.svc:80",
        "uris": {"fraud": "oip+http://fraud-model-predictor.ml.svc:80/v2/models/fraud-model",
                 "churn": "oip+http://churn-model-predictor.ml.svc:80/v2/models/churn-model"}}
    bridge = result.spec("Deployment", "acme-fraud-bridge")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert bridge[bridge.index("--model") + 1] == "oip+http://fraud-model-predictor.ml.svc:80/v2/models/fraud-model"
    assert bridge[bridge.index("--bootstrap") + 1] == "acme-kafka-kafka-bootstrap.ml.svc:9093"
    user = result.spec("KafkaUser", "acme-fraud-drift")["spec"]["authorization"]["acls"]
    assert {acl["resource"]["name"] for acl in user} == {"fraud.features", "fraud.predictions", "fraud.feedback",
                                                          "fraud.alerts", "fraud.dlq", "fraud-drift"}
    releases = {r.inputs["chart"] for r in result.of_kind("Release")}
    assert releases == {"strimzi-kafka-operator", "oci://ghcr.io/kserve/charts/kserve",
                        "oci://ghcr.io/kserve/charts/kserve-crd", "flink-kubernetes-operator"}


def test_a_platform_error_names_the_pipeline_and_the_childs_field() -> None:
    bad = {**ARGS, "pipelines": [{**ARGS["pipelines"][0], "bridge": {"autoscaling": {"kind": "keda", "max_replicas": 0}}}]}
    with pytest.raises(ValueError, match=r"^HeliconPlatformArgs\.pipelines\[0\]\.bridge: InferenceBridgeArgs\.autoscaling"
                                         r"\.max_replicas must be ≥ replicas \(1\) \(got 0\)$"):
        run(lambda: HeliconPlatform("acme", bad) and None)


def test_operators_are_pinned_charts_in_their_own_namespaces_watching_the_platform() -> None:
    result = run(lambda: {"ns": Operators("ops", {"watch_namespace": "ml", "install": ["strimzi", "seldon", "keda"]}).namespaces})
    strimzi = result.find("kubernetes:helm.sh/v3:Release", "ops-strimzi").inputs
    assert (strimzi["chart"], strimzi["version"], strimzi["namespace"]) == ("strimzi-kafka-operator", "1.2.0", "strimzi-system")
    assert {"name": "STRIMZI_POD_SECURITY_PROVIDER_CLASS", "value": "restricted"} in strimzi["values"]["extraEnvs"]
    assert strimzi["values"]["watchNamespaces"] == ["ml"] and strimzi["repositoryOpts"] == {"repo": "https://strimzi.io/charts/"}
    assert result.find("kubernetes:helm.sh/v3:Release", "ops-seldon-crds").inputs["chart"] == "seldon-core-v2-crds"
    runtime = result.find("kubernetes:helm.sh/v3:Release", "ops-seldon-runtime").inputs
    assert (runtime["chart"], runtime["namespace"]) == ("seldon-core-v2-runtime", "ml")
    assert all(chart.version and not chart.version.startswith(("^", "~", ">")) for chart in CHARTS.values())
    assert result.outputs == {"ns": ["keda", "seldon-system", "strimzi-system"]}


def test_namespace_enforces_restricted_and_denies_ingress_by_default() -> None:
    result = run(lambda: PlatformNamespace("p", {"namespace": "ml"}) and None)
    labels = result.spec("Namespace", "p")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    deny = result.spec("NetworkPolicy", "p-default-deny-ingress")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress"]}
    egress = result.spec("NetworkPolicy", "p-runtime-egress")["spec"]
    assert egress["policyTypes"] == ["Egress"]
    ports = {port["port"] for rule in egress["egress"] for port in rule["ports"]}
    assert {53, 9092, 9093, 5000} <= ports
    assert run(lambda: PlatformNamespace("p", {"namespace": "ml", "network_policies": False}) and None).of_kind("NetworkPolicy") == []


def test_two_platforms_in_one_stack_register_no_name_twice() -> None:
    # The engine rejects two resources with one URN (type chain + name); mocks do not, so check names here.
    def build():
        HeliconPlatform("blue", {**ARGS, "namespace": "ml-blue", "install_operators": False})
        HeliconPlatform("green", {**ARGS, "namespace": "ml-green", "install_operators": False})

    result = run(build)
    keys = [(r.type_token, r.name) for r in result.registrations]
    assert len(keys) > 60 and len(keys) == len(set(keys))
