"""Model specs: one string names a model everywhere one is chosen (CLI, service, harness).

| spec | model |
|---|---|
| ``hbp`` | :class:`HedgeBackprop` with the paper's defaults (20 × 100, β 0.99, s 0.2, η 0.01) |
| ``hbp:layers=N,units=M[,...]`` | the same with other options (any :class:`HedgeBackprop` argument) |
| ``mlp:layers=N,units=M[,...]`` | fixed-depth online backprop: one head on the last layer, no hedge |
| ``river:module.Class`` | a river estimator, e.g. ``river:tree.HoeffdingAdaptiveTreeClassifier`` |
| ``river:module.Class(k=v)|module.Class`` | a river pipeline, steps joined by ``|``, arguments as Python literals |

Options common to ``hbp`` and ``mlp``: ``task=classification|regression``, ``beta``, ``smoothing``,
``learning_rate`` (alias ``lr``), ``seed``, ``scale_inputs``, ``implementation=fused|per_head``.

>>> parse_spec("hbp:layers=4,units=16").options
{'layers': 4, 'units': 16}
>>> type(build_model("mlp:layers=2,units=8")).__name__
'HedgeBackprop'
>>> pipeline = build_model("river:preprocessing.StandardScaler|linear_model.LogisticRegression(l2=0.01)")
>>> list(pipeline.steps), pipeline["LogisticRegression"].l2
(['StandardScaler', 'LogisticRegression'], 0.01)
"""

from __future__ import annotations

import ast
import importlib
import re
from dataclasses import dataclass, field
from typing import Any

KINDS = ("hbp", "mlp", "river")
_STEP = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(?:\((.*)\))?\s*$")
_ALIASES = {"lr": "learning_rate", "heads": "head_layers"}


class SpecError(ValueError):
    """A model spec that cannot be understood; the message says which part and what is allowed."""


@dataclass(frozen=True)
class ModelSpec:
    """A parsed spec: its kind, options (hbp/mlp) or pipeline steps (river)."""

    text: str
    kind: str
    options: dict[str, Any] = field(default_factory=dict)
    steps: tuple[tuple[str, dict[str, Any]], ...] = ()

    @property
    def task(self) -> str | None:
        """``classification``/``regression`` when the spec says so, else ``None`` (decided by the data)."""
        if self.kind in ("hbp", "mlp"):
            return self.options.get("task")
        return None


def parse_spec(text: str) -> ModelSpec:
    """Parse a spec string; raises :class:`SpecError` naming the bad part."""
    kind, _, rest = text.strip().partition(":")
    if kind not in KINDS:
        raise SpecError(f"model spec {text!r}: kind must be one of {', '.join(KINDS)} (got {kind!r})")
    if kind == "river":
        if not rest:
            raise SpecError(f"model spec {text!r}: river needs an estimator, e.g. river:linear_model.LogisticRegression")
        return ModelSpec(text, kind, steps=tuple(_parse_step(text, step) for step in rest.split("|")))
    options: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, equals, value = item.partition("=")
        if not equals:
            raise SpecError(f"model spec {text!r}: option {item!r} must be NAME=VALUE")
        options[_ALIASES.get(key.strip(), key.strip())] = _literal(value.strip())
    if kind == "mlp" and "layers" not in options:
        raise SpecError(f"model spec {text!r}: mlp needs layers=N (the fixed depth)")
    return ModelSpec(text, kind, options)


def build_model(spec: str | ModelSpec, task: str | None = None) -> Any:
    """A fresh, untrained model for ``spec``; ``task`` fills in hbp/mlp's task when the spec has none."""
    parsed = parse_spec(spec) if isinstance(spec, str) else spec
    if parsed.kind == "river":
        return _build_river(parsed)
    from helicon.runtime.learn.hbp import HedgeBackprop

    options = dict(parsed.options)
    if task is not None:
        options.setdefault("task", task)
    if parsed.kind == "mlp":
        options.setdefault("units", 100)
        options["head_layers"] = [options["layers"]]
        options["hedge"] = False
    try:
        return HedgeBackprop(**options)
    except TypeError as error:
        raise SpecError(f"model spec {parsed.text!r}: {error}") from None
    except ValueError as error:
        raise SpecError(f"model spec {parsed.text!r}: {error}") from None


def model_task(model: Any) -> str:
    """``classification`` or ``regression`` for a built model (river or torch)."""
    from river import base

    task = getattr(model, "task", None)
    if task in ("classification", "regression"):
        return task
    return "regression" if isinstance(model, base.Regressor) or _last_step_is(model, base.Regressor) else "classification"


def _last_step_is(model: Any, kind: type) -> bool:
    steps = getattr(model, "steps", None)
    return bool(steps) and isinstance(list(steps.values())[-1], kind)


def _parse_step(text: str, step: str) -> tuple[str, dict[str, Any]]:
    match = _STEP.match(step)
    if match is None or "." not in match.group(1):
        raise SpecError(f"model spec {text!r}: step {step!r} must be module.Class or module.Class(name=value, ...)")
    arguments: dict[str, Any] = {}
    if match.group(2):
        try:
            call = ast.parse(f"f({match.group(2)})", mode="eval").body
            assert isinstance(call, ast.Call) and not call.args
            arguments = {keyword.arg: ast.literal_eval(keyword.value) for keyword in call.keywords}
        except (SyntaxError, ValueError, AssertionError):
            raise SpecError(f"model spec {text!r}: arguments of {match.group(1)} must be name=literal, ...") from None
    return match.group(1), arguments


def _build_river(parsed: ModelSpec) -> Any:
    from river import compose

    estimators = []
    for path, arguments in parsed.steps:
        module_name, _, class_name = path.rpartition(".")
        try:
            module = importlib.import_module(f"river.{module_name}")
            estimator_class = getattr(module, class_name)
        except (ImportError, AttributeError):
            raise SpecError(f"model spec {parsed.text!r}: river has no {path} (see river's API reference)") from None
        try:
            estimators.append(estimator_class(**arguments))
        except TypeError as error:
            raise SpecError(f"model spec {parsed.text!r}: {path}: {error}") from None
    return estimators[0] if len(estimators) == 1 else compose.Pipeline(*estimators)


def _literal(value: str) -> Any:
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return ast.literal_eval(value)
    except (SyntaxError, ValueError):
        return value
