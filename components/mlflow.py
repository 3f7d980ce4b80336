"""``MlflowServer``: an MLflow tracking server and model registry as a Deployment + Service (+ Ingress).

Credentials (backend-store URI with its password, S3 keys) go into a Secret built from Pulumi
secrets and reach the container only as environment variables; the command line refers to them
as ``$(VAR)``, which Kubernetes expands, so they never appear in the Deployment spec.
"""


from typing import NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from helicon.components._k8s import (
    check_image, check_name, child_opts, double_cpu, container_security_context, http_probe, image_version, labels, metadata,
    pod_disruption_budget, pod_security_context, selector_labels,
)
from helicon.components._validate import check_args, fail

MLFLOW_PORT = 5000


class MlflowServerArgs(TypedDict):
    """Arguments of :class:`MlflowServer`."""

    namespace: str
    """Namespace of the server's objects."""
    image: str
    """An image with ``mlflow`` (and ``boto3``, ``psycopg2`` for S3/PostgreSQL), tag or digest pinned."""
    backend_store_uri: pulumi.Input[str]
    """``--backend-store-uri``, e.g. ``postgresql://user:password@host/db``; pass a Pulumi secret
    (``config.require_secret``). Stored in the Secret, never in the Deployment."""
    artifacts_destination: str
    """``--artifacts-destination``, e.g. ``s3://mlflow-artifacts``; the server proxies artifact access."""
    s3_access_key_id: pulumi.Input[str]
    """S3 access key id (a Pulumi secret); env ``AWS_ACCESS_KEY_ID``."""
    s3_secret_access_key: pulumi.Input[str]
    """S3 secret key (a Pulumi secret); env ``AWS_SECRET_ACCESS_KEY``."""
    s3_endpoint_url: NotRequired[str]
    """``MLFLOW_S3_ENDPOINT_URL`` for S3-compatible stores (MinIO, Ceph); default: AWS."""
    allowed_hosts: NotRequired[list[str]]
    """Extra ``--allowed-hosts`` beyond the Service's own DNS names and the ingress host (MLflow 3 rejects
    other Host headers with 403)."""
    ingress_host: NotRequired[str]
    """Expose the server on this host through an Ingress (default: no Ingress, cluster-internal only)."""
    ingress_class: NotRequired[str]
    """``spec.ingressClassName`` of the Ingress (default: the cluster's default class)."""
    ingress_tls_secret: NotRequired[str]
    """TLS Secret for the ingress host (default: none; set it outside dev)."""
    replicas: NotRequired[int]
    """Replicas (default 1; ≥ 2 adds a PDB). Needs a shared backend store (not SQLite) beyond 1."""
    cpu: NotRequired[str]
    """CPU request (default ``"250m"``; limit twice that)."""
    memory: NotRequired[str]
    """Memory request and limit (default ``"1Gi"``)."""


