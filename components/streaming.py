"""Streaming jobs from one topology spec: source topics → model → sink topic.

The same :class:`TopologyArgs` drives three engines:

* ``FlinkJob`` → ``flink.apache.org/v1beta1`` ``FlinkDeployment`` (application mode);
* ``SparkStreamingJob`` → ``sparkoperator.k8s.io/v1beta2`` ``SparkApplication``;
* ``KafkaStreamsApp`` → a ``Deployment`` (+ PDB) running a Kafka-Streams-style consumer/producer.

Each job receives the topology as command-line arguments (``--bootstrap``, ``--sources``,
``--sink``, ``--model``, ``--group``), so one job image can run on any engine.
"""


from enum import Enum
from typing import NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from helicon.components._k8s import (
    check_image, check_name, child_opts, container_security_context, image_version, labels, metadata,
    pod_disruption_budget, pod_security_context, selector_labels,
)
from helicon.components._validate import check_args, fail
from helicon.components.workloads import KafkaConnectionArgs, _kafka_env, kafka_ca_volume

FLINK_API_VERSION = "flink.apache.org/v1beta1"


class SparkLanguage(str, Enum):
    """``SparkApplication.spec.type``."""

    PYTHON = "Python"
    SCALA = "Scala"
    JAVA = "Java"

SPARK_API_VERSION = "sparkoperator.k8s.io/v1beta2"
#: UIDs the upstream images run as (flink: 9999, spark: 185); both non-root.
FLINK_UID, SPARK_UID = 9999, 185


class TopologyArgs(TypedDict):
    """The one topology spec every streaming engine takes."""

    source_topics: list[str]
    """Topics the job reads (at least one); ``--sources a,b``."""
    sink_topic: str
    """Topic the job writes; ``--sink``. Must not be one of the sources (a loop)."""
    model_uri: pulumi.Input[str]
    """Model the job scores with: ``models:/NAME@ALIAS`` or an ``oip+http://…`` endpoint; ``--model``."""
    group: str
    """Consumer group / application id; ``--group``. Stable across releases (it names the job's state)."""


class StreamingJobArgs(TypedDict):
    """Fields every streaming engine shares."""

    namespace: str
    """Namespace of the job."""
    image: str
    """Job image (tag or digest pinned, never ``:latest``)."""
    topology: TopologyArgs
    """Sources, model, sink and group."""
    kafka: KafkaConnectionArgs
    """Kafka connection and credentials (as for the runtime workloads)."""
    parallelism: NotRequired[int]
    """Parallel instances (Flink ``job.parallelism``, Spark executors, Kafka Streams replicas); default 1.
    More than the source partitions leaves instances idle."""
    cpu: NotRequired[str]
    """CPU per instance (default ``"500m"``; Flink/Spark take it as cores)."""
    memory: NotRequired[str]
    """Memory per instance (default ``"1Gi"``; Flink/Spark ``"1024m"`` style is derived)."""


class FlinkJobArgs(StreamingJobArgs):
    """Arguments of :class:`FlinkJob`."""

    jar_uri: str
    """``job.jarURI``, e.g. ``"local:///opt/flink/usrlib/helicon-job.jar"``."""
    entry_class: NotRequired[str]
    """``job.entryClass`` (default: the jar's manifest)."""
    flink_version: NotRequired[str]
    """``spec.flinkVersion`` (default ``"v1_20"``)."""
    checkpoint_dir: NotRequired[str]
    """Durable checkpoint/savepoint directory (``s3://…``); with it upgrades use ``savepoint`` mode, without
    it ``stateless`` (state is lost on upgrade)."""
    job_manager_replicas: NotRequired[int]
    """JobManager replicas (default 1). More than one turns on Kubernetes HA (leader election, HA metadata
    under ``checkpoint_dir``/ha), so it needs ``checkpoint_dir``."""


class SparkStreamingJobArgs(StreamingJobArgs):
    """Arguments of :class:`SparkStreamingJob`."""

    main_application_file: str
    """``spec.mainApplicationFile``, e.g. ``"local:///opt/helicon/job.py"``."""
    language: NotRequired["SparkLanguage"]
    """``spec.type`` (default ``"Python"``)."""
    main_class: NotRequired[str]
    """``spec.mainClass`` (Scala/Java only)."""
    spark_version: NotRequired[str]
    """``spec.sparkVersion`` (default ``"3.5.5"``)."""
    service_account: NotRequired[str]
    """Driver service account (default ``"spark-operator-spark"``, the chart's default)."""


class KafkaStreamsAppArgs(StreamingJobArgs):
    """Arguments of :class:`KafkaStreamsApp`."""

    command: NotRequired[list[str]]
    """Container command (default: the image's entrypoint); the topology flags are its arguments."""


