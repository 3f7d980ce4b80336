"""``HeliconPlatform``: the whole platform from one typed config.

One Kafka cluster, one MLflow server, optional operator installs and the platform namespace with
its NetworkPolicies; then, per pipeline ``P``: topics ``P.features``, ``P.predictions``,
``P.feedback``, ``P.alerts``, ``P.dlq`` (+ ``P.stream-predictions`` for a streaming job), one
``KafkaUser`` per stage (outside ``plain``), model serving (Seldon or KServe), the inference bridge,
and optionally the drift monitor, the online learner and a streaming job.

The whole config is checked before the first child is registered (:func:`validate_platform`), and
environment rules apply: staging and prod need the ``tls-scram`` listener; prod needs 3 controllers,
3 brokers and at least 2 replicas of every workload.
"""


from enum import Enum
from collections.abc import Callable
from typing import Any, NotRequired, TypedDict

import pulumi

from helicon.components import kafka, mlflow, serving, streaming, workloads
from helicon.components._k8s import check_image, check_name, child_opts
from helicon.components._validate import check_args, fail, plain
from helicon.infra.network import PlatformNamespace, PodSecurityLevel
from helicon.infra.operators import Operators

class Environment(str, Enum):
    """Which rules apply."""

    DEV = "dev"
    STAGING = "staging"
    PROD = "prod"


class Engine(str, Enum):
    """Streaming engine of a pipeline's job."""

    FLINK = "flink"
    SPARK = "spark"
    KAFKA_STREAMS = "kafka-streams"
TOPIC_ROLES = ("features", "predictions", "feedback", "alerts", "dlq")


class PlatformKafkaArgs(TypedDict):
    """The platform's Kafka cluster (see ``KafkaClusterArgs``)."""

    controllers: kafka.NodePoolArgs
    """Controller pool."""
    brokers: kafka.NodePoolArgs
    """Broker pool."""
    listener: NotRequired[kafka.Listener]
    """``"tls-scram"`` (default) or ``"plain"`` (dev only)."""
    kafka_version: NotRequired[str]
    """``spec.kafka.version`` (default: the operator's)."""
    rack_topology_key: NotRequired[str]
    """Rack awareness node label (default: none)."""


class PlatformMlflowArgs(TypedDict):
    """The platform's MLflow server (see ``MlflowServerArgs``; credentials come separately as secrets)."""

    image: str
    """MLflow image."""
    artifacts_destination: str
    """``s3://…`` artifact store."""
    s3_endpoint_url: NotRequired[str]
    """S3-compatible endpoint (default AWS)."""
    ingress_host: NotRequired[str]
    """Ingress host (default: none)."""
    ingress_tls_secret: NotRequired[str]
    """Ingress TLS Secret."""
    replicas: NotRequired[int]
    """Replicas (default 1)."""


class PlatformSecrets(TypedDict):
    """Credentials, as Pulumi secrets (``config.require_secret``)."""

    mlflow_backend_store_uri: pulumi.Input[str]
    """MLflow ``--backend-store-uri`` (with its password)."""
    s3_access_key_id: pulumi.Input[str]
    """S3 access key id for MLflow."""
    s3_secret_access_key: pulumi.Input[str]
    """S3 secret key for MLflow."""


class StageArgs(TypedDict):
    """Size of one runtime stage of a pipeline."""

    replicas: NotRequired[int]
    """Replicas (default 1; prod needs ≥ 2)."""
    autoscaling: NotRequired[workloads.AutoscalingArgs]
    """Autoscaling (default none)."""
    cpu: NotRequired[str]
    """CPU request."""
    memory: NotRequired[str]
    """Memory request and limit."""


class DriftArgs(StageArgs):
    """The drift monitor of a pipeline."""

    checkpoint: NotRequired[str]
    """``--checkpoint s3://BUCKET/PREFIX``: detector state kept across pods, with the platform's S3 credentials
    (default: a file on the pod's state volume, lost with the pod)."""


