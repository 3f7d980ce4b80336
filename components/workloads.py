"""Helicon's runtime services on Kubernetes: ``InferenceBridge``, ``DriftMonitor``, ``OnlineLearner``.

Each is a Deployment running ``helicon run bridge|drift|learn`` with the flags of that command, a
ConfigMap with extra settings (``--config``), a metrics Service, a PodDisruptionBudget and
autoscaling (an HPA on CPU, or a KEDA ``ScaledObject`` on consumer lag). Every pod meets the
"restricted" Pod Security Standard with a read-only root filesystem; writable paths are emptyDirs.
"""


import hashlib
from enum import Enum
from typing import NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s
import yaml

from helicon.components._k8s import (
    check_image, check_name, child_opts, double_cpu, container_security_context, cpu_autoscaler, http_probe, image_version,
    labels, metadata, pod_disruption_budget, pod_security_context, selector_labels,
)
from helicon.components._validate import check_args, fail

CONFIG_PATH = "/etc/helicon/helicon.yaml"
STATE_DIR = "/var/lib/helicon"
DRIFT_CHECKPOINT = f"{STATE_DIR}/drift/checkpoint.pkl"
KEDA_API_VERSION = "keda.sh/v1alpha1"


class SecurityProtocol(str, Enum):
    """Kafka client ``security.protocol``."""

    PLAINTEXT = "PLAINTEXT"
    SASL_SSL = "SASL_SSL"


class AutoscalerKind(str, Enum):
    """How a workload scales."""

    HPA = "hpa"
    KEDA = "keda"
    NONE = "none"


class KafkaConnectionArgs(TypedDict):
    """How a workload reaches Kafka (usually ``KafkaCluster`` and ``KafkaUser`` outputs)."""

    bootstrap_servers: pulumi.Input[str]
    """``HOST:PORT`` (``KafkaCluster.bootstrap_servers``); passed as ``--bootstrap``."""
    security_protocol: NotRequired["SecurityProtocol"]
    """Client ``security.protocol`` (default ``"PLAINTEXT"``); env ``KAFKA_SECURITY_PROTOCOL``."""
    credentials_secret: NotRequired[str]
    """Secret written by Strimzi's User Operator for the workload's ``KafkaUser`` (its name is the username,
    key ``password``); env ``KAFKA_SASL_USERNAME``/``KAFKA_SASL_PASSWORD``, mechanism SCRAM-SHA-512.
    Required with ``SASL_SSL``."""
    ca_secret: NotRequired[str]
    """Secret with the cluster CA (``KafkaCluster.cluster_ca_secret``, key ``ca.crt``), mounted read-only at
    ``/etc/helicon/kafka-ca``; env ``KAFKA_SSL_CA_LOCATION``. Required with ``SASL_SSL``."""


class S3AccessArgs(TypedDict):
    """How a workload reaches S3 for its ``s3://`` checkpoints and data windows (boto3 reads the env)."""

    credentials_secret: str
    """Secret with keys ``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY`` (the shape of ``MlflowServer``'s
    ``<name>-credentials`` Secret); passed as those env variables through ``secretKeyRef``."""
    endpoint_url: NotRequired[str]
    """An S3-compatible endpoint (MinIO, Ceph…); env ``AWS_ENDPOINT_URL_S3`` (default: AWS)."""
    region: NotRequired[str]
    """env ``AWS_DEFAULT_REGION`` (default: unset)."""


class AutoscalingArgs(TypedDict):
    """Autoscaling of a workload's Deployment."""

    kind: "AutoscalerKind"
    """``"hpa"``: ``autoscaling/v2`` on CPU; ``"keda"``: a KEDA ``ScaledObject`` on the consumer group's lag
    (needs KEDA); ``"none"``: fixed ``replicas``."""
    max_replicas: int
    """Upper bound; more consumers than input partitions sit idle, so keep it ≤ partitions."""
    lag_threshold: NotRequired[int]
    """KEDA only: target lag per replica (default 1000)."""
    cpu_utilisation: NotRequired[int]
    """HPA only: target average CPU utilisation in percent (default 70)."""


