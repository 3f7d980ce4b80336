"""Model serving behind one interface, with two implementations a team chooses between.

* Seldon Core v2 (``mlops.seldon.io/v1alpha1``; BSL 1.1 since v2.7 — check the licence before
  production use): ``SeldonServer``, ``SeldonModel``, ``SeldonPipeline``, ``SeldonExperiment``,
  composed by ``SeldonServing``.
* KServe (Apache-2.0): ``KServeServing`` → one ``serving.kserve.io/v1beta1`` ``InferenceService``.

Both take the same :class:`ServingArgs` and expose the same outputs (:class:`ModelServing`):
``model_name`` and ``inference_uri`` (an ``oip+http://…`` URI the inference bridge's ``--model``
accepts). A canary is a candidate storage URI with a traffic weight; Seldon can also mirror.
"""


from enum import Enum
from typing import NotRequired, Protocol, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from helicon.components._k8s import (
    check_name, child_opts, container_security_context, labels, metadata, pod_security_context,
)
from helicon.components._validate import check_args, fail

SELDON_API_VERSION = "mlops.seldon.io/v1alpha1"
KSERVE_API_VERSION = "serving.kserve.io/v1beta1"
STORAGE_SCHEMES = ("s3://", "gs://", "https://", "pvc://", "oci://")

class Backend(str, Enum):
    """Which serving implementation."""

    SELDON = "seldon"
    KSERVE = "kserve"


class ModelFormat(str, Enum):
    """Model flavour (Seldon ``requirements``, KServe ``modelFormat.name``)."""

    MLFLOW = "mlflow"
    SKLEARN = "sklearn"
    XGBOOST = "xgboost"
    LIGHTGBM = "lightgbm"


class CanaryArgs(TypedDict):
    """A candidate model version receiving a share of the traffic."""

    storage_uri: str
    """Artifact location of the candidate version (see ``ServingArgs.storage_uri``)."""
    weight: int
    """Percent of requests (1–99) sent to the candidate; the stable model gets ``100 - weight``."""
    mirror_percent: NotRequired[int]
    """Seldon only: also mirror this percent of the stable model's requests to the candidate (responses
    discarded). Default 0 (no mirror); KServe has no mirror and rejects a non-zero value."""


class ServingArgs(TypedDict):
    """Arguments shared by every serving implementation."""

    namespace: str
    """Namespace of the serving objects."""
    model_name: str
    """Name of the served model (Seldon ``Model`` / KServe ``InferenceService`` name); RFC 1123 label."""
    storage_uri: str
    """Artifact location of the model version: ``s3://…``, ``gs://…``, ``https://…``, ``pvc://…`` or ``oci://…``.
    For a model in the MLflow registry use :func:`registry_storage_uri` (``models:/NAME/VERSION`` → its
    artifact location) at program time."""
    model_format: NotRequired[ModelFormat]
    """Model flavour; Seldon ``spec.requirements`` / KServe ``modelFormat.name`` (default ``"mlflow"``)."""
    replicas: NotRequired[int]
    """Model replicas (default 1); at least 2 in production."""
    memory: NotRequired[str]
    """Memory the model needs (Seldon ``spec.memory``; KServe request = limit). Default ``"1Gi"``."""
    canary: NotRequired[CanaryArgs]
    """Optional candidate version for a canary (Seldon ``Experiment``; KServe ``canaryTrafficPercent``)."""
    credentials_secret: NotRequired[str]
    """Secret with storage credentials (Seldon ``spec.secretName``; KServe service account is not managed here)."""


class ModelServing(Protocol):
    """What every serving implementation exposes."""

    model_name: pulumi.Output[str]
    inference_uri: pulumi.Output[str]


