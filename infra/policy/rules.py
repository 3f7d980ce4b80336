"""Helicon's policy rules as pure functions of (resource type token, props, environment).

Each rule returns the list of violation messages for one resource (empty when compliant). The
CrossGuard pack in ``__main__.py`` wraps them; tests call them directly on the inputs the stacks'
programs register under mocks, and on counter-examples.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

Props = Mapping[str, Any]
Rule = Callable[[str, Props, str], list[str]]

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}
CREDENTIAL_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|ACCESS_KEY|PRIVATE_KEY|CREDENTIALS?)$", re.IGNORECASE)
URI_WITH_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@$(]+@", re.IGNORECASE)


def kind_of(resource_type: str) -> str:
    """``kubernetes:apps/v1:Deployment`` → ``Deployment`` ('' for non-Kubernetes types)."""
    parts = resource_type.split(":")
    return parts[2] if len(parts) == 3 and parts[0] == "kubernetes" else ""


def pod_specs(resource_type: str, props: Props) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every pod spec a resource defines, with a path for messages."""
    kind, spec = kind_of(resource_type), props.get("spec") or {}
    if kind == "Pod":
        yield "spec", spec
    elif kind == "CronJob":
        yield "spec.jobTemplate.spec.template.spec", (((spec.get("jobTemplate") or {}).get("spec") or {})
                                                      .get("template") or {}).get("spec") or {}
    elif kind in WORKLOAD_KINDS:
        yield "spec.template.spec", (spec.get("template") or {}).get("spec") or {}
    elif kind == "FlinkDeployment":
        yield "spec.podTemplate.spec", (spec.get("podTemplate") or {}).get("spec") or {}
    elif kind == "InferenceService":
        # The predictor is a pod spec whose main container is ``model``.
        predictor = spec.get("predictor") or {}
        yield "spec.predictor", {**predictor, "containers": [predictor["model"]] if "model" in predictor else []}