class WorkloadArgs(TypedDict):
    """Fields every runtime workload shares."""

    namespace: str
    """Namespace of the workload's objects."""
    image: str
    """The Helicon runtime image (tag or digest pinned; ``:latest`` is rejected)."""
    kafka: KafkaConnectionArgs
    """Kafka connection and credentials."""
    group: str
    """Consumer group (``--group``); the KafkaUser's ACLs must allow exactly this group."""
    replicas: NotRequired[int]
    """Replicas when not autoscaled, and the autoscaler's minimum (default 1; ≥ 2 gets a PDB that keeps
    all but one pod through a drain)."""
    cpu: NotRequired[str]
    """CPU request (default ``"250m"``); the limit is twice the request."""
    memory: NotRequired[str]
    """Memory request and limit (default ``"512Mi"``)."""
    autoscaling: NotRequired[AutoscalingArgs]
    """Autoscaling (default: none)."""
    settings: NotRequired[dict[str, str]]
    """Extra settings written to ``helicon.yaml`` in the ConfigMap and passed as ``--config`` (default: empty)."""
    metrics_port: NotRequired[int]
    """Port of the service's HTTP endpoint for ``/metrics``, ``/healthz`` and ``/readyz`` (default 9400;
    env ``HELICON_METRICS_PORT``)."""
    mlflow_tracking_uri: NotRequired[pulumi.Input[str]]
    """MLflow tracking server (``MlflowServer.tracking_uri``); env ``MLFLOW_TRACKING_URI``: the bridge's
    ``models:/`` URIs, the drift monitor's monitoring run and the learner's ``mlflow:`` checkpoints use it
    (default: unset)."""
    s3: NotRequired[S3AccessArgs]
    """S3 credentials and endpoint; required when ``checkpoint`` is ``s3://…`` (default: none)."""


class InferenceBridgeArgs(WorkloadArgs):
    """Arguments of :class:`InferenceBridge` (``helicon run bridge``)."""

    input_topic: str
    """Feature events topic (``--input``)."""
    output_topic: str
    """Predictions topic (``--output``)."""
    dlq_topic: str
    """Dead-letter topic (``--dlq``)."""
    model_uri: pulumi.Input[str]
    """``--model``: ``models:/NAME@ALIAS`` or an ``oip+http://…`` endpoint (a serving component's ``inference_uri``)."""


class DriftMonitorArgs(WorkloadArgs):
    """Arguments of :class:`DriftMonitor` (``helicon run drift``).

    Its checkpoint (detector state, join, offsets, per partition) is by default the file
    ``/var/lib/helicon/drift/checkpoint.pkl`` on an emptyDir: it survives container restarts, not the pod's
    deletion (then detectors start afresh). Set ``checkpoint`` to ``s3://…`` to keep it across pods.
    """

    pipeline: str
    """Pipeline name (``--pipeline``): every alert's ``pipeline`` field and the MLflow monitoring run's name."""

    features_topic: str
    """``--features``."""
    predictions_topic: str
    """``--predictions``."""
    feedback_topic: str
    """``--feedback``."""
    alerts_topic: str
    """``--alerts``."""
    dlq_topic: str
    """``--dlq``: undecodable events."""
    checkpoint: NotRequired[str]
    """``--checkpoint``: ``s3://BUCKET/PREFIX`` (needs ``s3``), durable across pods and carried with each
    partition to the replica that takes it over (default: the file on the pod's state volume)."""


