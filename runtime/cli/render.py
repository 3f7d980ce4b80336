"""``helicon render STACK --out DIR``: the manifests a stack would apply, without a cluster or the Pulumi CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def render(
    stack: Annotated[str, typer.Argument(help="dev, staging, prod, or the path of a Pulumi.<stack>.yaml.")],
    out: Annotated[Path, typer.Option("--out", help="Directory for the manifests (one YAML file per resource).")],
    validate: Annotated[bool, typer.Option("--validate/--no-validate",
                                           help="Check every object strictly against the pinned schemas.")] = True,
) -> None:
    """Write every resource STACK would create as deterministic YAML, secrets redacted (Pulumi unit-test mode)."""
    try:
        # Pulumi is the `iac` extra: the runtime installs and runs without it.
        from helicon.stacks.render import manifests, render_stack, write_manifests
    except ImportError as error:
        typer.echo(f"error: {error.name} is not installed — pip install 'helicon[iac]'", err=True)
        raise typer.Exit(code=1) from None
    try:
        registrations = render_stack(stack)
    except (ValueError, FileNotFoundError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None
    if validate:
        from helicon.stacks.validate import validate_all

        violations = validate_all(manifests(registrations))
        if violations:
            for violation in violations:
                typer.echo(f"invalid: {violation}", err=True)
            raise typer.Exit(code=1)
    written = write_manifests(registrations, out)
    typer.echo(f"{len(written)} manifests written to {out}")
