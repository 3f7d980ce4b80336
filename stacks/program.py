"""The Pulumi program: reads the stack's typed configuration and composes the platform.

The components arrive with the IaC issue; today the program validates its configuration and
exports it, so that ``pulumi preview`` on any stack runs the whole import path.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

ENVIRONMENTS = ("dev", "staging", "prod")


@dataclass(frozen=True)
class StackSettings:
    """What a stack's ``Pulumi.<stack>.yaml`` says under the ``helicon:`` namespace."""

    environment: str
    namespace: str

    @classmethod
    def from_config(cls, config: pulumi.Config) -> "StackSettings":
        environment = config.require("environment")
        if environment not in ENVIRONMENTS:
            raise ValueError(f"helicon:environment must be one of {', '.join(ENVIRONMENTS)} (got {environment!r})")
        namespace = config.get("namespace") or f"helicon-{environment}"
        return cls(environment=environment, namespace=namespace)


def main() -> StackSettings:
    """Run the program for the current stack; returns the settings it ran with."""
    settings = StackSettings.from_config(pulumi.Config("helicon"))
    pulumi.export("environment", settings.environment)
    pulumi.export("namespace", settings.namespace)
    return settings