class LearnerArgs(StageArgs):
    """The online learner of a pipeline."""

    model_spec: str
    """``helicon run learn --model SPEC``."""
    checkpoint: NotRequired[str]
    """``--checkpoint`` (default ``mlflow:<platform>-<pipeline>-learner``: a registered model on the platform's
    MLflow, so the learner's state survives restarts and rollouts)."""


class PlatformStreamingArgs(TypedDict):
    """A pipeline's streaming job (reads ``P.features``, writes ``P.stream-predictions``)."""

    engine: Engine
    """Which engine runs it."""
    image: str
    """Job image."""
    artifact: NotRequired[str]
    """Flink ``jarURI`` / Spark ``mainApplicationFile`` (required for those engines)."""
    parallelism: NotRequired[int]
    """Parallel instances (default 1; prod needs ≥ 2)."""
    checkpoint_dir: NotRequired[str]
    """Flink only: durable checkpoint/savepoint directory (``s3://…``); prod Flink jobs need it, and run two
    JobManagers with Kubernetes HA."""


class PlatformModelArgs(TypedDict):
    """The model a pipeline serves."""

    storage_uri: str
    """Artifact location of the stable version (``s3://…``)."""
    model_format: NotRequired[serving.ModelFormat]
    """Model flavour (default mlflow)."""
    replicas: NotRequired[int]
    """Serving replicas (default 1; prod needs ≥ 2)."""
    canary: NotRequired[serving.CanaryArgs]
    """Candidate version and its weight."""


class PipelineArgs(TypedDict):
    """One streaming-ML pipeline."""

    name: str
    """Pipeline name ``P``: prefixes its topics (``P.features`` …) and its objects; RFC 1123, ≤ 30 characters."""
    partitions: NotRequired[int]
    """Partitions of every topic of the pipeline (default 3); the autoscalers' ceiling."""
    model: PlatformModelArgs
    """The served model."""
    bridge: NotRequired[StageArgs]
    """The inference bridge (always deployed; default size)."""
    drift: NotRequired[DriftArgs]
    """The drift monitor (deployed when present)."""
    learner: NotRequired[LearnerArgs]
    """The online learner (deployed when present)."""
    streaming_job: NotRequired[PlatformStreamingArgs]
    """A streaming job (deployed when present)."""


class HeliconPlatformArgs(TypedDict):
    """Arguments of :class:`HeliconPlatform`: everything a stack configures."""

    environment: Environment
    """``dev``, ``staging`` or ``prod``; decides which rules apply."""
    namespace: str
    """The platform namespace (created here)."""
    image: str
    """The Helicon runtime image for bridge, drift monitor and learner (tag or digest pinned)."""
    kafka: PlatformKafkaArgs
    """The Kafka cluster."""
    mlflow: PlatformMlflowArgs
    """The MLflow server."""
    secrets: PlatformSecrets
    """Credentials (Pulumi secrets)."""
    serving_backend: NotRequired[serving.Backend]
    """``"seldon"`` (default) or ``"kserve"``."""
    pipelines: list[PipelineArgs]
    """The pipelines (at least one; names unique)."""
    install_operators: NotRequired[bool]
    """Install the operators the config needs as pinned Helm charts (default true)."""
    network_policies: NotRequired[bool]
    """Create the namespace's NetworkPolicies (default true; prod requires them)."""
    pod_security: NotRequired[PodSecurityLevel]
    """Pod Security level enforced on the namespace (default ``"restricted"``)."""


