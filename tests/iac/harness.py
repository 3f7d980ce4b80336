"""Run components under Pulumi's mocks and find what they registered."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi

from helicon.stacks.render import Registration, run_program, unwrap_secrets

PROVIDER_NAME = "k8s"


class Run:
    """What one program run registered, and the outputs it captured."""

    def __init__(self, registrations: list[Registration], outputs: dict[str, Any]) -> None:
        self.registrations = registrations
        self.outputs = outputs

    def find(self, type_token: str, name: str) -> Registration:
        """The one registration of ``type_token`` (or its ``Kind`` suffix) named ``name``."""
        matches = [r for r in self.registrations if r.name == name
                   and (r.type_token == type_token or (r.custom and r.type_token.endswith(f":{type_token}")))]
        assert len(matches) == 1, f"{type_token} {name}: {len(matches)} registrations; have " + \
            ", ".join(sorted(f"{r.type_token}::{r.name}" for r in self.registrations))
        return matches[0]

    def spec(self, type_token: str, name: str) -> dict[str, Any]:
        """Inputs of a registration with secrets unwrapped."""
        return unwrap_secrets(self.find(type_token, name).inputs)

    def of_kind(self, kind: str) -> list[Registration]:
        return [r for r in self.registrations if r.custom and r.type_token.endswith(f":{kind}")]

    def kinds(self) -> list[str]:
        return sorted(r.type_token for r in self.registrations)


def run(build: Callable[[], dict[str, pulumi.Output] | None], stack: str = "test") -> Run:
    """Run ``build`` under mocks; the dict of Outputs it returns is resolved into ``Run.outputs``."""
    captured: dict[str, Any] = {}

    def program() -> Any:
        outputs = build() or {}
        if outputs:
            return pulumi.Output.all(**outputs).apply(captured.update)
        return None

    return Run(run_program(program, stack=stack, config={}), captured)


def with_provider() -> pulumi.ResourceOptions:
    """Options carrying an explicit Kubernetes provider, as a caller would pass them."""
    import pulumi_kubernetes as k8s

    provider = k8s.Provider(PROVIDER_NAME, namespace="elsewhere")
    return pulumi.ResourceOptions(providers={"kubernetes": provider})


def uses_provider(registration: Registration) -> bool:
    return bool(registration.provider) and f"pulumi:providers:kubernetes::{PROVIDER_NAME}::" in registration.provider
