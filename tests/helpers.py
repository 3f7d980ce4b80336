"""Small helpers shared by tests: running the CLI as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence


def run_cli(arguments: Sequence[str], env: Mapping[str, str] | None = None, timeout: float = 300,
            ) -> subprocess.CompletedProcess[str]:
    """Run ``helicon ARGUMENTS`` in a child process and capture what it prints."""
    return subprocess.run(
        [sys.executable, "-m", "helicon.runtime.cli.main", *arguments],
        capture_output=True, text=True, timeout=timeout, env=dict(env if env is not None else os.environ),
    )