class HeliconPlatform(pulumi.ComponentResource):
    """The Helicon platform: Kafka, MLflow, serving, runtime workloads and streaming jobs per pipeline."""

    bootstrap_servers: pulumi.Output[str]
    """Kafka bootstrap ``HOST:PORT``."""
    tracking_uri: pulumi.Output[str]
    """MLflow tracking URI inside the cluster."""
    inference_uris: pulumi.Output[dict[str, str]]
    """Per pipeline, the serving endpoint the bridge calls."""

    def __init__(self, name: str, args: HeliconPlatformArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        validate_platform(args, name=name)
        super().__init__("helicon:platform:HeliconPlatform", name, None, opts)
        namespace = args["namespace"]
        backend = args.get("serving_backend", "seldon")

        self.platform_namespace = PlatformNamespace(f"{name}-namespace", {
            "namespace": namespace, "network_policies": args.get("network_policies", True),
            "pod_security": args.get("pod_security", "restricted")}, opts=child_opts(self))
        after_namespace = [self.platform_namespace]
        if args.get("install_operators", True):
            self.operators = Operators(f"{name}-operators", {
                "watch_namespace": namespace, "install": _operators_needed(args)}, opts=child_opts(self))
            after_namespace = [self.platform_namespace, self.operators]

        cluster_name = f"{name}-kafka"
        self.kafka = kafka.KafkaCluster(cluster_name, _kafka_args(args), opts=child_opts(self, depends_on=after_namespace))
        self.mlflow = mlflow.MlflowServer(f"{name}-mlflow", _mlflow_args(args),
                                          opts=child_opts(self, depends_on=after_namespace))
        self.model_server: serving.SeldonServer | None = None
        if backend == "seldon":
            # Models are scheduled onto a shared Server pool; size it for the largest model.
            replicas = max(pipeline["model"].get("replicas", 1) for pipeline in args["pipelines"])
            self.model_server = serving.SeldonServer(f"{name}-mlserver", {
                "namespace": namespace, "server_config": "mlserver", "replicas": replicas},
                opts=child_opts(self, depends_on=after_namespace))
        self.pipelines: dict[str, dict[str, pulumi.Resource]] = {}
        inference_uris: dict[str, pulumi.Output[str]] = {}
        for pipeline in args["pipelines"]:
            plan = _pipeline_plan(name, args, pipeline)
            children: dict[str, pulumi.Resource] = {}
            topic_opts = child_opts(self, depends_on=[self.kafka])
            for role, topic_args in plan["topics"].items():
                children[f"topic-{role}"] = kafka.KafkaTopic(topic_args["__name"], _strip(topic_args), opts=topic_opts)
            for stage, user_args in plan["users"].items():
                children[f"user-{stage}"] = kafka.KafkaUser(user_args["__name"], _strip(user_args), opts=topic_opts)
            model = serving.serving(backend, f"{name}-{pipeline['name']}-serving", plan["serving"],
                                    opts=child_opts(self, depends_on=after_namespace))
            children["serving"] = model
            inference_uris[pipeline["name"]] = model.inference_uri
            stage_opts = child_opts(self, depends_on=list(children.values()))
            children["bridge"] = workloads.InferenceBridge(plan["bridge"]["__name"], _strip(plan["bridge"]), opts=stage_opts)
            if "drift" in plan:
                children["drift"] = workloads.DriftMonitor(plan["drift"]["__name"], _strip(plan["drift"]), opts=stage_opts)
            if "learner" in plan:
                children["learner"] = workloads.OnlineLearner(plan["learner"]["__name"], _strip(plan["learner"]),
                                                              opts=stage_opts)
            if "stream" in plan:
                engine = plain(pipeline["streaming_job"]["engine"])
                job_type = {"flink": streaming.FlinkJob, "spark": streaming.SparkStreamingJob,
                            "kafka-streams": streaming.KafkaStreamsApp}[engine]
                children["stream"] = job_type(plan["stream"]["__name"], _strip(plan["stream"]), opts=stage_opts)
            self.pipelines[pipeline["name"]] = children

        self.bootstrap_servers = self.kafka.bootstrap_servers
        self.tracking_uri = self.mlflow.tracking_uri
        self.inference_uris = pulumi.Output.all(**inference_uris) if inference_uris else pulumi.Output.from_input({})
        self.register_outputs({"bootstrap_servers": self.bootstrap_servers, "tracking_uri": self.tracking_uri,
                               "inference_uris": self.inference_uris})


def validate_platform(args: HeliconPlatformArgs, root: str = "HeliconPlatformArgs", name: str = "helicon") -> None:
    """Check the whole platform config — its shape, the environment rules and every child's args, named as
    the platform ``name`` will name them — and raise ValueError naming the field path (under ``root``)
    before anything is registered."""
    check_name(name, "HeliconPlatform name", max_length=20)
    check_args(args, HeliconPlatformArgs, root)
    check_name(args["namespace"], f"{root}.namespace")
    check_image(args["image"], f"{root}.image")
    environment = args["environment"]
    kafka_args = args["kafka"]
    listener = kafka_args.get("listener", "tls-scram")
    if environment != "dev" and listener != "tls-scram":
        fail(f"{root}.kafka.listener", f"must be tls-scram in {environment} (plain is for dev only)", listener)
    if not args["pipelines"]:
        fail(f"{root}.pipelines", "must list at least one pipeline")
    names = [pipeline["name"] for pipeline in args["pipelines"]]
    for index, pipeline in enumerate(args["pipelines"]):
        path = f"{root}.pipelines[{index}]"
        check_name(pipeline["name"], f"{path}.name", max_length=30)
        if pipeline["name"] in names[:index]:
            fail(f"{path}.name", "is used by another pipeline", pipeline["name"])
        if pipeline.get("partitions", 3) < 1:
            fail(f"{path}.partitions", "must be ≥ 1", pipeline.get("partitions"))
        job = pipeline.get("streaming_job")
        if job and job["engine"] in ("flink", "spark") and "artifact" not in job:
            fail(f"{path}.streaming_job.artifact", f"is required for engine {plain(job['engine'])}")
        if job and job["engine"] == "flink" and args["environment"] == "prod" and "checkpoint_dir" not in job:
            fail(f"{path}.streaming_job.checkpoint_dir", "is required for Flink in prod (state must survive upgrades)")
        if job and job["engine"] != "flink" and "checkpoint_dir" in job:
            fail(f"{path}.streaming_job.checkpoint_dir", f"applies to Flink only (engine {plain(job['engine'])})")
    if environment == "prod":
        _check_prod(args, root)
    # Every child's own validation, with the arguments the platform will give it.
    _nested(f"{root}.kafka", kafka.validate_kafka_cluster, f"{name}-kafka", _kafka_args(args))
    for index, pipeline in enumerate(args["pipelines"]):
        plan = _pipeline_plan(name, args, pipeline)
        path = f"{root}.pipelines[{index}]"
        _nested(f"{path}.model", serving.validate_serving, plan["serving"], "ServingArgs")
        for stage, schema in (("bridge", workloads.InferenceBridgeArgs), ("drift", workloads.DriftMonitorArgs),
                              ("learner", workloads.OnlineLearnerArgs)):
            if stage in plan:
                _nested(f"{path}.{stage}", workloads.validate_workload, plan[stage]["__name"], _strip(plan[stage]),
                        schema)
        if "stream" in plan:
            schema = {"flink": streaming.FlinkJobArgs, "spark": streaming.SparkStreamingJobArgs,
                      "kafka-streams": streaming.KafkaStreamsAppArgs}[plain(pipeline["streaming_job"]["engine"])]
            _nested(f"{path}.streaming_job", streaming.validate_streaming, plan["stream"]["__name"],
                    _strip(plan["stream"]), schema)


def _check_prod(args: HeliconPlatformArgs, root: str) -> None:
    for pool in ("controllers", "brokers"):
        if args["kafka"][pool]["replicas"] < 3:
            fail(f"{root}.kafka.{pool}.replicas", "must be ≥ 3 in prod", args["kafka"][pool]["replicas"])
    if not args.get("network_policies", True):
        fail(f"{root}.network_policies", "must be true in prod", False)
    if args["mlflow"].get("replicas", 1) < 2:
        fail(f"{root}.mlflow.replicas", "must be ≥ 2 in prod", args["mlflow"].get("replicas", 1))
    for index, pipeline in enumerate(args["pipelines"]):
        path = f"{root}.pipelines[{index}]"
        sizes = {"model.replicas": pipeline["model"].get("replicas", 1),
                 "bridge.replicas": pipeline.get("bridge", {}).get("replicas", 1)}
        for stage in ("drift", "learner"):
            if stage in pipeline:
                sizes[f"{stage}.replicas"] = pipeline[stage].get("replicas", 1)
        if "streaming_job" in pipeline:
            sizes["streaming_job.parallelism"] = pipeline["streaming_job"].get("parallelism", 1)
        for field, value in sizes.items():
            if value < 2:
                fail(f"{path}.{field}", "must be ≥ 2 in prod", value)


def _nested(path: str, check: Callable[..., None], *check_args: Any) -> None:
    """Run a child's validator; prefix its error with where in the platform config the child comes from."""
    try:
        check(*check_args)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def _operators_needed(args: HeliconPlatformArgs) -> list[str]:
    needed = {"strimzi", plain(args.get("serving_backend", "seldon"))}
    for pipeline in args["pipelines"]:
        for stage in ("bridge", "drift", "learner"):
            if plain(pipeline.get(stage, {}).get("autoscaling", {}).get("kind")) == "keda":
                needed.add("keda")
        engine = plain(pipeline.get("streaming_job", {}).get("engine"))
        if engine in ("flink", "spark"):
            needed.add(engine)
    return sorted(needed)


def _kafka_args(args: HeliconPlatformArgs) -> kafka.KafkaClusterArgs:
    return {"namespace": args["namespace"], **args["kafka"]}  # type: ignore[typeddict-item]


def _mlflow_args(args: HeliconPlatformArgs) -> mlflow.MlflowServerArgs:
    secrets = args["secrets"]
    return {"namespace": args["namespace"], **args["mlflow"],  # type: ignore[typeddict-item]
            "backend_store_uri": secrets["mlflow_backend_store_uri"],
            "s3_access_key_id": secrets["s3_access_key_id"], "s3_secret_access_key": secrets["s3_secret_access_key"]}


def _strip(planned: dict) -> dict:
    return {key: value for key, value in planned.items() if key != "__name"}


def _pipeline_plan(platform: str, args: HeliconPlatformArgs, pipeline: PipelineArgs) -> dict:
    """The arguments of every child of one pipeline (``__name`` = the child's resource name, which starts
    with the platform's name: child identity follows the component's name, so two platforms never collide)."""
    namespace, p = args["namespace"], pipeline["name"]
    cluster = f"{platform}-kafka"
    secure = args["kafka"].get("listener", "tls-scram") == "tls-scram"
    port = kafka.TLS_PORT if secure else kafka.PLAIN_PORT
    bootstrap = f"{cluster}-kafka-bootstrap.{namespace}.svc:{port}"
    partitions = pipeline.get("partitions", 3)
    replication = min(3, args["kafka"]["brokers"]["replicas"])
    topics = {role: f"{p}.{role}" for role in TOPIC_ROLES}
    if "streaming_job" in pipeline:
        topics["stream-predictions"] = f"{p}.stream-predictions"
    prefix = f"{platform}-{p}"
    plan: dict = {"topics": {role: {"__name": f"{prefix}-{role}", "cluster": cluster, "namespace": namespace,
                                    "topic_name": topic, "partitions": partitions, "replicas": replication}
                             for role, topic in topics.items()}}
    access = {"bridge": (["features"], ["predictions", "dlq"]),
              "drift": (["features", "predictions", "feedback"], ["alerts", "dlq"]),
              "learner": (["features", "feedback", "predictions"], ["dlq"]),
              "stream": (["features"], ["stream-predictions"])}
    stages = ["bridge"] + [s for s in ("drift", "learner") if s in pipeline] + (["stream"] if "streaming_job" in pipeline else [])
    plan["users"] = {}

    def connection(stage: str) -> workloads.KafkaConnectionArgs:
        if not secure:
            return {"bootstrap_servers": bootstrap, "security_protocol": "PLAINTEXT"}
        return {"bootstrap_servers": bootstrap, "security_protocol": "SASL_SSL",
                "credentials_secret": f"{prefix}-{stage}", "ca_secret": f"{cluster}-cluster-ca-cert"}

    for stage in stages:
        if secure:
            reads, writes = access[stage]
            plan["users"][stage] = {"__name": f"{prefix}-{stage}", "cluster": cluster, "namespace": namespace,
                                    "read_topics": [topics[r] for r in reads], "write_topics": [topics[w] for w in writes],
                                    "group": f"{p}-{stage}"}
    model = pipeline["model"]
    serving_args: serving.ServingArgs = {"namespace": namespace, "model_name": f"{p}-model",
                                         "storage_uri": model["storage_uri"],
                                         "model_format": model.get("model_format", "mlflow"),
                                         "replicas": model.get("replicas", 1)}
    if "canary" in model:
        serving_args["canary"] = model["canary"]
    plan["serving"] = serving_args
    backend = args.get("serving_backend", "seldon")
    host = f"seldon-mesh.{namespace}.svc:80" if backend == "seldon" else f"{p}-model-predictor.{namespace}.svc:80"
    model_uri = f"oip+http://{host}/v2/models/{p}-model"

    def stage_args(stage: str, sizes: dict) -> dict:
        result = {"__name": f"{prefix}-{stage}", "namespace": namespace, "image": args["image"],
                  "kafka": connection(stage), "group": f"{p}-{stage}",
                  "mlflow_tracking_uri": mlflow.tracking_uri_of(f"{platform}-mlflow", namespace)}
        result.update({key: sizes[key] for key in ("replicas", "autoscaling", "cpu", "memory") if key in sizes})
        return result

    plan["bridge"] = {**stage_args("bridge", pipeline.get("bridge", {})), "input_topic": topics["features"],
                      "output_topic": topics["predictions"], "dlq_topic": topics["dlq"], "model_uri": model_uri}
    # s3:// checkpoints use the S3 credentials the platform gives MLflow (only those two keys of its Secret).
    s3_access: workloads.S3AccessArgs = {"credentials_secret": f"{platform}-mlflow-credentials"}
    if "s3_endpoint_url" in args["mlflow"]:
        s3_access["endpoint_url"] = args["mlflow"]["s3_endpoint_url"]
    if "drift" in pipeline:
        drift = pipeline["drift"]
        plan["drift"] = {**stage_args("drift", drift), "features_topic": topics["features"],
                         "predictions_topic": topics["predictions"], "feedback_topic": topics["feedback"],
                         "alerts_topic": topics["alerts"], "dlq_topic": topics["dlq"], "pipeline": p}
        if "checkpoint" in drift:
            plan["drift"].update(checkpoint=drift["checkpoint"], s3=s3_access)
    if "learner" in pipeline:
        learner = pipeline["learner"]
        plan["learner"] = {**stage_args("learner", learner), "features_topic": topics["features"],
                           "feedback_topic": topics["feedback"], "predictions_topic": topics["predictions"],
                           "dlq_topic": topics["dlq"], "model_spec": learner["model_spec"],
                           "checkpoint": learner.get("checkpoint", f"mlflow:{prefix}-learner")}
        if plan["learner"]["checkpoint"].startswith("s3://"):
            plan["learner"]["s3"] = s3_access
    if "streaming_job" in pipeline:
        job = pipeline["streaming_job"]
        stream: dict = {"__name": f"{prefix}-stream", "namespace": namespace, "image": job["image"],
                        "kafka": connection("stream"), "parallelism": job.get("parallelism", 1),
                        "topology": {"source_topics": [topics["features"]], "sink_topic": topics["stream-predictions"],
                                     "model_uri": model_uri, "group": f"{p}-stream"}}
        if plain(job["engine"]) == "flink":
            stream["jar_uri"] = job.get("artifact", "")
            if "checkpoint_dir" in job:
                stream["checkpoint_dir"] = job["checkpoint_dir"]
                if args["environment"] == "prod":
                    stream["job_manager_replicas"] = 2
        elif plain(job["engine"]) == "spark":
            stream["main_application_file"] = job.get("artifact", "")
        plan["stream"] = stream
    return plan