def validate_streaming(name: str, args: StreamingJobArgs, schema: type) -> None:
    """Raise ValueError naming the field when the topology or the job cannot run."""
    type_name = schema.__name__
    check_args(args, schema)
    check_name(name, f"{type_name[:-4]} name", max_length=45)
    check_name(args["namespace"], f"{type_name}.namespace")
    check_image(args["image"], f"{type_name}.image")
    topology = args["topology"]
    if not topology["source_topics"]:
        fail(f"{type_name}.topology.source_topics", "must name at least one topic")
    if topology["sink_topic"] in topology["source_topics"]:
        fail(f"{type_name}.topology.sink_topic", "must not be one of the source topics (the job would loop)",
             topology["sink_topic"])
    if args.get("parallelism", 1) < 1:
        fail(f"{type_name}.parallelism", "must be ≥ 1", args.get("parallelism"))


def topology_flags(topology: TopologyArgs, kafka: KafkaConnectionArgs) -> list:
    """The command-line arguments every engine passes to the job."""
    return ["--bootstrap", kafka["bootstrap_servers"], "--sources", ",".join(topology["source_topics"]),
            "--sink", topology["sink_topic"], "--model", topology["model_uri"], "--group", topology["group"]]


class FlinkJob(pulumi.ComponentResource):
    """A Flink application-mode job run by the Flink Kubernetes Operator."""

    job_name: pulumi.Output[str]
    """``metadata.name`` of the ``FlinkDeployment``."""

    def __init__(self, name: str, args: FlinkJobArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        validate_streaming(name, args, FlinkJobArgs)
        job_managers = args.get("job_manager_replicas", 1)
        if job_managers < 1:
            fail("FlinkJobArgs.job_manager_replicas", "must be ≥ 1", job_managers)
        if job_managers > 1 and "checkpoint_dir" not in args:
            fail("FlinkJobArgs.checkpoint_dir", "is required when job_manager_replicas > 1 (HA metadata lives there)")
        super().__init__("helicon:streaming:FlinkJob", name, None, opts)
        common = labels("flink-job", name, "streaming-job", image_version(args["image"]))
        parallelism = args.get("parallelism", 1)
        cpu = _cores(args.get("cpu", "500m"))
        memory = _spark_memory(args.get("memory", "1Gi"))
        config = {"taskmanager.numberOfTaskSlots": "1"}
        job: dict = {"jarURI": args["jar_uri"], "parallelism": parallelism,
                     "args": topology_flags(args["topology"], args["kafka"])}
        if "checkpoint_dir" in args:
            config.update({"state.checkpoints.dir": f"{args['checkpoint_dir']}/checkpoints",
                           "state.savepoints.dir": f"{args['checkpoint_dir']}/savepoints",
                           "execution.checkpointing.interval": "30s"})
            job["upgradeMode"] = "savepoint"
            if job_managers > 1:
                config.update({"high-availability.type": "kubernetes",
                               "high-availability.storageDir": f"{args['checkpoint_dir']}/ha"})
        else:
            job["upgradeMode"] = "stateless"
        if "entry_class" in args:
            job["entryClass"] = args["entry_class"]
        ca_volumes, ca_mounts = kafka_ca_volume(args["kafka"])
        main_container: dict = {"name": "flink-main-container", "env": _kafka_env(args["kafka"]),
                                # Flink writes logs and temp files under its home: the root stays writable here.
                                "securityContext": container_security_context(read_only_root=False)}
        pod_spec: dict = {"securityContext": pod_security_context(FLINK_UID), "containers": [main_container]}
        if ca_volumes:
            main_container["volumeMounts"] = ca_mounts
            pod_spec["volumes"] = ca_volumes
        pod_template = {"metadata": {"labels": common}, "spec": pod_spec}
        self.deployment = k8s.apiextensions.CustomResource(
            name, api_version=FLINK_API_VERSION, kind="FlinkDeployment",
            metadata=metadata(name, args["namespace"], common,
                              annotations={"pulumi.com/waitFor": "jsonpath={.status.lifecycleState}=STABLE"}),
            spec={"image": args["image"], "flinkVersion": args.get("flink_version", "v1_20"), "mode": "native",
                  "serviceAccount": "flink", "flinkConfiguration": config, "podTemplate": pod_template,
                  "jobManager": {"replicas": job_managers, "resource": {"cpu": cpu, "memory": memory}},
                  "taskManager": {"resource": {"cpu": cpu, "memory": memory}}, "job": job},
            opts=child_opts(self))
        self.job_name = pulumi.Output.from_input(name)
        self.register_outputs({"job_name": self.job_name})


class SparkStreamingJob(pulumi.ComponentResource):
    """A Spark Structured Streaming job run by the Kubeflow Spark operator (restarted on failure, forever)."""

    job_name: pulumi.Output[str]
    """``metadata.name`` of the ``SparkApplication``."""

    def __init__(self, name: str, args: SparkStreamingJobArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        validate_streaming(name, args, SparkStreamingJobArgs)
        if args.get("language", "Python") != "Python" and "main_class" not in args:
            fail("SparkStreamingJobArgs.main_class", f"is required for language {args.get('language')}")
        super().__init__("helicon:streaming:SparkStreamingJob", name, None, opts)
        common = labels("spark-streaming-job", name, "streaming-job", image_version(args["image"]))
        cores = max(1, int(_cores(args.get("cpu", "1"))))
        memory = _spark_memory(args.get("memory", "1Gi"))
        ca_volumes, ca_mounts = kafka_ca_volume(args["kafka"])
        pod: dict = {"cores": cores, "memory": memory, "labels": common, "env": _kafka_env(args["kafka"]),
                     "podSecurityContext": pod_security_context(SPARK_UID),
                     # Spark unpacks dependencies into its work dir: the root filesystem stays writable here.
                     "securityContext": container_security_context(read_only_root=False)}
        spec: dict = {
            "type": args.get("language", "Python"), "mode": "cluster", "image": args["image"],
            "imagePullPolicy": "IfNotPresent", "mainApplicationFile": args["main_application_file"],
            "arguments": topology_flags(args["topology"], args["kafka"]),
            "sparkVersion": args.get("spark_version", "3.5.5"),
            "restartPolicy": {"type": "Always", "onFailureRetryInterval": 10, "onSubmissionFailureRetryInterval": 20},
            "driver": {**pod, "serviceAccount": args.get("service_account", "spark-operator-spark")},
            "executor": {**pod, "instances": args.get("parallelism", 1)},
        }
        if ca_volumes:
            spec["volumes"] = ca_volumes
            spec["driver"]["volumeMounts"] = spec["executor"]["volumeMounts"] = ca_mounts
        if args.get("language", "Python") == "Python":
            spec["pythonVersion"] = "3"
        if "main_class" in args:
            spec["mainClass"] = args["main_class"]
        self.application = k8s.apiextensions.CustomResource(
            name, api_version=SPARK_API_VERSION, kind="SparkApplication",
            metadata=metadata(name, args["namespace"], common, annotations={"pulumi.com/skipAwait": "true"}),
            spec=spec, opts=child_opts(self))
        self.job_name = pulumi.Output.from_input(name)
        self.register_outputs({"job_name": self.job_name})


class KafkaStreamsApp(pulumi.ComponentResource):
    """A Kafka-Streams-style consumer/producer as a restricted, read-only-root Deployment (+ PDB)."""

    deployment_name: pulumi.Output[str]
    """``metadata.name`` of the Deployment."""

    def __init__(self, name: str, args: KafkaStreamsAppArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        validate_streaming(name, args, KafkaStreamsAppArgs)
        super().__init__("helicon:streaming:KafkaStreamsApp", name, None, opts)
        namespace = args["namespace"]
        common = labels("kafka-streams-app", name, "streaming-job", image_version(args["image"]))
        selector = selector_labels("kafka-streams-app", name)
        replicas = args.get("parallelism", 1)
        cpu, memory = args.get("cpu", "500m"), args.get("memory", "1Gi")
        container: dict = {
            "name": "app", "image": args["image"], "imagePullPolicy": "IfNotPresent",
            "args": topology_flags(args["topology"], args["kafka"]),
            "env": _kafka_env(args["kafka"]),
            "resources": {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory}},
            "securityContext": container_security_context(),
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, {"name": "state", "mountPath": "/var/lib/streams"}],
        }
        ca_volumes, ca_mounts = kafka_ca_volume(args["kafka"])
        container["volumeMounts"] += ca_mounts
        if "command" in args:
            container["command"] = args["command"]
        self.deployment = k8s.apps.v1.Deployment(
            name, metadata=metadata(name, namespace, common),
            spec={"replicas": replicas, "selector": {"matchLabels": selector}, "template": {
                "metadata": {"labels": common},
                "spec": {"automountServiceAccountToken": False, "securityContext": pod_security_context(),
                         "containers": [container],
                         # State stores are rebuilt from changelog topics; emptyDir keeps the root read-only.
                         "volumes": [{"name": "tmp", "emptyDir": {}}, {"name": "state", "emptyDir": {}}, *ca_volumes]}}},
            opts=child_opts(self))
        self.pdb = None
        if replicas >= 2:
            self.pdb = pod_disruption_budget(f"{name}-pdb", self, namespace=namespace, object_labels=common,
                                             selector=selector)
        self.deployment_name = pulumi.Output.from_input(name)
        self.register_outputs({"deployment_name": self.deployment_name})


def _cores(cpu: str) -> float:
    return int(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu)


def _spark_memory(memory: str) -> str:
    """Kubernetes quantity (``1Gi``, ``512Mi``) → the JVM-style size Flink and Spark take (``1024m``)."""
    units = {"Gi": 1024, "Mi": 1}
    for suffix, factor in units.items():
        if memory.endswith(suffix):
            return f"{int(float(memory[:-2]) * factor)}m"
    return memory