def validate_serving(args: ServingArgs, type_name: str) -> None:
    """Raise ValueError naming the field when ``args`` cannot be served."""
    check_args(args, ServingArgs, type_name)
    check_name(args["namespace"], f"{type_name}.namespace")
    check_name(args["model_name"], f"{type_name}.model_name")
    for path, uri in ((f"{type_name}.storage_uri", args["storage_uri"]),
                      (f"{type_name}.canary.storage_uri", (args.get("canary") or {}).get("storage_uri"))):
        if uri is not None and not uri.startswith(STORAGE_SCHEMES):
            fail(path, f"must start with one of {', '.join(STORAGE_SCHEMES)} (resolve models:/ URIs with "
                       "registry_storage_uri)", uri)
    if args.get("replicas", 1) < 1:
        fail(f"{type_name}.replicas", "must be ≥ 1", args.get("replicas"))
    canary = args.get("canary")
    if canary:
        if not 1 <= canary["weight"] <= 99:
            fail(f"{type_name}.canary.weight", "must be between 1 and 99", canary["weight"])
        if not 0 <= canary.get("mirror_percent", 0) <= 100:
            fail(f"{type_name}.canary.mirror_percent", "must be between 0 and 100", canary.get("mirror_percent"))


def registry_storage_uri(model_uri: str, tracking_uri: str) -> str:
    """Resolve ``models:/NAME/VERSION`` (or ``@ALIAS``) in an MLflow registry to its artifact location.

    Runs at program time (``pulumi preview``), so the manifests name the exact artifact; needs ``mlflow``.
    """
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    name, _, ref = model_uri.removeprefix("models:/").partition("/")
    if "@" in name:
        name, alias = name.split("@", 1)
        version = client.get_model_version_by_alias(name, alias).version
    else:
        version = ref
    return client.get_model_version_download_uri(name, version)


# ---------------------------------------------------------------------------------------- Seldon


class SeldonServerArgs(TypedDict):
    """Arguments of :class:`SeldonServer` (``Server.spec``)."""

    namespace: str
    """Namespace of the ``Server``."""
    server_config: NotRequired[str]
    """``spec.serverConfig``: the ``ServerConfig`` to instantiate (default ``"mlserver"``)."""
    replicas: NotRequired[int]
    """``spec.replicas`` (default 1)."""