class OnlineLearnerArgs(WorkloadArgs):
    """Arguments of :class:`OnlineLearner` (``helicon run learn``)."""

    features_topic: str
    """``--features``."""
    feedback_topic: str
    """``--feedback``."""
    predictions_topic: str
    """``--predictions``."""
    dlq_topic: str
    """``--dlq``: events that cannot be used."""
    model_spec: str
    """``--model SPEC``: the learner's model specification."""
    checkpoint: NotRequired[str]
    """``--checkpoint``: ``mlflow:NAME[@ALIAS]`` (needs ``mlflow_tracking_uri``) or ``s3://BUCKET/PREFIX``, where
    the learner saves and restores its state (default: none; the learner then starts afresh on every restart)."""


class RuntimeWorkload(pulumi.ComponentResource):
    """Shared body of the three runtime workloads; use the subclasses."""

    deployment_name: pulumi.Output[str]
    """``metadata.name`` of the Deployment."""
    metrics_endpoint: pulumi.Output[str]
    """``http://<service>.<ns>.svc:<port>/metrics`` for Prometheus."""

    _TYPE = ""
    _COMMAND = ""
    _ARGS: type = WorkloadArgs

    def __init__(self, name: str, args: WorkloadArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        validate_workload(name, args, self._ARGS)
        super().__init__(f"helicon:workloads:{self._TYPE}", name, None, opts)
        namespace, image = args["namespace"], args["image"]
        app = f"helicon-{self._COMMAND}"
        common = labels(app, name, self._COMMAND, image_version(image))
        selector = selector_labels(app, name)
        port = args.get("metrics_port", 9400)
        replicas = args.get("replicas", 1)
        autoscaling = args.get("autoscaling", {"kind": "none", "max_replicas": replicas})

        config_text = yaml.safe_dump(dict(sorted(args.get("settings", {}).items())), sort_keys=True)
        self.config_map = k8s.core.v1.ConfigMap(
            f"{name}-config", metadata=metadata(f"{name}-config", namespace, common),
            data={"helicon.yaml": config_text}, opts=child_opts(self))

        container = {
            "name": self._COMMAND,
            "image": image,
            "imagePullPolicy": "IfNotPresent",
            "command": ["helicon", "run", self._COMMAND],
            "args": self._flags(args) + ["--config", CONFIG_PATH],
            # HOME on the writable /tmp: libraries that cache under ~ must not hit the read-only root.
            "env": _kafka_env(args["kafka"]) + [{"name": "HELICON_METRICS_PORT", "value": str(port)},
                                                {"name": "HOME", "value": "/tmp"}]
            + ([{"name": "MLFLOW_TRACKING_URI", "value": args["mlflow_tracking_uri"]}]
               if args.get("mlflow_tracking_uri") else []) + _s3_env(args.get("s3")),
            "ports": [{"name": "metrics", "containerPort": port, "protocol": "TCP"}],
            "resources": _resources(args.get("cpu", "250m"), args.get("memory", "512Mi")),
            "livenessProbe": http_probe("/healthz", "metrics", period=10, failures=3),
            "readinessProbe": http_probe("/readyz", "metrics", period=5, failures=2),
            "securityContext": container_security_context(),
            "volumeMounts": [{"name": "config", "mountPath": "/etc/helicon/helicon.yaml", "subPath": "helicon.yaml",
                              "readOnly": True},
                             {"name": "tmp", "mountPath": "/tmp"}] + self._extra_mounts(),
        }
        volumes = [{"name": "config", "configMap": {"name": f"{name}-config"}}, {"name": "tmp", "emptyDir": {}}]
        volumes += self._extra_volumes()
        ca_volumes, ca_mounts = kafka_ca_volume(args["kafka"])
        container["volumeMounts"] += ca_mounts
        volumes += ca_volumes
        deployment_spec: dict = {
            "selector": {"matchLabels": selector},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                # The checksum rolls the pods when the settings change (a mounted file alone would not).
                "metadata": {"labels": common, "annotations": {
                    "helicon.io/config-checksum": hashlib.sha256(config_text.encode()).hexdigest()[:16]}},
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": pod_security_context(),
                    "terminationGracePeriodSeconds": 30,
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        }
        if autoscaling["kind"] == "none":
            deployment_spec["replicas"] = replicas  # with an autoscaler it owns the count; a fixed one would fight it
        self.deployment = k8s.apps.v1.Deployment(
            name, metadata=metadata(name, namespace, common), spec=deployment_spec,
            opts=child_opts(self, depends_on=[self.config_map]))
        self.service = k8s.core.v1.Service(
            f"{name}-metrics", metadata=metadata(f"{name}-metrics", namespace, common),
            spec={"selector": selector, "ports": [{"name": "metrics", "port": port, "targetPort": "metrics"}]},
            opts=child_opts(self))
        self.pdb = None
        if replicas >= 2:
            self.pdb = pod_disruption_budget(f"{name}-pdb", self, namespace=namespace, object_labels=common,
                                             selector=selector)
        self.autoscaler = None
        if autoscaling["kind"] == "hpa":
            self.autoscaler = cpu_autoscaler(f"{name}-hpa", self, namespace=namespace, object_labels=common,
                                             deployment=name, min_replicas=replicas,
                                             max_replicas=autoscaling["max_replicas"],
                                             cpu_utilisation=autoscaling.get("cpu_utilisation", 70))
        elif autoscaling["kind"] == "keda":
            self.autoscaler = _scaled_object(f"{name}-scaler", self, namespace=namespace, object_labels=common,
                                             deployment=name, kafka=args["kafka"], group=args["group"],
                                             topic=self._lag_topic(args), min_replicas=replicas,
                                             max_replicas=autoscaling["max_replicas"],
                                             lag_threshold=autoscaling.get("lag_threshold", 1000))
        self.deployment_name = pulumi.Output.from_input(name)
        self.metrics_endpoint = pulumi.Output.from_input(f"http://{name}-metrics.{namespace}.svc:{port}/metrics")
        self.register_outputs({"deployment_name": self.deployment_name, "metrics_endpoint": self.metrics_endpoint})

    def _flags(self, args: WorkloadArgs) -> list:
        raise NotImplementedError

    def _lag_topic(self, args: WorkloadArgs) -> str:
        raise NotImplementedError

    def _extra_mounts(self) -> list[dict]:
        return []

    def _extra_volumes(self) -> list[dict]:
        return []


class InferenceBridge(RuntimeWorkload):
    """``helicon run bridge``: feature events in, predictions out, dead letters to the DLQ."""

    _TYPE, _COMMAND, _ARGS = "InferenceBridge", "bridge", InferenceBridgeArgs

    def __init__(self, name: str, args: InferenceBridgeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(name, args, opts)

    def _flags(self, args: InferenceBridgeArgs) -> list:  # type: ignore[override]
        return ["--bootstrap", args["kafka"]["bootstrap_servers"], "--input", args["input_topic"],
                "--output", args["output_topic"], "--dlq", args["dlq_topic"], "--group", args["group"],
                "--model", args["model_uri"]]

    def _lag_topic(self, args: InferenceBridgeArgs) -> str:  # type: ignore[override]
        return args["input_topic"]


class DriftMonitor(RuntimeWorkload):
    """``helicon run drift``: detectors over features, predictions and feedback; alerts out."""

    _TYPE, _COMMAND, _ARGS = "DriftMonitor", "drift", DriftMonitorArgs

    def __init__(self, name: str, args: DriftMonitorArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(name, args, opts)

    def _flags(self, args: DriftMonitorArgs) -> list:  # type: ignore[override]
        return ["--bootstrap", args["kafka"]["bootstrap_servers"], "--pipeline", args["pipeline"],
                "--features", args["features_topic"], "--predictions", args["predictions_topic"],
                "--feedback", args["feedback_topic"], "--alerts", args["alerts_topic"], "--dlq", args["dlq_topic"],
                "--group", args["group"], "--checkpoint", args.get("checkpoint", DRIFT_CHECKPOINT)]

    def _lag_topic(self, args: DriftMonitorArgs) -> str:  # type: ignore[override]
        return args["features_topic"]

    def _extra_mounts(self) -> list[dict]:
        return [{"name": "state", "mountPath": STATE_DIR}]

    def _extra_volumes(self) -> list[dict]:
        return [{"name": "state", "emptyDir": {}}]


class OnlineLearner(RuntimeWorkload):
    """``helicon run learn``: joins predictions and feedback, learns online, checkpoints its state."""

    _TYPE, _COMMAND, _ARGS = "OnlineLearner", "learn", OnlineLearnerArgs

    def __init__(self, name: str, args: OnlineLearnerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(name, args, opts)

    def _flags(self, args: OnlineLearnerArgs) -> list:  # type: ignore[override]
        flags = ["--bootstrap", args["kafka"]["bootstrap_servers"], "--features", args["features_topic"],
                 "--feedback", args["feedback_topic"], "--predictions", args["predictions_topic"],
                 "--dlq", args["dlq_topic"], "--group", args["group"], "--model", args["model_spec"]]
        if args.get("checkpoint"):
            flags += ["--checkpoint", args["checkpoint"]]
        return flags

    def _lag_topic(self, args: OnlineLearnerArgs) -> str:  # type: ignore[override]
        return args["feedback_topic"]


def validate_workload(name: str, args: WorkloadArgs, schema: type) -> None:
    """Raise ValueError naming the field when ``args`` cannot make a working, secure workload."""
    type_name = schema.__name__
    check_args(args, schema)
    check_name(name, f"{type_name[:-4]} name", max_length=50)
    check_name(args["namespace"], f"{type_name}.namespace")
    check_image(args["image"], f"{type_name}.image")
    replicas = args.get("replicas", 1)
    if replicas < 1:
        fail(f"{type_name}.replicas", "must be ≥ 1", replicas)
    autoscaling = args.get("autoscaling")
    if autoscaling and autoscaling["kind"] != "none" and autoscaling["max_replicas"] < replicas:
        fail(f"{type_name}.autoscaling.max_replicas", f"must be ≥ replicas ({replicas})", autoscaling["max_replicas"])
    kafka = args["kafka"]
    if kafka.get("security_protocol", "PLAINTEXT") == "SASL_SSL":
        for field in ("credentials_secret", "ca_secret"):
            if not kafka.get(field):
                fail(f"{type_name}.kafka.{field}", "is required when security_protocol is SASL_SSL")
    checkpoint = args.get("checkpoint")
    if checkpoint is not None:
        schemes = ("s3://",) if schema is DriftMonitorArgs else ("mlflow:", "s3://")
        if not checkpoint.startswith(schemes) or checkpoint in schemes:
            expected = "s3://BUCKET/PREFIX" if schema is DriftMonitorArgs else "mlflow:NAME[@ALIAS] or s3://BUCKET/PREFIX"
            fail(f"{type_name}.checkpoint", f"must be {expected}", checkpoint)
        if checkpoint.startswith("mlflow:") and not args.get("mlflow_tracking_uri"):
            fail(f"{type_name}.mlflow_tracking_uri", "is required when checkpoint is mlflow:…")
        if checkpoint.startswith("s3://") and not args.get("s3"):
            fail(f"{type_name}.s3", "is required when checkpoint is s3://… (credentials_secret, endpoint_url)")
    s3 = args.get("s3")
    if s3 is not None:
        check_name(s3["credentials_secret"], f"{type_name}.s3.credentials_secret")
        if "endpoint_url" in s3 and not s3["endpoint_url"].startswith(("http://", "https://")):
            fail(f"{type_name}.s3.endpoint_url", "must be an http(s):// URL", s3["endpoint_url"])
    port = args.get("metrics_port", 9400)
    if not 1024 <= port <= 65535:
        fail(f"{type_name}.metrics_port", "must be an unprivileged port (1024–65535)", port)


def _resources(cpu: str, memory: str) -> dict:
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": double_cpu(cpu), "memory": memory}}


def kafka_ca_volume(kafka: KafkaConnectionArgs) -> tuple[list[dict], list[dict]]:
    """The volume and mount putting the cluster CA where ``KAFKA_SSL_CA_LOCATION`` points (none without one)."""
    if not kafka.get("ca_secret"):
        return [], []
    return ([{"name": "kafka-ca", "secret": {"secretName": kafka["ca_secret"], "items": [{"key": "ca.crt", "path": "ca.crt"}]}}],
            [{"name": "kafka-ca", "mountPath": "/etc/helicon/kafka-ca", "readOnly": True}])


def _s3_env(s3: S3AccessArgs | None) -> list[dict]:
    if not s3:
        return []
    env = [{"name": key, "valueFrom": {"secretKeyRef": {"name": s3["credentials_secret"], "key": key}}}
           for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")]
    if s3.get("endpoint_url"):
        env.append({"name": "AWS_ENDPOINT_URL_S3", "value": s3["endpoint_url"]})
    if s3.get("region"):
        env.append({"name": "AWS_DEFAULT_REGION", "value": s3["region"]})
    return env


def _kafka_env(kafka: KafkaConnectionArgs) -> list[dict]:
    env = [{"name": "KAFKA_SECURITY_PROTOCOL", "value": kafka.get("security_protocol", "PLAINTEXT")}]
    if kafka.get("credentials_secret"):
        env += [{"name": "KAFKA_SASL_MECHANISM", "value": "SCRAM-SHA-512"},
                {"name": "KAFKA_SASL_USERNAME", "value": kafka["credentials_secret"]},
                {"name": "KAFKA_SASL_PASSWORD", "valueFrom": {"secretKeyRef": {
                    "name": kafka["credentials_secret"], "key": "password"}}}]
    if kafka.get("ca_secret"):
        env.append({"name": "KAFKA_SSL_CA_LOCATION", "value": "/etc/helicon/kafka-ca/ca.crt"})
    return env


def _scaled_object(resource_name: str, parent: pulumi.Resource, *, namespace: str, object_labels: dict[str, str],
                   deployment: str, kafka: KafkaConnectionArgs, group: str, topic: str, min_replicas: int,
                   max_replicas: int, lag_threshold: int) -> k8s.apiextensions.CustomResource:
    trigger: dict = {"type": "kafka", "metadata": {
        "bootstrapServers": kafka["bootstrap_servers"], "consumerGroup": group, "topic": topic,
        "lagThreshold": str(lag_threshold)}}
    if kafka.get("credentials_secret"):
        auth = k8s.apiextensions.CustomResource(
            f"{resource_name}-auth", api_version=KEDA_API_VERSION, kind="TriggerAuthentication",
            metadata=metadata(f"{resource_name}-auth", namespace, object_labels),
            spec={"secretTargetRef": [
                {"parameter": "password", "name": kafka["credentials_secret"], "key": "password"},
                {"parameter": "ca", "name": kafka["ca_secret"], "key": "ca.crt"}]},
            opts=child_opts(parent))
        trigger["metadata"].update(sasl="scram_sha512", tls="enable", username=kafka["credentials_secret"])
        trigger["authenticationRef"] = {"name": f"{resource_name}-auth"}
        opts = child_opts(parent, depends_on=[auth])
    else:
        opts = child_opts(parent)
    return k8s.apiextensions.CustomResource(
        resource_name, api_version=KEDA_API_VERSION, kind="ScaledObject",
        metadata=metadata(resource_name, namespace, object_labels),
        spec={"scaleTargetRef": {"name": deployment}, "minReplicaCount": min_replicas,
              "maxReplicaCount": max_replicas, "triggers": [trigger]},
        opts=opts)
