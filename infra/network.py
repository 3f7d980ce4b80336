"""The platform namespace and its NetworkPolicies: default deny, then what each workload needs.

Layout of the rules (all ``networking.k8s.io/v1``):

* ``default-deny-ingress``: no pod in the namespace accepts traffic unless a rule below allows it.
* Helicon's own pods (bridge, drift, learn, streaming jobs, MLflow) are also denied egress, then
  allowed DNS, Kafka (9092/9093 to pods of the Strimzi cluster), MLflow (5000) and the serving ports.
* MLflow accepts 5000 from Helicon pods in the namespace and from namespaces labelled
  ``helicon.io/ingress: "true"`` (the ingress controller); it may reach its database and object store.
* Metrics ports accept scrapes from namespaces labelled ``helicon.io/monitoring: "true"``.
* Operator-managed pods (Seldon, KServe, Flink, Spark) accept traffic from the namespace and from the
  operator namespaces, which they need to work. Kafka's listeners are opened by the
  NetworkPolicies Strimzi itself creates for each listener.
"""


from enum import Enum
from typing import NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from helicon.components._k8s import check_name, child_opts, labels, metadata
from helicon.components._validate import check_args

#: ``app.kubernetes.io/component`` values of the pods Helicon itself runs.
HELICON_COMPONENTS = ["bridge", "drift", "learn", "streaming-job", "tracking-server"]
RUNTIME_COMPONENTS = ["bridge", "drift", "learn", "streaming-job"]


class PodSecurityLevel(str, Enum):
    """``pod-security.kubernetes.io/enforce`` level."""

    RESTRICTED = "restricted"
    BASELINE = "baseline"


class PlatformNamespaceArgs(TypedDict):
    """Arguments of :class:`PlatformNamespace`."""

    namespace: str
    """Name of the platform namespace."""
    pod_security: NotRequired["PodSecurityLevel"]
    """``pod-security.kubernetes.io/enforce`` level (default ``"restricted"``). Helicon's own pods meet
    ``restricted``; choose ``baseline`` only when an operator's pods (e.g. Seldon servers) do not."""
    network_policies: NotRequired[bool]
    """Create the NetworkPolicies above (default true)."""
    metrics_port: NotRequired[int]
    """The runtime workloads' metrics port (default 9400)."""


class PlatformNamespace(pulumi.ComponentResource):
    """The platform namespace with Pod Security labels and default-deny NetworkPolicies."""

    namespace: pulumi.Output[str]
    """Name of the namespace."""
    policy_names: pulumi.Output[list[str]]
    """Names of the NetworkPolicies created."""

    def __init__(self, name: str, args: PlatformNamespaceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        check_args(args, PlatformNamespaceArgs)
        check_name(args["namespace"], "PlatformNamespaceArgs.namespace")
        super().__init__("helicon:infra:PlatformNamespace", name, None, opts)
        namespace = args["namespace"]
        level = args.get("pod_security", "restricted")
        common = labels("helicon-platform", name, "platform")
        self.namespace_resource = k8s.core.v1.Namespace(
            name, metadata={"name": namespace, "labels": {
                **common, "pod-security.kubernetes.io/enforce": level,
                "pod-security.kubernetes.io/audit": "restricted", "pod-security.kubernetes.io/warn": "restricted"}},
            opts=child_opts(self))
        self.policies: list[k8s.networking.v1.NetworkPolicy] = []
        if args.get("network_policies", True):
            port = args.get("metrics_port", 9400)
            for policy_name, spec in _policies(port).items():
                self.policies.append(k8s.networking.v1.NetworkPolicy(
                    f"{name}-{policy_name}", metadata=metadata(policy_name, namespace, common), spec=spec,
                    opts=child_opts(self, depends_on=[self.namespace_resource])))
        self.namespace = pulumi.Output.from_input(namespace)
        self.policy_names = pulumi.Output.from_input(sorted(_policies(0)) if args.get("network_policies", True) else [])
        self.register_outputs({"namespace": self.namespace, "policy_names": self.policy_names})


def _components(values: list[str]) -> dict:
    return {"matchExpressions": [{"key": "app.kubernetes.io/component", "operator": "In", "values": values}]}


def _tcp(*ports: int) -> list[dict]:
    return [{"protocol": "TCP", "port": port} for port in ports]


_DNS = {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}


def _policies(metrics_port: int) -> dict[str, dict]:
    helicon_pods = {"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "helicon"}}}
    operator_managed = {"matchExpressions": [
        {"key": "app.kubernetes.io/component", "operator": "NotIn", "values": HELICON_COMPONENTS},
        {"key": "strimzi.io/cluster", "operator": "DoesNotExist"}]}
    return {
        "default-deny-ingress": {"podSelector": {}, "policyTypes": ["Ingress"]},
        "runtime-egress": {
            "podSelector": _components(RUNTIME_COMPONENTS), "policyTypes": ["Egress"],
            "egress": [
                _DNS,
                {"to": [{"podSelector": {"matchExpressions": [{"key": "strimzi.io/cluster", "operator": "Exists"}]}}],
                 "ports": _tcp(9092, 9093)},
                {"to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "mlflow"}}}], "ports": _tcp(5000)},
                {"to": [{"podSelector": operator_managed}], "ports": _tcp(80, 8080, 9000, 9500)},
                # Model artifacts (s3://, gs://) come from object stores: HTTPS, or MinIO's 9000.
                {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}, {"namespaceSelector": {}}], "ports": _tcp(443, 9000)},
            ],
        },
        "runtime-metrics-ingress": {
            "podSelector": _components(RUNTIME_COMPONENTS), "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"helicon.io/monitoring": "true"}}}],
                         "ports": _tcp(metrics_port) if metrics_port else _tcp(9400)}],
        },
        "mlflow-ingress": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "mlflow"}}, "policyTypes": ["Ingress"],
            "ingress": [{"from": [helicon_pods,
                                  {"namespaceSelector": {"matchLabels": {"helicon.io/ingress": "true"}}}],
                         "ports": _tcp(5000)}],
        },
        "mlflow-egress": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "mlflow"}}, "policyTypes": ["Egress"],
            # Its database (PostgreSQL, MySQL) and object store (HTTPS, MinIO), in or outside the cluster.
            "egress": [_DNS, {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}, {"namespaceSelector": {}}],
                              "ports": _tcp(443, 5432, 3306, 9000)}],
        },
        "operator-managed-ingress": {
            "podSelector": operator_managed, "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {}},
                                  {"namespaceSelector": {"matchLabels": {"helicon.io/operators": "true"}}}]}],
        },
    }
