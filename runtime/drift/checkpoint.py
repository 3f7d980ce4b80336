"""Checkpoints of the monitor's state: detectors, join, gates, outbox and the offsets they cover.

A checkpoint is one file replaced atomically (write, fsync, rename), so a SIGKILL leaves either
the previous or the new checkpoint, never half of one. The detectors are river objects and are
stored with :mod:`pickle`; the file is the service's own state and must live where only the
service writes (a volume of its pod), never be taken from an untrusted place.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

FORMAT = "helicon.drift.checkpoint/1"


class FileCheckpointStore:
    """Save and load the state dictionary at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def save(self, state: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = pickle.dumps({"format": FORMAT, "state": state}, protocol=pickle.HIGHEST_PROTOCOL)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(payload)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def load(self) -> dict[str, Any] | None:
        """The last saved state, or None when there is none yet."""
        if not self.path.exists():
            return None
        with self.path.open("rb") as file:
            stored = pickle.load(file)  # noqa: S301 - our own state file; see the module docstring
        if not isinstance(stored, dict) or stored.get("format") != FORMAT:
            raise ValueError(f"{self.path} is not a drift checkpoint ({FORMAT}); move it away to start afresh")
        return stored["state"]
