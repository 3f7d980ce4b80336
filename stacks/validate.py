"""Strict schema validation of emitted Kubernetes objects, offline.

Built-in kinds are checked against the strict JSON schemas ``kubernetes-validate`` ships for
:data:`KUBERNETES_VERSION`; custom resources against the pinned upstream CRDs in
``helicon/infra/crds`` (see its README for provenance and licences). "Strict" means what the API
server's ``fieldValidation=Strict`` means: an unknown or misspelt field is an error, not silently
pruned — every object schema without ``x-kubernetes-preserve-unknown-fields`` is closed.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from importlib import resources
from typing import Any

import jsonschema
import yaml

#: The Kubernetes minor version whose schemas built-in kinds are validated against.
KUBERNETES_VERSION = "1.34"

#: apiVersion group → folder under helicon/infra/crds; kind → file.
_CRD_FILES = {
    "kafka.strimzi.io": {"Kafka": "kafka", "KafkaNodePool": "kafkanodepool", "KafkaTopic": "kafkatopic",
                         "KafkaUser": "kafkauser"},
    "mlops.seldon.io": {"Model": "model", "Server": "server", "Pipeline": "pipeline", "Experiment": "experiment"},
    "flink.apache.org": {"FlinkDeployment": "flinkdeployment"},
    "sparkoperator.k8s.io": {"SparkApplication": "sparkapplication"},
    "keda.sh": {"ScaledObject": "scaledobject", "TriggerAuthentication": "triggerauthentication"},
    "serving.kserve.io": {"InferenceService": "inferenceservice"},
}

#: What a custom resource's metadata may hold when created (the API server checks it as ObjectMeta).
_OBJECT_META = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", "maxLength": 253},
        "namespace": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63},
        "labels": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 63}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}


@dataclass(frozen=True)
class SchemaViolation:
    """One object failing its schema."""

    kind: str
    name: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}: {self.path or '<root>'}: {self.message}"


def validate_object(obj: dict[str, Any]) -> list[SchemaViolation]:
    """All schema violations of one object (empty when valid); unknown kinds are a violation too."""
    api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    name = (obj.get("metadata") or {}).get("name", "<unnamed>")
    group, _, version = api_version.rpartition("/")
    if group in _CRD_FILES:
        validator = _crd_validator(group, version, kind)
        if validator is None:
            return [SchemaViolation(kind, name, "", f"no pinned CRD schema for {api_version} {kind}")]
        return [SchemaViolation(kind, name, _path(error), error.message)
                for error in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))]
    return _validate_builtin(obj, kind, name)


def validate_all(objects: list[dict[str, Any]]) -> list[SchemaViolation]:
    """Schema violations of every object."""
    return [violation for obj in objects for violation in validate_object(obj)]


def _validate_builtin(obj: dict[str, Any], kind: str, name: str) -> list[SchemaViolation]:
    import kubernetes_validate

    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [SchemaViolation(kind, name, _path(error), error.message)]
    except kubernetes_validate.SchemaNotFoundError:
        return [SchemaViolation(kind, name, "", f"no Kubernetes {KUBERNETES_VERSION} schema for "
                                                f"{obj.get('apiVersion')} {kind}")]
    return []


def _path(error: jsonschema.ValidationError) -> str:
    return ".".join(f"[{part}]" if isinstance(part, int) else str(part) for part in error.absolute_path).replace(".[", "[")


@functools.cache
def _crd_validator(group: str, version: str, kind: str) -> jsonschema.Draft7Validator | None:
    file_stem = _CRD_FILES[group].get(kind)
    if file_stem is None:
        return None
    text = resources.files("helicon.infra.crds").joinpath(group, f"{file_stem}.yaml").read_text()
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    crd = next(doc for doc in yaml.load_all(text, Loader=loader) if doc)
    for entry in crd["spec"]["versions"]:
        if entry["name"] == version and entry.get("served"):
            schema = strict_schema(entry["schema"]["openAPIV3Schema"])
            schema.setdefault("properties", {})["metadata"] = _OBJECT_META
            schema["properties"]["apiVersion"] = {"const": f"{group}/{version}"}
            schema["properties"]["kind"] = {"const": kind}
            schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "metadata"})
            return jsonschema.Draft7Validator(schema)
    return None


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON-Schema copy of a structural openAPIV3Schema, closed against unknown fields.

    Mirrors the API server: objects with ``properties`` and no ``additionalProperties`` reject unknown
    fields unless ``x-kubernetes-preserve-unknown-fields``; ``x-kubernetes-int-or-string`` accepts both;
    ``nullable`` admits null.
    """
    schema = copy.deepcopy(schema)
    _close(schema)
    return schema


def _close(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _close(item)
        return
    if not isinstance(node, dict):
        return
    if node.get("x-kubernetes-int-or-string"):
        node.pop("type", None)
        node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and isinstance(node.get("type"), str):
        node["type"] = [node["type"], "null"]
    if (node.get("type") == "object" or (isinstance(node.get("type"), list) and "object" in node["type"])) \
            and "properties" in node and "additionalProperties" not in node \
            and not node.get("x-kubernetes-preserve-unknown-fields"):
        node["additionalProperties"] = False
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            for child in value.values():
                _close(child)
        elif key in ("items", "additionalProperties", "not") and isinstance(value, (dict, list)):
            _close(value)
        elif key in ("allOf", "anyOf", "oneOf") and isinstance(value, list):
            _close(value)
