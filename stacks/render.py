"""Run a Pulumi program in Pulumi's unit-test mode and turn what it registers into manifests.

No cluster and no Pulumi CLI: :class:`RecordingMocks` records every resource registration (its
type token, logical name, provider and inputs in wire form), and :func:`manifests` turns the
Kubernetes ones into objects with secret values redacted, ready to validate or write as YAML.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import yaml

#: The key the Pulumi wire format uses to mark a secret value.
SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
REDACTED = "<redacted>"
HEADER = "# Rendered by `helicon render`; do not edit (regenerate instead).\n"


@dataclass(frozen=True)
class Registration:
    """One resource the program registered."""

    type_token: str
    name: str
    inputs: dict[str, Any]
    provider: str | None
    custom: bool


class RecordingMocks(pulumi.runtime.Mocks):
    """Mocks that answer every registration with its own inputs and remember it."""

    def __init__(self) -> None:
        self.registrations: list[Registration] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        self.registrations.append(Registration(args.typ, args.name, _integral(dict(args.inputs)), args.provider,
                                               bool(args.custom)))
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        return {}


def run_program(program: Callable[[], Any], *, stack: str, config: Mapping[str, Any],
                project: str = "helicon", mocks: RecordingMocks | None = None) -> list[Registration]:
    """Run ``program`` for ``stack`` with ``config`` (``namespace:key`` → value) and return its registrations.

    Structured config values (dicts, lists) are passed JSON-encoded, as the Pulumi engine does.
    Exceptions raised by the program propagate unchanged (pass ``mocks`` to see what was registered before).
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        mocks = mocks if mocks is not None else RecordingMocks()
        pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False)
        pulumi.runtime.set_all_config({key: value if isinstance(value, str) else json.dumps(value)
                                       for key, value in config.items()})
        pulumi.runtime.test(program)()
        return list(mocks.registrations)
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def _integral(value: Any) -> Any:
    """Numbers cross the Pulumi wire as doubles; give whole numbers back their integer type."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _integral(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral(item) for item in value]
    return value


def redact(value: Any) -> Any:
    """A copy of ``value`` with every Pulumi secret replaced by ``<redacted>``."""
    if isinstance(value, dict):
        if SECRET_SIG_KEY in value:
            return REDACTED
        return {key: redact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


def unwrap_secrets(value: Any) -> Any:
    """A copy of ``value`` with secret wrappers replaced by the values they carry (for tests)."""
    if isinstance(value, dict):
        if SECRET_SIG_KEY in value:
            return unwrap_secrets(value.get("value"))
        return {key: unwrap_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(item) for item in value]
    return value


def is_kubernetes_object(registration: Registration) -> bool:
    """True for a Kubernetes object the cluster would store (not a provider, Helm release or component)."""
    return (registration.custom and registration.type_token.startswith("kubernetes:")
            and "apiVersion" in registration.inputs and "kind" in registration.inputs)


def manifests(registrations: list[Registration]) -> list[dict[str, Any]]:
    """The Kubernetes objects among ``registrations``, secrets redacted, sorted by kind/namespace/name."""
    objects = []
    for registration in registrations:
        if not is_kubernetes_object(registration):
            continue
        obj = redact(registration.inputs)
        if obj.get("kind") == "Secret":
            for field in ("data", "stringData"):
                plain = unwrap_secrets(registration.inputs.get(field))
                if isinstance(plain, dict):
                    obj[field] = {key: REDACTED for key in plain}
        objects.append(obj)
    return sorted(objects, key=_sort_key)


def helm_releases(registrations: list[Registration]) -> list[dict[str, Any]]:
    """The Helm releases among ``registrations`` (their inputs, secrets redacted)."""
    return [redact(r.inputs) for r in registrations if r.type_token == "kubernetes:helm.sh/v3:Release"]


def _sort_key(obj: dict[str, Any]) -> tuple[str, str, str]:
    meta = obj.get("metadata") or {}
    return (obj["kind"], meta.get("namespace", ""), meta.get("name", ""))


def write_manifests(registrations: list[Registration], out_dir: Path) -> list[Path]:
    """Write one YAML file per Kubernetes object and per Helm release under ``out_dir``; return the paths.

    Files a previous render wrote (they start with :data:`HEADER`) and that the program no longer
    produces are removed; other files in ``out_dir`` are left alone.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for obj in manifests(registrations):
        meta = obj.get("metadata") or {}
        folder = out_dir / (meta.get("namespace") or "_cluster")
        written.append(_write(folder / f"{obj['kind'].lower()}-{meta.get('name', 'unnamed')}.yaml", obj))
    for release in helm_releases(registrations):
        written.append(_write(out_dir / "_helm" / f"release-{release.get('name', 'unnamed')}.yaml", release))
    names = [path.relative_to(out_dir) for path in written]
    duplicates = {name for name in names if names.count(name) > 1}
    if duplicates:
        raise ValueError(f"two resources render to the same file: {', '.join(map(str, sorted(duplicates)))}")
    keep = set(written)
    for stale in out_dir.rglob("*.yaml"):
        if stale not in keep and stale.read_text().startswith(HEADER):
            stale.unlink()
    return sorted(written)


def _write(path: Path, obj: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + yaml.safe_dump(obj, sort_keys=True, default_flow_style=False, allow_unicode=True))
    return path


def stack_config(stack: str) -> tuple[str, dict[str, Any]]:
    """The config of ``stack``: a stack name shipped in ``helicon/stacks`` (``dev``, ``staging``, ``prod``)
    or the path of a ``Pulumi.<stack>.yaml``. Returns the stack name and its ``config`` mapping.

    Secrets the program requires but the file does not hold (they are set with ``pulumi config set
    --secret``, encrypted, and cannot be read here) are given placeholder values; they are redacted in
    the output either way.
    """
    from helicon.stacks.program import NAMESPACE, SECRET_KEYS

    path = Path(stack)
    if not path.is_file():
        path = Path(__file__).parent / f"Pulumi.{stack}.yaml"
        if not path.is_file():
            shipped = sorted(p.name.split(".")[1] for p in Path(__file__).parent.glob("Pulumi.*.yaml"))
            raise FileNotFoundError(f"no stack {stack!r}: give one of {', '.join(shipped)} or a Pulumi.<stack>.yaml path")
    name = path.name.split(".")[1] if path.name.startswith("Pulumi.") else path.stem
    document = yaml.safe_load(path.read_text()) or {}
    config = dict(document.get("config") or {})
    for key, value in list(config.items()):
        if isinstance(value, dict) and set(value) == {"secure"}:
            config[key] = f"<secret {key}>"
    for key in SECRET_KEYS:
        config.setdefault(f"{NAMESPACE}:{key}", f"<secret {NAMESPACE}:{key}>")
    return name, config


def render_stack(stack: str) -> list[Registration]:
    """Run the stacks program for ``stack`` under mocks and return its registrations."""
    from helicon.stacks import program

    name, config = stack_config(stack)
    return run_program(program.main, stack=name, config=config)
