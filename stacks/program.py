"""The Pulumi program: reads the stack's typed configuration and composes the platform.

Every key under the ``helicon:`` namespace of ``Pulumi.<stack>.yaml`` is a field of
:class:`~helicon.components.platform.HeliconPlatformArgs` (same snake_case name); credentials are
Pulumi secrets set with ``pulumi config set --secret`` (see :data:`SECRET_KEYS`). The whole config is
checked before any resource is registered; an error names the config path
(``helicon:kafka.brokers.replicas must be ≥ 3 in prod (got 1)``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi

from helicon.components._validate import _hints
from helicon.components.platform import HeliconPlatform, HeliconPlatformArgs, validate_platform

ENVIRONMENTS = ("dev", "staging", "prod")
#: Config key → ``HeliconPlatformArgs.secrets`` field; each is read with ``require_secret``.
SECRET_KEYS = {
    "mlflow_backend_store_uri": "mlflow_backend_store_uri",
    "s3_access_key_id": "s3_access_key_id",
    "s3_secret_access_key": "s3_secret_access_key",
}
NAMESPACE = "helicon"


@dataclass(frozen=True)
class StackSettings:
    """What the program ran with: the environment, the namespace and the platform's arguments."""

    environment: str
    namespace: str
    platform_args: dict[str, Any]


def read_settings(config: pulumi.Config) -> StackSettings:
    """Read and check the stack's config; raise ValueError naming ``helicon:<path>`` on the first problem."""
    fields = _hints(HeliconPlatformArgs)
    known = set(fields) - {"secrets"}
    present = {key.split(":", 1)[1] for key in _all_config_keys() if key.startswith(f"{NAMESPACE}:")}
    unknown = sorted(present - known - set(SECRET_KEYS))
    if unknown:
        raise ValueError(f"{NAMESPACE}:{unknown[0]} is not a setting of this program; known settings: "
                         f"{', '.join(sorted(known | set(SECRET_KEYS)))}")
    environment = config.require("environment")
    if environment not in ENVIRONMENTS:
        raise ValueError(f"{NAMESPACE}:environment must be one of {', '.join(ENVIRONMENTS)} (got {environment!r})")
    args: dict[str, Any] = {}
    for key in sorted(known & present):
        raw = config.get(key)
        try:
            args[key] = json.loads(raw) if raw and raw[:1] in "[{" or raw in ("true", "false") else raw
        except json.JSONDecodeError as error:
            raise ValueError(f"{NAMESPACE}:{key} is not valid JSON/YAML structure: {error}") from None
    args.setdefault("namespace", f"helicon-{environment}")
    missing = [key for key in SECRET_KEYS if config.get(key) is None]
    if missing:
        raise ValueError(f"{NAMESPACE}:{missing[0]} is required: set it with "
                         f"`pulumi config set --secret {NAMESPACE}:{missing[0]} …`")
    args["secrets"] = {field: config.require_secret(key) for key, field in SECRET_KEYS.items()}
    try:
        validate_platform(args, root=NAMESPACE)  # type: ignore[arg-type]
    except ValueError as error:
        raise ValueError(str(error).replace(f"{NAMESPACE}.", f"{NAMESPACE}:", 1)) from None
    return StackSettings(environment=environment, namespace=args["namespace"], platform_args=args)


def main() -> StackSettings:
    """Run the program for the current stack; returns the settings it ran with."""
    settings = read_settings(pulumi.Config(NAMESPACE))
    platform = HeliconPlatform("helicon", settings.platform_args)  # type: ignore[arg-type]
    pulumi.export("environment", settings.environment)
    pulumi.export("namespace", settings.namespace)
    pulumi.export("bootstrap_servers", platform.bootstrap_servers)
    pulumi.export("tracking_uri", platform.tracking_uri)
    pulumi.export("inference_uris", platform.inference_uris)
    return settings


def _all_config_keys() -> set[str]:
    from pulumi.runtime import config as runtime_config

    return set(runtime_config.get_config_env()) | set(runtime_config.CONFIG.get())
