"""InferenceBridge, DriftMonitor, OnlineLearner: commands, security, labels, PDB and autoscaling."""

from __future__ import annotations

import pytest

from helicon.components.workloads import DriftMonitor, InferenceBridge, OnlineLearner
from tests.iac.harness import run, uses_provider, with_provider

SECURE_KAFKA = {"bootstrap_servers": "events-kafka-bootstrap.data.svc:9093", "security_protocol": "SASL_SSL",
                "credentials_secret": "fraud-bridge", "ca_secret": "events-cluster-ca-cert"}
BRIDGE = {"namespace": "data", "image": "ghcr.io/helicon/helicon-runtime:0.1.0", "kafka": SECURE_KAFKA,
          "group": "fraud-bridge", "input_topic": "fraud.features", "output_topic": "fraud.predictions",
          "dlq_topic": "fraud.dlq", "model_uri": "models:/fraud@champion", "replicas": 2,
          "settings": {"batch_size": "128"}}


def _pod(result, name):  # noqa: ANN001, ANN202
    return result.spec("Deployment", name)["spec"]["template"]


def test_bridge_runs_helicon_run_bridge_with_its_flags_and_credentials_from_the_kafkauser_secret() -> None:
    result = run(lambda: {"metrics": InferenceBridge("fraud-bridge", BRIDGE, with_provider()).metrics_endpoint})
    container = _pod(result, "fraud-bridge")["spec"]["containers"][0]
    assert container["command"] == ["helicon", "run", "bridge"]
    assert container["args"] == ["--bootstrap", "events-kafka-bootstrap.data.svc:9093", "--input", "fraud.features",
                                 "--output", "fraud.predictions", "--dlq", "fraud.dlq", "--group", "fraud-bridge",
                                 "--model", "models:/fraud@champion", "--config", "/etc/helicon/helicon.yaml"]
    env = {item["name"]: item for item in container["env"]}
    assert env["KAFKA_SASL_PASSWORD"]["valueFrom"] == {"secretKeyRef": {"name": "fraud-bridge", "key": "password"}}
    assert env["KAFKA_SECURITY_PROTOCOL"]["value"] == "SASL_SSL"
    assert env["KAFKA_SSL_CA_LOCATION"]["value"] == "/etc/helicon/kafka-ca/ca.crt"
    assert result.spec("ConfigMap", "fraud-bridge-config")["data"] == {"helicon.yaml": "batch_size: '128'\n"}
    assert result.outputs == {"metrics": "http://fraud-bridge-metrics.data.svc:9400/metrics"}
    for kind, name in (("Deployment", "fraud-bridge"), ("ConfigMap", "fraud-bridge-config"),
                       ("Service", "fraud-bridge-metrics"), ("PodDisruptionBudget", "fraud-bridge-pdb")):
        assert uses_provider(result.find(kind, name)), f"{kind} {name} lost the caller's provider"


