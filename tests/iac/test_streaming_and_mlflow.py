"""Streaming jobs from one topology spec, and the MLflow server."""

from __future__ import annotations

import pulumi
import pytest

from helicon.components.mlflow import MlflowServer
from helicon.components.streaming import FlinkJob, KafkaStreamsApp, SparkStreamingJob
from helicon.stacks.render import SECRET_SIG_KEY
from tests.iac.harness import run

TOPOLOGY = {"source_topics": ["fraud.features"], "sink_topic": "fraud.stream-predictions",
            "model_uri": "oip+http://seldon-mesh.ml.svc:80/v2/models/fraud-model", "group": "fraud-stream"}
KAFKA = {"bootstrap_servers": "k:9093", "security_protocol": "SASL_SSL", "credentials_secret": "fraud-stream",
         "ca_secret": "k-cluster-ca-cert"}
BASE = {"namespace": "ml", "image": "ghcr.io/helicon/stream:1.0", "topology": TOPOLOGY, "kafka": KAFKA, "parallelism": 2}
FLAGS = ["--bootstrap", "k:9093", "--sources", "fraud.features", "--sink", "fraud.stream-predictions",
         "--model", TOPOLOGY["model_uri"], "--group", "fraud-stream"]


def test_one_topology_drives_flink_spark_and_kafka_streams_identically() -> None:
    def build():
        FlinkJob("f", {**BASE, "jar_uri": "local:///opt/flink/usrlib/job.jar", "checkpoint_dir": "s3://ckpt/f"})
        SparkStreamingJob("s", {**BASE, "main_application_file": "local:///opt/job.py"})
        KafkaStreamsApp("k", BASE)

    result = run(build)
    flink = result.spec("flink.apache.org/v1beta1:FlinkDeployment", "f")["spec"]
    spark = result.spec("sparkoperator.k8s.io/v1beta2:SparkApplication", "s")["spec"]
    streams = result.spec("Deployment", "k")["spec"]
    assert flink["job"]["args"] == spark["arguments"] == streams["template"]["spec"]["containers"][0]["args"] == FLAGS
    assert flink["job"]["upgradeMode"] == "savepoint" and flink["job"]["parallelism"] == 2
    assert flink["flinkConfiguration"]["state.savepoints.dir"] == "s3://ckpt/f/savepoints"
    assert flink["podTemplate"]["spec"]["securityContext"]["runAsNonRoot"] is True
    assert spark["executor"]["instances"] == 2 and spark["restartPolicy"]["type"] == "Always"
    assert spark["driver"]["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert streams["replicas"] == 2 and result.spec("PodDisruptionBudget", "k-pdb")["spec"]["maxUnavailable"] == 1
    assert streams["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    # The CA that KAFKA_SSL_CA_LOCATION names is mounted in every engine's pods.
    ca_mount = {"name": "kafka-ca", "mountPath": "/etc/helicon/kafka-ca", "readOnly": True}
    ca_volume = {"name": "kafka-ca", "secret": {"secretName": "k-cluster-ca-cert", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}
    flink_pod = flink["podTemplate"]["spec"]
    assert ca_volume in flink_pod["volumes"] and ca_mount in flink_pod["containers"][0]["volumeMounts"]
    assert ca_volume in spark["volumes"] and ca_mount in spark["driver"]["volumeMounts"] == spark["executor"]["volumeMounts"]
    assert ca_volume in streams["template"]["spec"]["volumes"]
    assert ca_mount in streams["template"]["spec"]["containers"][0]["volumeMounts"]


def test_flink_high_availability_needs_a_checkpoint_dir() -> None:
    result = run(lambda: FlinkJob("f", {**BASE, "jar_uri": "local:///j.jar", "checkpoint_dir": "s3://c/f",
                                        "job_manager_replicas": 2}) and None)
    spec = result.spec("FlinkDeployment", "f")["spec"]
    assert spec["jobManager"]["replicas"] == 2
    assert spec["flinkConfiguration"]["high-availability.type"] == "kubernetes"
    assert spec["flinkConfiguration"]["high-availability.storageDir"] == "s3://c/f/ha"
    with pytest.raises(ValueError, match=r"FlinkJobArgs\.checkpoint_dir is required when job_manager_replicas > 1"):
        run(lambda: FlinkJob("f", {**BASE, "jar_uri": "local:///j.jar", "job_manager_replicas": 2}) and None)


@pytest.mark.parametrize(("change", "message"), [
    ({"topology": {**TOPOLOGY, "sink_topic": "fraud.features"}}, r"KafkaStreamsAppArgs\.topology\.sink_topic must not be one of the source topics"),
    ({"topology": {**TOPOLOGY, "source_topics": []}}, r"KafkaStreamsAppArgs\.topology\.source_topics must name at least one topic"),
    ({"parallelism": 0}, r"KafkaStreamsAppArgs\.parallelism must be ≥ 1"),
])
def test_bad_topologies_name_the_field(change, message) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match=message):
        run(lambda: KafkaStreamsApp("k", {**BASE, **change}) and None)


MLFLOW = {"namespace": "ml", "image": "ghcr.io/mlflow/mlflow:v3.4.0", "artifacts_destination": "s3://mlflow",
          "s3_endpoint_url": "http://minio:9000", "ingress_host": "mlflow.example.com", "replicas": 2}


def test_mlflow_credentials_are_pulumi_secrets_and_never_in_the_deployment() -> None:
    def build():
        server = MlflowServer("tracking", {
            **MLFLOW, "backend_store_uri": pulumi.Output.secret("postgresql://u:hunter2@db/mlflow"),
            "s3_access_key_id": "AKIA", "s3_secret_access_key": "s3cret"})
        return {"uri": server.tracking_uri}

    result = run(build)
    raw_secret = result.find("Secret", "tracking-credentials").inputs
    assert SECRET_SIG_KEY in raw_secret["stringData"] or all(
        SECRET_SIG_KEY in value for value in raw_secret["stringData"].values())
    assert result.spec("Secret", "tracking-credentials")["stringData"]["MLFLOW_BACKEND_STORE_URI"] == \
        "postgresql://u:hunter2@db/mlflow"
    deployment = result.find("Deployment", "tracking").inputs
    assert "hunter2" not in repr(deployment) and "s3cret" not in repr(deployment)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][container["args"].index("--backend-store-uri") + 1] == "$(MLFLOW_BACKEND_STORE_URI)"
    hosts = container["args"][container["args"].index("--allowed-hosts") + 1].split(",")
    assert {"tracking.ml.svc", "tracking.ml.svc.cluster.local", "mlflow.example.com"} <= set(hosts)
    assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert result.spec("Ingress", "tracking")["spec"]["rules"][0]["host"] == "mlflow.example.com"
    assert result.spec("PodDisruptionBudget", "tracking-pdb")["spec"]["maxUnavailable"] == 1
    assert result.outputs == {"uri": "http://tracking.ml.svc:80"}


def test_mlflow_needs_an_object_store_for_artifacts() -> None:
    with pytest.raises(ValueError, match=r"MlflowServerArgs\.artifacts_destination must be an object-store URI"):
        run(lambda: MlflowServer("t", {**MLFLOW, "artifacts_destination": "/data", "backend_store_uri": "x",
                                       "s3_access_key_id": "a", "s3_secret_access_key": "b"}) and None)
