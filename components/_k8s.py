"""Kubernetes building blocks every component shares: labels, the restricted security context,
child options, probes, and the PodDisruptionBudget / HPA / Service builders.

Builders take ``parent`` explicitly and return the resource, so a component reads top to bottom.
"""

from __future__ import annotations

import re
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

PART_OF = "helicon"
MANAGED_BY = "pulumi"
#: RFC 1123 label: what Kubernetes accepts for names of Services, Deployments, topics' CRs …
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
#: A Strimzi/Kubernetes object name may also contain dots (RFC 1123 subdomain).
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
#: UID/GID the runtime image runs as; any non-zero id satisfies the "restricted" standard.
RUNTIME_UID = 10001


def labels(name: str, instance: str, component: str, version: str | None = None) -> dict[str, str]:
    """The recommended ``app.kubernetes.io/*`` labels for every object a component creates."""
    result = {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }
    if version:
        result["app.kubernetes.io/version"] = version
    return result


def selector_labels(name: str, instance: str) -> dict[str, str]:
    """The immutable subset used in selectors: only ``name`` and ``instance`` (never ``version``)."""
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": instance}


def image_version(image: str) -> str | None:
    """The tag of ``repo/name:tag`` (digest-pinned images have none worth a label)."""
    last = image.rsplit("/", 1)[-1]
    if "@" in last or ":" not in last:
        return None
    return last.split(":", 1)[1]


def child_opts(parent: pulumi.Resource, **extra: Any) -> pulumi.ResourceOptions:
    """Options for a child: parented to the component, so the caller's providers flow to it."""
    return pulumi.ResourceOptions(parent=parent, **extra)


def pod_security_context(uid: int = RUNTIME_UID) -> dict[str, Any]:
    """Pod-level part of the Kubernetes "restricted" Pod Security Standard."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context(read_only_root: bool = True) -> dict[str, Any]:
    """Container-level part of the "restricted" standard, with a read-only root filesystem."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": read_only_root,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def http_probe(path: str, port: str, period: int = 10, failures: int = 3) -> dict[str, Any]:
    """An HTTP GET probe on a named port."""
    return {"httpGet": {"path": path, "port": port}, "periodSeconds": period, "failureThreshold": failures}


def metadata(name: str, namespace: str, object_labels: dict[str, str], **extra: Any) -> dict[str, Any]:
    """Object metadata with an explicit name, so rendered manifests and DNS names are stable."""
    return {"name": name, "namespace": namespace, "labels": object_labels, **extra}


def pod_disruption_budget(resource_name: str, parent: pulumi.Resource, *, namespace: str,
                          object_labels: dict[str, str], selector: dict[str, str],
                          max_unavailable: int = 1) -> k8s.policy.v1.PodDisruptionBudget:
    """A PDB that lets one pod go at a time (never ``minAvailable == replicas``: drains would block)."""
    return k8s.policy.v1.PodDisruptionBudget(
        resource_name,
        metadata=metadata(resource_name, namespace, object_labels),
        spec={"maxUnavailable": max_unavailable, "selector": {"matchLabels": selector}},
        opts=child_opts(parent),
    )


def cpu_autoscaler(resource_name: str, parent: pulumi.Resource, *, namespace: str, object_labels: dict[str, str],
                   deployment: str, min_replicas: int, max_replicas: int,
                   cpu_utilisation: int = 70) -> k8s.autoscaling.v2.HorizontalPodAutoscaler:
    """An ``autoscaling/v2`` HPA on average CPU utilisation of the named Deployment."""
    return k8s.autoscaling.v2.HorizontalPodAutoscaler(
        resource_name,
        metadata=metadata(resource_name, namespace, object_labels),
        spec={
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
            "minReplicas": min_replicas,
            "maxReplicas": max_replicas,
            "metrics": [{"type": "Resource", "resource": {
                "name": "cpu", "target": {"type": "Utilization", "averageUtilization": cpu_utilisation}}}],
        },
        opts=child_opts(parent),
    )


def double_cpu(cpu: str) -> str:
    """Twice a CPU quantity (``"250m"`` → ``"500m"``, ``"1"`` → ``"2"``): the limit for a request."""
    if cpu.endswith("m"):
        return f"{int(cpu[:-1]) * 2}m"
    return f"{float(cpu) * 2:g}"


def check_name(value: Any, path: str, pattern: re.Pattern[str] = DNS_LABEL, max_length: int = 63) -> None:
    """A Kubernetes object name: lower-case RFC 1123, at most ``max_length`` characters."""
    from helicon.components._validate import fail

    if not isinstance(value, str) or not pattern.match(value) or len(value) > max_length:
        fail(path, f"must be a lower-case RFC 1123 name of at most {max_length} characters", value)


def check_image(value: Any, path: str) -> None:
    """An image reference with an explicit tag or digest, and never ``:latest``."""
    from helicon.components._validate import fail

    if not isinstance(value, str) or not value:
        fail(path, "must be an image reference", value)
    last = value.rsplit("/", 1)[-1]
    if "@sha256:" not in last and ":" not in last:
        fail(path, "must pin a tag or digest (an untagged image means :latest)", value)
    if last.endswith(":latest"):
        fail(path, "must not use the :latest tag", value)