def _containers(pod: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for field in ("initContainers", "containers"):
        for index, container in enumerate(pod.get(field) or []):
            yield f"{field}[{index}]", container


def images(resource_type: str, props: Props) -> Iterator[tuple[str, str]]:
    """Every image reference a resource names, with a path."""
    kind, spec = kind_of(resource_type), props.get("spec") or {}
    for path, pod in pod_specs(resource_type, props):
        for container_path, container in _containers(pod):
            if "image" in container:
                yield f"{path}.{container_path}.image", container["image"]
    if kind in ("FlinkDeployment", "SparkApplication") and "image" in spec:
        yield "spec.image", spec["image"]
    if kind == "SparkApplication":
        for role in ("driver", "executor"):
            if "image" in (spec.get(role) or {}):
                yield f"spec.{role}.image", spec[role]["image"]


def resource_limits(resource_type: str, props: Props, environment: str) -> list[str]:
    """Every container requests CPU and memory and has a memory limit."""
    problems = []
    for path, pod in pod_specs(resource_type, props):
        for container_path, container in _containers(pod):
            if kind_of(resource_type) == "FlinkDeployment":
                continue  # the operator sets Flink's resources from spec.jobManager/taskManager.resource
            resources = container.get("resources") or {}
            for section, key in (("requests", "cpu"), ("requests", "memory"), ("limits", "memory")):
                if not (resources.get(section) or {}).get(key):
                    problems.append(f"{path}.{container_path}.resources.{section}.{key} is not set")
    return problems


def non_root(resource_type: str, props: Props, environment: str) -> list[str]:
    """Pods meet the "restricted" Pod Security Standard: non-root, no escalation, no capabilities, seccomp."""
    problems = []
    for path, pod in pod_specs(resource_type, props):
        pod_context = pod.get("securityContext") or {}
        if pod.get("hostNetwork") or pod.get("hostPID") or pod.get("hostIPC"):
            problems.append(f"{path} uses a host namespace")
        for container_path, container in _containers(pod):
            problems += _container_restricted(f"{path}.{container_path}", pod_context, container.get("securityContext") or {})
    if kind_of(resource_type) == "SparkApplication":
        spec = props.get("spec") or {}
        for role in ("driver", "executor"):
            role_spec = spec.get(role) or {}
            problems += _container_restricted(f"spec.{role}", role_spec.get("podSecurityContext") or {},
                                              role_spec.get("securityContext") or {})
    return problems


def _container_restricted(path: str, pod_context: Mapping[str, Any], context: Mapping[str, Any]) -> list[str]:
    problems = []
    if not (context.get("runAsNonRoot") or pod_context.get("runAsNonRoot")):
        problems.append(f"{path}: runAsNonRoot is not true")
    if 0 in (context.get("runAsUser"), pod_context.get("runAsUser")):
        problems.append(f"{path}: runs as UID 0")
    if context.get("allowPrivilegeEscalation") is not False:
        problems.append(f"{path}: allowPrivilegeEscalation is not false")
    if context.get("privileged"):
        problems.append(f"{path}: is privileged")
    if "ALL" not in ((context.get("capabilities") or {}).get("drop") or []):
        problems.append(f"{path}: capabilities.drop does not include ALL")
    added = set((context.get("capabilities") or {}).get("add") or []) - {"NET_BIND_SERVICE"}
    if added:
        problems.append(f"{path}: adds capabilities {sorted(added)}")
    seccomp = (context.get("seccompProfile") or pod_context.get("seccompProfile") or {}).get("type")
    if seccomp not in ("RuntimeDefault", "Localhost"):
        problems.append(f"{path}: seccompProfile.type is not RuntimeDefault or Localhost")
    return problems


def no_latest_tag(resource_type: str, props: Props, environment: str) -> list[str]:
    """Images pin a tag or digest, and the tag is not ``latest``."""
    problems = []
    for path, image in images(resource_type, props):
        last = str(image).rsplit("/", 1)[-1]
        if "@sha256:" in last:
            continue
        if ":" not in last:
            problems.append(f"{path}: {image!r} has no tag (it means :latest)")
        elif last.endswith(":latest"):
            problems.append(f"{path}: {image!r} uses :latest")
    return problems


def tls_listeners_outside_dev(resource_type: str, props: Props, environment: str) -> list[str]:
    """Outside dev, every Strimzi listener uses TLS and authenticates clients."""
    if environment == "dev" or kind_of(resource_type) != "Kafka":
        return []
    problems = []
    for index, listener in enumerate(((props.get("spec") or {}).get("kafka") or {}).get("listeners") or []):
        if not listener.get("tls"):
            problems.append(f"spec.kafka.listeners[{index}] ({listener.get('name')}): tls is not true in {environment}")
        if not (listener.get("authentication") or {}).get("type"):
            problems.append(f"spec.kafka.listeners[{index}] ({listener.get('name')}): no client authentication "
                            f"in {environment}")
    return problems


def secrets_as_secrets(resource_type: str, props: Props, environment: str) -> list[str]:
    """Credentials reach pods only through Secrets: no credential-named env literal, no password in a URI
    in args or ConfigMaps, no credential-named ConfigMap keys."""
    problems = []
    for path, pod in pod_specs(resource_type, props):
        for container_path, container in _containers(pod):
            for index, env in enumerate(container.get("env") or []):
                if CREDENTIAL_NAME.search(env.get("name", "")) and "value" in env:
                    problems.append(f"{path}.{container_path}.env[{index}] ({env['name']}) is a literal value; "
                                    "use valueFrom.secretKeyRef")
            for field in ("command", "args"):
                for index, arg in enumerate(container.get(field) or []):
                    if isinstance(arg, str) and URI_WITH_PASSWORD.search(arg):
                        problems.append(f"{path}.{container_path}.{field}[{index}] holds a URI with a password")
    if kind_of(resource_type) == "ConfigMap":
        for key, value in (props.get("data") or {}).items():
            if CREDENTIAL_NAME.search(key):
                problems.append(f"data.{key} looks like a credential; put it in a Secret")
            if isinstance(value, str) and URI_WITH_PASSWORD.search(value):
                problems.append(f"data.{key} holds a URI with a password; put it in a Secret")
    return problems


RULES: dict[str, tuple[str, Rule]] = {
    "resource-limits": ("Every container requests CPU and memory and has a memory limit.", resource_limits),
    "non-root": ("Pods meet the restricted Pod Security Standard (non-root, no escalation, drop ALL, seccomp).",
                 non_root),
    "no-latest-tag": ("Container images pin a tag or digest other than :latest.", no_latest_tag),
    "tls-listeners-outside-dev": ("Outside dev, Kafka listeners use TLS and client authentication.",
                                  tls_listeners_outside_dev),
    "secrets-as-secrets": ("Credentials reach pods only through Secrets, never as literals.", secrets_as_secrets),
}


def violations(resource_type: str, props: Props, environment: str) -> list[tuple[str, str]]:
    """(rule name, message) for every rule a resource breaks."""
    return [(name, message) for name, (_, rule) in RULES.items() for message in rule(resource_type, props, environment)]