class SeldonServer(pulumi.ComponentResource):
    """A Seldon Core v2 ``Server`` (a pool of inference servers models are scheduled onto)."""

    server_name: pulumi.Output[str]
    """``metadata.name`` of the ``Server``."""

    def __init__(self, name: str, args: SeldonServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        check_args(args, SeldonServerArgs)
        check_name(name, "SeldonServer name")
        if args.get("replicas", 1) < 1:
            fail("SeldonServerArgs.replicas", "must be ≥ 1", args.get("replicas"))
        super().__init__("helicon:serving:SeldonServer", name, None, opts)
        self.server = k8s.apiextensions.CustomResource(
            name, api_version=SELDON_API_VERSION, kind="Server",
            metadata=metadata(name, args["namespace"], labels("seldon-server", name, "model-server")),
            spec={"serverConfig": args.get("server_config", "mlserver"), "replicas": args.get("replicas", 1)},
            opts=child_opts(self))
        self.server_name = pulumi.Output.from_input(name)
        self.register_outputs({"server_name": self.server_name})


class SeldonModelArgs(TypedDict):
    """Arguments of :class:`SeldonModel` (``Model.spec``)."""

    namespace: str
    """Namespace of the ``Model``."""
    storage_uri: str
    """``spec.storageUri``: the artifact location (see ``ServingArgs.storage_uri``)."""
    requirements: NotRequired[list[str]]
    """``spec.requirements``: capabilities a Server must offer (default ``["mlflow"]``)."""
    replicas: NotRequired[int]
    """``spec.replicas`` (default 1)."""
    memory: NotRequired[str]
    """``spec.memory`` (default ``"1Gi"``)."""
    server: NotRequired[str]
    """``spec.server``: pin to one Server (default: any Server with the requirements)."""
    model_name: NotRequired[str]
    """``metadata.name``, the name requests use (default: the component's name)."""
    secret_name: NotRequired[str]
    """``spec.secretName``: rclone storage credentials."""


class SeldonModel(pulumi.ComponentResource):
    """A Seldon Core v2 ``Model``."""

    model_name: pulumi.Output[str]
    """``metadata.name`` of the ``Model``: the name inference requests use."""

    def __init__(self, name: str, args: SeldonModelArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        check_args(args, SeldonModelArgs)
        check_name(name, "SeldonModel name")
        check_name(args.get("model_name", name), "SeldonModelArgs.model_name")
        if args.get("replicas", 1) < 1:
            fail("SeldonModelArgs.replicas", "must be ≥ 1", args.get("replicas"))
        super().__init__("helicon:serving:SeldonModel", name, None, opts)
        spec: dict = {"storageUri": args["storage_uri"], "requirements": args.get("requirements", ["mlflow"]),
                      "replicas": args.get("replicas", 1), "memory": args.get("memory", "1Gi")}
        for field, key in (("server", "server"), ("secret_name", "secretName")):
            if field in args:
                spec[key] = args[field]
        model_name = args.get("model_name", name)
        self.model = k8s.apiextensions.CustomResource(
            name, api_version=SELDON_API_VERSION, kind="Model",
            metadata=metadata(model_name, args["namespace"], labels("seldon-model", model_name, "model"),
                              annotations={"pulumi.com/waitFor": "condition=ModelReady"}),
            spec=spec, opts=child_opts(self))
        self.model_name = pulumi.Output.from_input(model_name)
        self.register_outputs({"model_name": self.model_name})


class SeldonPipelineArgs(TypedDict):
    """Arguments of :class:`SeldonPipeline` (``Pipeline.spec``): a chain of models over Seldon's Kafka."""

    namespace: str
    """Namespace of the ``Pipeline``."""
    steps: list[str]
    """Model names, in order; each step takes the previous step's output (``spec.steps[].inputs``)."""


class SeldonPipeline(pulumi.ComponentResource):
    """A Seldon Core v2 ``Pipeline`` chaining models; its output is the last step's."""

    pipeline_name: pulumi.Output[str]
    """``metadata.name`` of the ``Pipeline``."""

    def __init__(self, name: str, args: SeldonPipelineArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        check_args(args, SeldonPipelineArgs)
        check_name(name, "SeldonPipeline name")
        if not args["steps"]:
            fail("SeldonPipelineArgs.steps", "must name at least one model")
        super().__init__("helicon:serving:SeldonPipeline", name, None, opts)
        steps = [{"name": step} if index == 0 else {"name": step, "inputs": [args["steps"][index - 1]]}
                 for index, step in enumerate(args["steps"])]
        self.pipeline = k8s.apiextensions.CustomResource(
            name, api_version=SELDON_API_VERSION, kind="Pipeline",
            metadata=metadata(name, args["namespace"], labels("seldon-pipeline", name, "pipeline")),
            spec={"steps": steps, "output": {"steps": [args["steps"][-1]]}}, opts=child_opts(self))
        self.pipeline_name = pulumi.Output.from_input(name)
        self.register_outputs({"pipeline_name": self.pipeline_name})


class SeldonCandidateArgs(TypedDict):
    """One candidate of an experiment (``spec.candidates[]``)."""

    name: str
    """Model (or pipeline) name."""
    weight: int
    """Relative traffic weight; share = weight / sum of weights."""


class SeldonExperimentArgs(TypedDict):
    """Arguments of :class:`SeldonExperiment` (``Experiment.spec``): canary, A/B test or shadow."""

    namespace: str
    """Namespace of the ``Experiment``."""
    default: str
    """``spec.default``: the model whose endpoint is split (it must be among the candidates)."""
    candidates: list[SeldonCandidateArgs]
    """``spec.candidates``: at least two, weights ≥ 0 and not all zero."""
    mirror: NotRequired[str]
    """``spec.mirror.name``: a model receiving a copy of the traffic (responses discarded)."""
    mirror_percent: NotRequired[int]
    """``spec.mirror.percent`` (default 100 when ``mirror`` is set)."""
    experiment_name: NotRequired[str]
    """``metadata.name`` (default: the component's name)."""


class SeldonExperiment(pulumi.ComponentResource):
    """A Seldon Core v2 ``Experiment`` splitting (and optionally mirroring) a model's traffic."""

    experiment_name: pulumi.Output[str]
    """``metadata.name`` of the ``Experiment``."""

    def __init__(self, name: str, args: SeldonExperimentArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        check_args(args, SeldonExperimentArgs)
        check_name(name, "SeldonExperiment name")
        candidates = args["candidates"]
        if len(candidates) < 2:
            fail("SeldonExperimentArgs.candidates", "must list at least two models", len(candidates))
        for index, candidate in enumerate(candidates):
            if candidate["weight"] < 0:
                fail(f"SeldonExperimentArgs.candidates[{index}].weight", "must be ≥ 0", candidate["weight"])
        if sum(candidate["weight"] for candidate in candidates) == 0:
            fail("SeldonExperimentArgs.candidates", "weights must not all be zero")
        if args["default"] not in {candidate["name"] for candidate in candidates}:
            fail("SeldonExperimentArgs.default", "must be one of the candidates", args["default"])
        super().__init__("helicon:serving:SeldonExperiment", name, None, opts)
        spec: dict = {"default": args["default"], "resourceType": "model",
                      "candidates": [{"name": c["name"], "weight": c["weight"]} for c in candidates]}
        if "mirror" in args:
            spec["mirror"] = {"name": args["mirror"], "percent": args.get("mirror_percent", 100)}
        experiment_name = args.get("experiment_name", name)
        self.experiment = k8s.apiextensions.CustomResource(
            name, api_version=SELDON_API_VERSION, kind="Experiment",
            metadata=metadata(experiment_name, args["namespace"], labels("seldon-experiment", experiment_name, "experiment"),
                              annotations={"pulumi.com/waitFor": "condition=ExperimentReady"}),
            spec=spec, opts=child_opts(self))
        self.experiment_name = pulumi.Output.from_input(experiment_name)
        self.register_outputs({"experiment_name": self.experiment_name})


class SeldonServing(pulumi.ComponentResource):
    """:class:`ServingArgs` on Seldon Core v2: a ``Model`` (+ candidate ``Model`` and ``Experiment``)."""

    model_name: pulumi.Output[str]
    """The name inference requests use (the stable model; with a canary the Experiment splits it)."""
    inference_uri: pulumi.Output[str]
    """``oip+http://seldon-mesh.<ns>.svc:80/v2/models/<model>``: Open Inference Protocol via the Seldon mesh."""

    def __init__(self, name: str, args: ServingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        validate_serving(args, "ServingArgs")
        check_name(name, "SeldonServing name")
        canary = args.get("canary")
        super().__init__("helicon:serving:SeldonServing", name, None, opts)
        namespace, model = args["namespace"], args["model_name"]
        requirements = [args.get("model_format", "mlflow")]
        common: SeldonModelArgs = {"namespace": namespace, "requirements": requirements,
                                   "replicas": args.get("replicas", 1), "memory": args.get("memory", "1Gi"),
                                   "storage_uri": args["storage_uri"]}
        if "credentials_secret" in args:
            common["secret_name"] = args["credentials_secret"]
        # Logical names come from the component's name (stable URNs); Kubernetes names from the model's.
        self.stable = SeldonModel(f"{name}-stable", {**common, "model_name": model}, opts=child_opts(self))
        self.candidate: SeldonModel | None = None
        self.experiment: SeldonExperiment | None = None
        if canary:
            candidate_name = f"{model}-candidate"
            self.candidate = SeldonModel(f"{name}-candidate", {**common, "storage_uri": canary["storage_uri"],
                                                               "model_name": candidate_name}, opts=child_opts(self))
            experiment_args: SeldonExperimentArgs = {
                "namespace": namespace, "default": model,
                "candidates": [{"name": model, "weight": 100 - canary["weight"]},
                               {"name": candidate_name, "weight": canary["weight"]}]}
            if canary.get("mirror_percent"):
                experiment_args.update(mirror=candidate_name, mirror_percent=canary["mirror_percent"])
            experiment_args["experiment_name"] = f"{model}-canary"
            self.experiment = SeldonExperiment(f"{name}-experiment", experiment_args,
                                               opts=child_opts(self, depends_on=[self.stable, self.candidate]))
        self.model_name = pulumi.Output.from_input(model)
        self.inference_uri = pulumi.Output.from_input(f"oip+http://seldon-mesh.{namespace}.svc:80/v2/models/{model}")
        self.register_outputs({"model_name": self.model_name, "inference_uri": self.inference_uri})


# ---------------------------------------------------------------------------------------- KServe


class KServeServing(pulumi.ComponentResource):
    """:class:`ServingArgs` on KServe: one ``InferenceService`` (canary via ``canaryTrafficPercent``).

    KServe keeps the previous revision and routes ``canaryTrafficPercent`` to the new one: set
    ``canary.storage_uri`` to the new version and ``canary.weight`` to its share; promote by moving it to
    ``storage_uri`` and dropping ``canary``.
    """

    model_name: pulumi.Output[str]
    """``metadata.name`` of the ``InferenceService``."""
    inference_uri: pulumi.Output[str]
    """``oip+http://<model>-predictor.<ns>.svc:80/v2/models/<model>`` (Open Inference Protocol, v2)."""

    def __init__(self, name: str, args: ServingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        validate_serving(args, "ServingArgs")
        check_name(name, "KServeServing name")
        canary = args.get("canary")
        if canary and canary.get("mirror_percent"):
            fail("ServingArgs.canary.mirror_percent", "is not supported by KServe (use backend seldon)",
                 canary["mirror_percent"])
        super().__init__("helicon:serving:KServeServing", name, None, opts)
        namespace, model = args["namespace"], args["model_name"]
        memory = args.get("memory", "1Gi")
        replicas = args.get("replicas", 1)
        predictor: dict = {
            # The model server's pod and container meet "restricted" (KServe's own init containers are its own).
            "securityContext": pod_security_context(),
            "minReplicas": replicas,
            "maxReplicas": max(replicas, 2 * replicas),
            "model": {
                "modelFormat": {"name": args.get("model_format", "mlflow")},
                "protocolVersion": "v2",
                "storageUri": canary["storage_uri"] if canary else args["storage_uri"],
                "resources": {"requests": {"cpu": "250m", "memory": memory}, "limits": {"cpu": "1", "memory": memory}},
                "securityContext": container_security_context(read_only_root=False),
            },
        }
        if canary:
            predictor["canaryTrafficPercent"] = canary["weight"]
        self.inference_service = k8s.apiextensions.CustomResource(
            f"{name}-isvc", api_version=KSERVE_API_VERSION, kind="InferenceService",
            metadata=metadata(model, namespace, labels("kserve-model", model, "model"),
                              annotations={"pulumi.com/waitFor": "condition=Ready"}),
            spec={"predictor": predictor}, opts=child_opts(self))
        self.model_name = pulumi.Output.from_input(model)
        self.inference_uri = pulumi.Output.from_input(f"oip+http://{model}-predictor.{namespace}.svc:80/v2/models/{model}")
        self.register_outputs({"model_name": self.model_name, "inference_uri": self.inference_uri})


def serving(backend: Backend, name: str, args: ServingArgs,
            opts: pulumi.ResourceOptions | None = None) -> SeldonServing | KServeServing:
    """Build the serving implementation ``backend`` names, from the same :class:`ServingArgs`."""
    if backend == "seldon":
        return SeldonServing(name, args, opts)
    if backend == "kserve":
        return KServeServing(name, args, opts)
    fail("serving backend", "must be seldon or kserve", backend)

