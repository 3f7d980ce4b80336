"""Helicon's CrossGuard policy pack: ``pulumi preview --policy-pack "$(helicon-policy-path)"``.

The rules are pure functions in :mod:`helicon.infra.policy.rules`; ``__main__.py`` is the pack the
Pulumi CLI runs. :func:`pack_path` returns the directory to pass to ``--policy-pack``.
"""

from __future__ import annotations

from pathlib import Path


def pack_path() -> Path:
    """The directory holding ``PulumiPolicy.yaml``: what ``--policy-pack`` takes."""
    return Path(__file__).parent
