"""Operator installs as pinned Helm charts: Strimzi, Seldon Core v2, KServe, Flink, Spark, KEDA.

``helm.v3.Release`` rather than ``helm.v4.Chart``: these charts ship CRDs (Seldon and KServe as
separate charts, the others in ``crds/``) and some use Helm hooks, which ``v4.Chart`` skips. Chart
versions are pinned here; they match the CRD schemas in ``helicon/infra/crds`` (Seldon excepted:
see the README there).
"""


from dataclasses import dataclass, field
from enum import Enum
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from helicon.components._k8s import check_name, child_opts, labels
from helicon.components._validate import check_args, plain

class Operator(str, Enum):
    """An operator Helicon can install."""

    STRIMZI = "strimzi"
    SELDON = "seldon"
    KSERVE = "kserve"
    FLINK = "flink"
    SPARK = "spark"
    KEDA = "keda"


@dataclass(frozen=True)
class Chart:
    """One pinned chart."""

    chart: str
    version: str
    repo: str | None
    namespace: str
    #: Values; ``{watch}`` in a string is replaced by the platform namespace.
    values: dict[str, Any] = field(default_factory=dict)
    #: A chart holding the CRDs, installed first (Seldon, KServe).
    crd_chart: str | None = None
    #: A chart installed into the platform namespace after the operator (Seldon's per-namespace runtime:
    #: scheduler, envoy mesh, model gateway).
    namespace_chart: str | None = None


CHARTS: dict[str, Chart] = {
    "strimzi": Chart("strimzi-kafka-operator", "1.2.0", "https://strimzi.io/charts/", "strimzi-system",
                     # Strimzi's "restricted" provider makes Kafka pods meet the namespace's Pod Security level.
                     {"watchNamespaces": ["{watch}"], "watchAnyNamespace": False,
                      "extraEnvs": [{"name": "STRIMZI_POD_SECURITY_PROVIDER_CLASS", "value": "restricted"}]}),
    "seldon": Chart("seldon-core-v2-setup", "2.10.2", "https://seldonio.github.io/helm-charts", "seldon-system",
                    {"controller": {"clusterwide": True}}, crd_chart="seldon-core-v2-crds",
                    namespace_chart="seldon-core-v2-runtime"),
    "kserve": Chart("oci://ghcr.io/kserve/charts/kserve", "v0.19.0", None, "kserve",
                    {"kserve": {"controller": {"deploymentMode": "RawDeployment"}}},
                    crd_chart="oci://ghcr.io/kserve/charts/kserve-crd"),
    "flink": Chart("flink-kubernetes-operator", "1.15.0",
                   "https://downloads.apache.org/flink/flink-kubernetes-operator-1.15.0/", "flink-system",
                   {"watchNamespaces": ["{watch}"], "webhook": {"create": False}}),
    "spark": Chart("spark-operator", "2.5.2", "https://kubeflow.github.io/spark-operator", "spark-system",
                   {"spark": {"jobNamespaces": ["{watch}"]}}),
    "keda": Chart("keda", "2.20.2", "https://kedacore.github.io/charts", "keda", {}),
}


class OperatorsArgs(TypedDict):
    """Arguments of :class:`Operators`."""

    watch_namespace: str
    """The platform namespace the operators reconcile (Strimzi, Flink and Spark watch only it)."""
    install: list[Operator]
    """Operators to install, e.g. ``["strimzi", "seldon", "keda"]``; each gets its own namespace."""
    values: NotRequired[dict[str, dict[str, Any]]]
    """Extra Helm values per operator, merged over the defaults (top-level keys replace)."""


class Operators(pulumi.ComponentResource):
    """Operator namespaces and pinned Helm releases."""

    namespaces: pulumi.Output[list[str]]
    """Namespaces the operators run in."""

    def __init__(self, name: str, args: OperatorsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        check_args(args, OperatorsArgs)
        check_name(args["watch_namespace"], "OperatorsArgs.watch_namespace")
        super().__init__("helicon:infra:Operators", name, None, opts)
        self.releases: dict[str, k8s.helm.v3.Release] = {}
        namespaces: list[str] = []
        for operator in sorted({plain(item) for item in args["install"]}):
            chart = CHARTS[operator]
            namespace = k8s.core.v1.Namespace(
                f"{name}-{operator}-ns",
                metadata={"name": chart.namespace, "labels": {
                    **labels(operator, f"{name}-{operator}", "operator"), "helicon.io/operators": "true",
                    # Operator pods are third-party: enforce baseline, report what restricted would reject.
                    "pod-security.kubernetes.io/enforce": "baseline",
                    "pod-security.kubernetes.io/warn": "restricted"}},
                opts=child_opts(self))
            namespaces.append(chart.namespace)
            depends_on: list[pulumi.Resource] = [namespace]
            if chart.crd_chart:
                depends_on.append(_release(f"{name}-{operator}-crds", self, chart.crd_chart, chart, {}, [namespace]))
            values = _fill(chart.values, args["watch_namespace"])
            values.update(args.get("values", {}).get(operator, {}))
            self.releases[operator] = _release(f"{name}-{operator}", self, chart.chart, chart, values, depends_on)
            if chart.namespace_chart:
                self.releases[f"{operator}-runtime"] = _release(
                    f"{name}-{operator}-runtime", self, chart.namespace_chart, chart, {}, [self.releases[operator]],
                    namespace=args["watch_namespace"])
        self.namespaces = pulumi.Output.from_input(namespaces)
        self.register_outputs({"namespaces": self.namespaces})


def _release(resource_name: str, parent: pulumi.Resource, chart_name: str, chart: Chart, values: dict[str, Any],
             depends_on: list[pulumi.Resource], namespace: str | None = None) -> k8s.helm.v3.Release:
    return k8s.helm.v3.Release(
        resource_name,
        name=resource_name,
        chart=chart_name,
        version=chart.version,
        namespace=namespace or chart.namespace,
        repository_opts={"repo": chart.repo} if chart.repo else None,
        values=values,
        atomic=True,
        opts=child_opts(parent, depends_on=depends_on))


def _fill(value: Any, watch: str) -> Any:
    if isinstance(value, str):
        return value.replace("{watch}", watch)
    if isinstance(value, list):
        return [_fill(item, watch) for item in value]
    if isinstance(value, dict):
        return {key: _fill(item, watch) for key, item in value.items()}
    return value
