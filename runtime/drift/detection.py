"""What a detector reports: one warning or drift, with where its fresh data starts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["warning", "drift"]


@dataclass(frozen=True)
class Detection:
    """One warning or drift, in the detector's own stream.

    ``index`` is the position (0-based) of the update that fired in the monitor's stream of that
    tier: feature events for data drift, joined examples for concept drift. ``window_start`` is
    the first index of the data the detector believes is post-change — ADWIN's retained window,
    DDM's warning start — so ``[window_start, index]`` is the fresh-data window.
    """

    kind: Kind
    detector: str
    feature: str | None
    index: int
    window_start: int
    statistics: dict[str, Any] = field(default_factory=dict)

    @property
    def detector_id(self) -> str:
        """Stable name of the detector instance, e.g. ``adwin:amount`` or ``ddm:error``."""
        return f"{self.detector}:{self.feature or 'error'}"
