"""How the CLI reports an error the user can fix: one line on stderr, then a non-zero exit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from helicon.infra.local.errors import LocalPlatformError


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn :class:`LocalPlatformError` into ``error: <cause> — <fix>`` and exit status 1."""
    try:
        yield
    except LocalPlatformError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=1) from None
