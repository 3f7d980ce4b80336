"""Reference pages for the components, generated from their ``…Args`` TypedDicts and output annotations.

``python -m helicon.components._docs docs/components`` writes one page per component; a test checks
the pages are current and that every field and output has a docstring.
"""

from __future__ import annotations

import ast
import enum
import inspect
import sys
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import get_args, get_origin

from helicon.components import kafka, mlflow, platform, serving, streaming, workloads
from helicon.components._validate import _hints, _is_typeddict, required_keys
from helicon.infra import network, operators

#: Page → (component class, its args TypedDict, type token).
COMPONENTS: dict[str, tuple[type, type]] = {
    "kafka-cluster": (kafka.KafkaCluster, kafka.KafkaClusterArgs),
    "kafka-topic": (kafka.KafkaTopic, kafka.KafkaTopicArgs),
    "kafka-user": (kafka.KafkaUser, kafka.KafkaUserArgs),
    "mlflow-server": (mlflow.MlflowServer, mlflow.MlflowServerArgs),
    "seldon-serving": (serving.SeldonServing, serving.ServingArgs),
    "kserve-serving": (serving.KServeServing, serving.ServingArgs),
    "seldon-server": (serving.SeldonServer, serving.SeldonServerArgs),
    "seldon-model": (serving.SeldonModel, serving.SeldonModelArgs),
    "seldon-pipeline": (serving.SeldonPipeline, serving.SeldonPipelineArgs),
    "seldon-experiment": (serving.SeldonExperiment, serving.SeldonExperimentArgs),
    "flink-job": (streaming.FlinkJob, streaming.FlinkJobArgs),
    "spark-streaming-job": (streaming.SparkStreamingJob, streaming.SparkStreamingJobArgs),
    "kafka-streams-app": (streaming.KafkaStreamsApp, streaming.KafkaStreamsAppArgs),
    "inference-bridge": (workloads.InferenceBridge, workloads.InferenceBridgeArgs),
    "drift-monitor": (workloads.DriftMonitor, workloads.DriftMonitorArgs),
    "online-learner": (workloads.OnlineLearner, workloads.OnlineLearnerArgs),
    "operators": (operators.Operators, operators.OperatorsArgs),
    "platform-namespace": (network.PlatformNamespace, network.PlatformNamespaceArgs),
    "helicon-platform": (platform.HeliconPlatform, platform.HeliconPlatformArgs),
}


@dataclass(frozen=True)
class Field:
    name: str
    annotation: str
    required: bool
    doc: str


def field_docs(schema: type) -> list[Field]:
    """Fields of a TypedDict (inherited ones first) with their docstrings."""
    docs: dict[str, str] = {}
    for klass in _typeddict_lineage(schema):
        docs.update(_attribute_docstrings(klass))
    hints, required = _hints(schema), required_keys(schema)
    return [Field(name, _type_name(hint), name in required, docs.get(name, "")) for name, hint in hints.items()]


def _typeddict_lineage(schema: type) -> list[type]:
    """The TypedDict and the TypedDicts it extends, bases first (TypedDicts keep bases only in __orig_bases__)."""
    lineage: list[type] = []
    module = sys.modules[schema.__module__]
    for base in ast.parse(inspect.getsource(schema)).body[0].bases:  # type: ignore[attr-defined]
        resolved = getattr(module, base.id, None) if isinstance(base, ast.Name) else None
        if resolved is not None and _is_typeddict(resolved):
            lineage += _typeddict_lineage(resolved)
    return lineage + [schema]


def output_docs(component: type) -> list[Field]:
    """Output attributes of a component class (annotations on the class and its bases) with docstrings."""
    docs: dict[str, str] = {}
    fields: list[Field] = []
    for klass in reversed(component.__mro__):
        if klass.__module__.startswith("helicon."):
            docs.update(_attribute_docstrings(klass))
            for name, annotation in klass.__dict__.get("__annotations__", {}).items():
                if not name.startswith("_") and name not in {f.name for f in fields}:
                    fields.append(Field(name, str(annotation), True, ""))
    return [Field(f.name, f.annotation, True, docs.get(f.name, "")) for f in fields]


