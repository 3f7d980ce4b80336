"""Up-front validation of a component's ``…Args`` TypedDict, before any child is registered.

The TypedDict annotations are the schema: unknown keys, missing required keys and wrong types are
reported with the full field path (``KafkaClusterArgs.brokers.replicas``). Semantic rules (ranges,
cross-field constraints) are checked by each component with :func:`fail`.
"""

from __future__ import annotations

import types
from enum import Enum
import typing
import collections.abc
from collections.abc import Mapping
from typing import Any, Literal, NotRequired, Required, get_args, get_origin, get_type_hints

import pulumi


def fail(path: str, reason: str, got: Any = ...) -> typing.NoReturn:
    """Raise the ValueError every component raises: ``<path> <reason> (got <value>)``."""
    suffix = "" if got is ... else f" (got {got!r})"
    raise ValueError(f"{path} {reason}{suffix}")


def plain(value: Any) -> Any:
    """An enum member's value (args may hold ``Listener.PLAIN`` or ``"plain"``); anything else unchanged."""
    return value.value if isinstance(value, Enum) else value


def check_args(args: Any, schema: type, path: str | None = None) -> None:
    """Check ``args`` against the TypedDict ``schema``; the path defaults to the schema's name."""
    _check(args, schema, path or schema.__name__)


def required_keys(schema: type) -> set[str]:
    """Required keys of a TypedDict, read from the hints (``__required_keys__`` is wrong under PEP 563)."""
    hints = _hints(schema)
    return {key for key, hint in hints.items() if get_origin(hint) is not NotRequired}


def _hints(schema: type) -> dict[str, Any]:
    # pulumi.Input is Union[T, Awaitable[T], "Output[T]"]: its forward reference needs Output in scope.
    return get_type_hints(schema, localns={"Output": pulumi.Output, "T": Any}, include_extras=True)


def _is_typeddict(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__required_keys__")


def _unwrap(tp: Any) -> Any:
    while get_origin(tp) in (NotRequired, Required, typing.Annotated):
        tp = get_args(tp)[0]
    return tp


def _check(value: Any, tp: Any, path: str) -> None:
    tp = _unwrap(tp)
    # Outputs and awaitables are resolved later by the engine; their shape is the caller's promise.
    if isinstance(value, pulumi.Output) or hasattr(value, "__await__"):
        if _accepts_output(tp):
            return
        fail(path, "must be a plain value here, not a pulumi Output")
    if tp is Any:
        return
    if _is_typeddict(tp):
        if not isinstance(value, Mapping):
            fail(path, f"must be a mapping ({tp.__name__})", value)
        hints = _hints(tp)
        unknown = sorted(set(value) - set(hints))
        if unknown:
            fail(f"{path}.{unknown[0]}", f"is not a field of {tp.__name__}; known fields: {', '.join(sorted(hints))}")
        required = required_keys(tp)
        for key in sorted(required):
            if key not in value:
                fail(f"{path}.{key}", "is required")
        for key, item in value.items():
            if item is None and key not in required:
                continue
            _check(item, hints[key], f"{path}.{key}")
        return
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [option for option in get_args(tp) if option is not type(None)]
        if value is None and len(options) < len(get_args(tp)):
            return
        errors = []
        for option in options:
            try:
                _check(value, option, path)
                return
            except ValueError as error:
                errors.append(str(error))
        # Report the most specific explanation: the option that got deepest into the value.
        raise ValueError(max(errors, key=lambda message: message.split(" ")[0].count(".")))
    if origin is Literal:
        if value not in get_args(tp):
            fail(path, f"must be one of {', '.join(map(str, get_args(tp)))}", value)
        return
    if origin in (list, collections.abc.Sequence):
        if not isinstance(value, (list, tuple)):
            fail(path, "must be a list", value)
        (item_type,) = get_args(tp) or (Any,)
        for index, item in enumerate(value):
            _check(item, item_type, f"{path}[{index}]")
        return
    if origin in (dict, collections.abc.Mapping):
        if not isinstance(value, Mapping):
            fail(path, "must be a mapping", value)
        key_type, item_type = get_args(tp) or (Any, Any)
        for key, item in value.items():
            _check(key, key_type, f"{path}.<key>")
            _check(item, item_type, f"{path}.{key}")
        return
    if isinstance(tp, type) and issubclass(tp, Enum):
        allowed = [member.value for member in tp]
        if plain(value) not in allowed:
            fail(path, f"must be one of {', '.join(map(str, allowed))}", plain(value))
        return
    if tp is bool:
        if not isinstance(value, bool):
            fail(path, "must be true or false", value)
        return
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            fail(path, "must be an integer", value)
        return
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail(path, "must be a number", value)
        return
    if tp is str:
        if not isinstance(value, str):
            fail(path, "must be a string", value)
        return
    if isinstance(tp, type) and not isinstance(value, tp):
        fail(path, f"must be a {tp.__name__}", value)


def _accepts_output(tp: Any) -> bool:
    """True when the annotation is a ``pulumi.Input[...]`` (a Union containing Awaitable/Output)."""
    return any(get_origin(option) is pulumi.Output or option is pulumi.Output or get_origin(option) is typing.Awaitable
               or "Awaitable" in repr(option) for option in get_args(tp))