def test_every_pod_meets_restricted_with_a_read_only_root_and_writable_tmp() -> None:
    result = run(lambda: InferenceBridge("fraud-bridge", BRIDGE) and None)
    pod = _pod(result, "fraud-bridge")["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    context = pod["containers"][0]["securityContext"]
    assert context == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
                       "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}
    mounts = {mount["mountPath"] for mount in pod["containers"][0]["volumeMounts"]}
    assert {"/tmp", "/etc/helicon/helicon.yaml", "/etc/helicon/kafka-ca"} <= mounts
    resources = pod["containers"][0]["resources"]
    assert resources["limits"]["memory"] == resources["requests"]["memory"] == "512Mi"


def test_labels_are_the_recommended_set_and_selectors_use_only_name_and_instance() -> None:
    result = run(lambda: InferenceBridge("fraud-bridge", BRIDGE) and None)
    deployment = result.spec("Deployment", "fraud-bridge")
    assert deployment["metadata"]["labels"] == {
        "app.kubernetes.io/name": "helicon-bridge", "app.kubernetes.io/instance": "fraud-bridge",
        "app.kubernetes.io/component": "bridge", "app.kubernetes.io/part-of": "helicon",
        "app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/version": "0.1.0"}
    selector = {"app.kubernetes.io/name": "helicon-bridge", "app.kubernetes.io/instance": "fraud-bridge"}
    assert deployment["spec"]["selector"] == {"matchLabels": selector}
    assert result.spec("Service", "fraud-bridge-metrics")["spec"]["selector"] == selector
    assert result.spec("PodDisruptionBudget", "fraud-bridge-pdb")["spec"] == {"maxUnavailable": 1,
                                                                               "selector": {"matchLabels": selector}}


def test_one_replica_gets_no_pdb_and_a_fixed_replica_count() -> None:
    result = run(lambda: InferenceBridge("b", {**BRIDGE, "replicas": 1}) and None)
    assert result.of_kind("PodDisruptionBudget") == [] and result.of_kind("HorizontalPodAutoscaler") == []
    assert result.spec("Deployment", "b")["spec"]["replicas"] == 1


def test_hpa_owns_the_replica_count() -> None:
    result = run(lambda: InferenceBridge("b", {**BRIDGE, "autoscaling": {"kind": "hpa", "max_replicas": 6}}) and None)
    assert "replicas" not in result.spec("Deployment", "b")["spec"]
    hpa = result.spec("HorizontalPodAutoscaler", "b-hpa")["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "b"}
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 6)


def test_keda_scales_on_the_input_topics_consumer_lag_with_scram_credentials() -> None:
    result = run(lambda: InferenceBridge("b", {**BRIDGE, "autoscaling": {
        "kind": "keda", "max_replicas": 12, "lag_threshold": 500}}) and None)
    scaled = result.spec("ScaledObject", "b-scaler")["spec"]
    trigger = scaled["triggers"][0]
    assert trigger["type"] == "kafka" and trigger["authenticationRef"] == {"name": "b-scaler-auth"}
    assert trigger["metadata"] == {"bootstrapServers": SECURE_KAFKA["bootstrap_servers"], "consumerGroup": "fraud-bridge",
                                   "topic": "fraud.features", "lagThreshold": "500", "sasl": "scram_sha512",
                                   "tls": "enable", "username": "fraud-bridge"}
    assert (scaled["minReplicaCount"], scaled["maxReplicaCount"]) == (2, 12)
    refs = result.spec("TriggerAuthentication", "b-scaler-auth")["spec"]["secretTargetRef"]
    assert {"parameter": "password", "name": "fraud-bridge", "key": "password"} in refs


def test_drift_monitor_and_learner_run_their_commands_with_their_flags() -> None:
    plain = {"bootstrap_servers": "k:9092"}
    base = {"namespace": "data", "image": "img:1", "kafka": plain}

    def build():
        DriftMonitor("fraud-drift", {**base, "group": "fraud-drift", "pipeline": "fraud", "features_topic": "f",
                                     "predictions_topic": "p", "feedback_topic": "fb", "alerts_topic": "a",
                                     "dlq_topic": "d", "mlflow_tracking_uri": "http://mlflow.data.svc:80"})
        OnlineLearner("fraud-learner", {**base, "group": "fraud-learner", "features_topic": "f",
                                        "feedback_topic": "fb", "predictions_topic": "p", "dlq_topic": "d",
                                        "model_spec": "hbp", "checkpoint": "s3://state/fraud-learner",
                                        "s3": {"credentials_secret": "state-s3", "endpoint_url": "http://minio.data.svc:9000"}})

    result = run(build)
    drift_pod = _pod(result, "fraud-drift")["spec"]
    drift = drift_pod["containers"][0]
    assert drift["command"] == ["helicon", "run", "drift"]
    assert drift["args"] == ["--bootstrap", "k:9092", "--pipeline", "fraud", "--features", "f", "--predictions", "p",
                             "--feedback", "fb", "--alerts", "a", "--dlq", "d", "--group", "fraud-drift",
                             "--checkpoint", "/var/lib/helicon/drift/checkpoint.pkl",
                             "--config", "/etc/helicon/helicon.yaml"]
    # The root filesystem is read-only: the checkpoint's directory is a volume.
    assert {"name": "state", "mountPath": "/var/lib/helicon"} in drift["volumeMounts"]
    assert {"name": "state", "emptyDir": {}} in drift_pod["volumes"]
    assert {"name": "MLFLOW_TRACKING_URI", "value": "http://mlflow.data.svc:80"} in drift["env"]
    learner = _pod(result, "fraud-learner")
    container = learner["spec"]["containers"][0]
    assert container["args"] == ["--bootstrap", "k:9092", "--features", "f", "--feedback", "fb", "--predictions", "p",
                                 "--dlq", "d", "--group", "fraud-learner", "--model", "hbp",
                                 "--checkpoint", "s3://state/fraud-learner", "--config", "/etc/helicon/helicon.yaml"]
    assert "MLFLOW_TRACKING_URI" not in {variable["name"] for variable in container["env"]}
    assert learner["metadata"]["labels"]["app.kubernetes.io/component"] == "learn"
    env = {item["name"]: item for item in container["env"]}
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert env[key]["valueFrom"] == {"secretKeyRef": {"name": "state-s3", "key": key}}
    assert env["AWS_ENDPOINT_URL_S3"]["value"] == "http://minio.data.svc:9000"
    assert "AWS_ACCESS_KEY_ID" not in {item["name"] for item in drift["env"]}, "no S3 access without an s3:// checkpoint"
    # Libraries that cache under ~ must write to the /tmp volume, not the read-only root.
    assert {"name": "HOME", "value": "/tmp"} in drift["env"] and {"name": "HOME", "value": "/tmp"} in container["env"]


def test_drift_monitor_keeps_its_checkpoint_on_s3_when_asked() -> None:
    args = {"namespace": "data", "image": "img:1", "kafka": {"bootstrap_servers": "k:9092"}, "group": "fraud-drift",
            "pipeline": "fraud", "features_topic": "f", "predictions_topic": "p", "feedback_topic": "fb",
            "alerts_topic": "a", "dlq_topic": "d", "checkpoint": "s3://state/drift/fraud",
            "s3": {"credentials_secret": "state-s3", "region": "eu-west-1"}}
    result = run(lambda: DriftMonitor("fraud-drift", args) and None)
    container = _pod(result, "fraud-drift")["spec"]["containers"][0]
    assert container["args"][container["args"].index("--checkpoint") + 1] == "s3://state/drift/fraud"
    env = {item["name"]: item for item in container["env"]}
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"] == {"secretKeyRef": {"name": "state-s3", "key": "AWS_SECRET_ACCESS_KEY"}}
    assert env["AWS_DEFAULT_REGION"]["value"] == "eu-west-1"
    assert "AWS_ENDPOINT_URL_S3" not in env


@pytest.mark.parametrize(("change", "message"), [
    ({"checkpoint": "/data/drift.pkl"}, r"DriftMonitorArgs\.checkpoint must be s3://BUCKET/PREFIX"),
    ({"checkpoint": "s3://state/drift"}, r"DriftMonitorArgs\.s3 is required when checkpoint is s3://"),
    ({"checkpoint": "s3://state/drift", "s3": {"credentials_secret": "state-s3", "endpoint_url": "minio:9000"}},
     r"DriftMonitorArgs\.s3\.endpoint_url must be an http\(s\):// URL"),
])
def test_drift_checkpoint_and_s3_access_are_checked(change: dict, message: str) -> None:
    args = {"namespace": "data", "image": "img:1", "kafka": {"bootstrap_servers": "k:9092"}, "group": "g",
            "pipeline": "fraud", "features_topic": "f", "predictions_topic": "p", "feedback_topic": "fb",
            "alerts_topic": "a", "dlq_topic": "d", **change}
    with pytest.raises(ValueError, match=message):
        run(lambda: DriftMonitor("fraud-drift", args) and None)


@pytest.mark.parametrize(("checkpoint", "tracking", "message"), [
    ("file:/tmp/x", None, r"OnlineLearnerArgs\.checkpoint must be mlflow:NAME\[@ALIAS\] or s3://BUCKET/PREFIX"),
    ("mlflow:fraud-learner", None, r"OnlineLearnerArgs\.mlflow_tracking_uri is required when checkpoint is mlflow:"),
])
def test_learner_checkpoint_is_checked(checkpoint: str, tracking: str | None, message: str) -> None:
    args = {"namespace": "data", "image": "img:1", "kafka": {"bootstrap_servers": "k:9092"}, "group": "g",
            "features_topic": "f", "feedback_topic": "fb", "predictions_topic": "p", "dlq_topic": "d",
            "model_spec": "hbp", "checkpoint": checkpoint}
    with pytest.raises(ValueError, match=message):
        run(lambda: OnlineLearner("fraud-learner", args) and None)


@pytest.mark.parametrize(("change", "message"), [
    ({"image": "ghcr.io/helicon/helicon-runtime:latest"}, r"InferenceBridgeArgs\.image must not use the :latest tag"),
    ({"image": "ghcr.io/helicon/helicon-runtime"}, r"InferenceBridgeArgs\.image must pin a tag or digest"),
    ({"kafka": {**SECURE_KAFKA, "credentials_secret": ""}}, r"InferenceBridgeArgs\.kafka\.credentials_secret is required"),
    ({"autoscaling": {"kind": "hpa", "max_replicas": 1}}, r"InferenceBridgeArgs\.autoscaling\.max_replicas must be ≥ replicas"),
    ({"dlq": "x"}, r"InferenceBridgeArgs\.dlq is not a field of InferenceBridgeArgs"),
    ({"replicas": "2"}, r"InferenceBridgeArgs\.replicas must be an integer \(got '2'\)"),
])
def test_bad_workload_args_name_the_field(change, message) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match=message):
        run(lambda: InferenceBridge("b", {**BRIDGE, **change}) and None)


def test_enum_members_and_their_string_values_are_equivalent() -> None:
    from helicon.components.serving import ModelFormat, SeldonServing
    from helicon.components.workloads import AutoscalerKind, SecurityProtocol

    def build():
        InferenceBridge("b", {**BRIDGE, "kafka": {**SECURE_KAFKA, "security_protocol": SecurityProtocol.SASL_SSL},
                              "autoscaling": {"kind": AutoscalerKind.HPA, "max_replicas": 4}})
        SeldonServing("s", {"namespace": "ml", "model_name": "m", "storage_uri": "s3://m/1",
                            "model_format": ModelFormat.SKLEARN})

    result = run(build)
    env = {e["name"]: e.get("value") for e in _pod(result, "b")["spec"]["containers"][0]["env"]}
    assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert result.spec("HorizontalPodAutoscaler", "b-hpa")["spec"]["maxReplicas"] == 4
    assert result.spec("Model", "s-stable")["spec"]["requirements"] == ["sklearn"]