class MlflowServer(pulumi.ComponentResource):
    """An MLflow tracking server with a model registry, artifact proxying and ``/health`` probes."""

    tracking_uri: pulumi.Output[str]
    """``http://<name>.<ns>.svc:80``: what ``MLFLOW_TRACKING_URI`` should be inside the cluster."""
    service_name: pulumi.Output[str]
    """``metadata.name`` of the Service."""

    def __init__(self, name: str, args: MlflowServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        check_args(args, MlflowServerArgs)
        check_name(name, "MlflowServer name")
        check_name(args["namespace"], "MlflowServerArgs.namespace")
        check_image(args["image"], "MlflowServerArgs.image")
        if not args["artifacts_destination"].startswith(("s3://", "gs://", "wasbs://")):
            fail("MlflowServerArgs.artifacts_destination", "must be an object-store URI (s3://, gs://, wasbs://)",
                 args["artifacts_destination"])
        if args.get("replicas", 1) < 1:
            fail("MlflowServerArgs.replicas", "must be ≥ 1", args.get("replicas"))
        super().__init__("helicon:mlflow:MlflowServer", name, None, opts)
        namespace = args["namespace"]
        common = labels("mlflow", name, "tracking-server", image_version(args["image"]))
        selector = selector_labels("mlflow", name)
        replicas = args.get("replicas", 1)

        self.secret = k8s.core.v1.Secret(
            f"{name}-credentials", metadata=metadata(f"{name}-credentials", namespace, common), type="Opaque",
            string_data={
                "MLFLOW_BACKEND_STORE_URI": pulumi.Output.secret(args["backend_store_uri"]),
                "AWS_ACCESS_KEY_ID": pulumi.Output.secret(args["s3_access_key_id"]),
                "AWS_SECRET_ACCESS_KEY": pulumi.Output.secret(args["s3_secret_access_key"]),
            },
            opts=child_opts(self))

        hosts = [name, f"{name}.{namespace}", f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local",
                 *args.get("allowed_hosts", [])]
        if "ingress_host" in args:
            hosts.append(args["ingress_host"])
        env = [{"name": key, "valueFrom": {"secretKeyRef": {"name": f"{name}-credentials", "key": key}}}
               for key in ("MLFLOW_BACKEND_STORE_URI", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")]
        env.append({"name": "HOME", "value": "/tmp"})
        if "s3_endpoint_url" in args:
            env.append({"name": "MLFLOW_S3_ENDPOINT_URL", "value": args["s3_endpoint_url"]})
        cpu, memory = args.get("cpu", "250m"), args.get("memory", "1Gi")
        container = {
            "name": "mlflow", "image": args["image"], "imagePullPolicy": "IfNotPresent",
            "command": ["mlflow", "server"],
            "args": ["--host", "0.0.0.0", "--port", str(MLFLOW_PORT),
                     "--backend-store-uri", "$(MLFLOW_BACKEND_STORE_URI)",
                     "--artifacts-destination", args["artifacts_destination"], "--serve-artifacts",
                     "--allowed-hosts", ",".join(hosts)],
            "env": env,
            "ports": [{"name": "http", "containerPort": MLFLOW_PORT, "protocol": "TCP"}],
            "resources": {"requests": {"cpu": cpu, "memory": memory},
                          "limits": {"cpu": double_cpu(cpu), "memory": memory}},
            "startupProbe": http_probe("/health", "http", period=5, failures=24),
            "livenessProbe": http_probe("/health", "http", period=10, failures=3),
            "readinessProbe": http_probe("/health", "http", period=5, failures=2),
            "securityContext": container_security_context(),
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        }
        self.deployment = k8s.apps.v1.Deployment(
            name, metadata=metadata(name, namespace, common),
            spec={"replicas": replicas, "selector": {"matchLabels": selector}, "template": {
                "metadata": {"labels": common},
                "spec": {"automountServiceAccountToken": False, "securityContext": pod_security_context(),
                         "containers": [container], "volumes": [{"name": "tmp", "emptyDir": {}}]}}},
            opts=child_opts(self, depends_on=[self.secret]))
        self.service = k8s.core.v1.Service(
            name, metadata=metadata(name, namespace, common),
            spec={"selector": selector, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
            opts=child_opts(self))
        self.pdb = None
        if replicas >= 2:
            self.pdb = pod_disruption_budget(f"{name}-pdb", self, namespace=namespace, object_labels=common,
                                             selector=selector)
        self.ingress = None
        if "ingress_host" in args:
            ingress_spec: dict = {"rules": [{"host": args["ingress_host"], "http": {"paths": [{
                "path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": name, "port": {"name": "http"}}}}]}}]}
            if "ingress_class" in args:
                ingress_spec["ingressClassName"] = args["ingress_class"]
            if "ingress_tls_secret" in args:
                ingress_spec["tls"] = [{"hosts": [args["ingress_host"]], "secretName": args["ingress_tls_secret"]}]
            self.ingress = k8s.networking.v1.Ingress(
                name, metadata=metadata(name, namespace, common), spec=ingress_spec, opts=child_opts(self))
        self.tracking_uri = pulumi.Output.from_input(tracking_uri_of(name, namespace))
        self.service_name = pulumi.Output.from_input(name)
        self.register_outputs({"tracking_uri": self.tracking_uri, "service_name": self.service_name})


def tracking_uri_of(name: str, namespace: str) -> str:
    """The in-cluster tracking URI of the ``MlflowServer`` named ``name`` (its Service, port 80)."""
    return f"http://{name}.{namespace}.svc:80"