def _attribute_docstrings(klass: type) -> dict[str, str]:
    tree = ast.parse(inspect.getsource(klass))
    body = tree.body[0].body  # type: ignore[attr-defined]
    result = {}
    for node, following in zip(body, body[1:], strict=False):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(following, ast.Expr) \
                and isinstance(following.value, ast.Constant) and isinstance(following.value.value, str):
            result[node.target.id] = inspect.cleandoc(following.value.value)
    return result


def _type_name(hint: typing.Any) -> str:
    while get_origin(hint) in (typing.NotRequired, typing.Required):
        hint = get_args(hint)[0]
    if _is_typeddict(hint):
        return f"`{hint.__name__}`"
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return " | ".join(f'`"{member.value}"`' for member in hint)
    if get_origin(hint) is list and get_args(hint) and (_is_typeddict(get_args(hint)[0]) or (
            isinstance(get_args(hint)[0], type) and issubclass(get_args(hint)[0], enum.Enum))):
        return "list of " + _type_name(get_args(hint)[0])
    text = repr(hint).replace("typing.", "").replace("pulumi.output.", "")
    if "Awaitable" in text:
        inner = get_args(hint)[0]
        return f"Input[{getattr(inner, '__name__', inner)}]"
    return text.replace("<class '", "").replace("'>", "")


def nested_schemas(schema: type, seen: set[type] | None = None) -> list[type]:
    """TypedDicts reachable from ``schema``'s fields (for the "nested types" section)."""
    seen = seen if seen is not None else set()
    found = []
    for hint in _hints(schema).values():
        stack = [hint]
        while stack:
            current = stack.pop()
            if _is_typeddict(current) and current not in seen:
                seen.add(current)
                found.append(current)
                found += nested_schemas(current, seen)
            stack.extend(get_args(current))
    return found


def page(slug: str) -> str:
    """The Markdown reference page of one component."""
    component, schema = COMPONENTS[slug]
    token = inspect.getsource(component).split('super().__init__(', 1)
    type_token = ""
    if len(token) > 1 and token[1].startswith(('"helicon:', 'f"helicon:')):
        type_token = token[1].split('"')[1]
    lines = [f"# {component.__name__}", "", inspect.cleandoc(component.__doc__ or ""), "",
             f"- Python: `from {component.__module__} import {component.__name__}, {schema.__name__}`",
             f"- Type token: `{type_token or 'helicon:workloads:' + component.__name__}`",
             f"- Call: `{component.__name__}(name, args: {schema.__name__}, opts=None)`; arguments are checked before any "
             "child is registered and a `ValueError` names the field path.", ""]
    for table_schema in [schema, *nested_schemas(schema)]:
        title = f"Arguments: `{table_schema.__name__}`" if table_schema is schema else f"`{table_schema.__name__}`"
        lines += [f"## {title}", "",
                  "| field | type | required | description |", "|---|---|---|---|"]
        for item in field_docs(table_schema):
            lines.append(f"| `{item.name}` | {_cell(item.annotation)} | {'yes' if item.required else 'no'} | "
                         f"{_cell(' '.join(item.doc.split()))} |")
        lines.append("")
    lines += ["## Outputs", "", "| output | description |", "|---|---|"]
    for item in output_docs(component):
        lines.append(f"| `{item.name}` | {_cell(' '.join(item.doc.split()))} |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def write(out: Path) -> list[Path]:
    """Write every page and an index under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for slug in COMPONENTS:
        path = out / f"{slug}.md"
        path.write_text(page(slug))
        paths.append(path)
    index = ["# Component reference", "", "Generated by `python -m helicon.components._docs docs/components`.", ""]
    index += [f"- [{COMPONENTS[slug][0].__name__}]({slug}.md)" for slug in COMPONENTS]
    (out / "README.md").write_text("\n".join(index) + "\n")
    return paths


if __name__ == "__main__":
    write(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/components"))
