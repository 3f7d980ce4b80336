"""The demo's scenario: which drifting stream, how fast, and how late the labels come.

Two presets: ``full`` (``helicon demo``) and ``short`` (``helicon demo --short``, the CI mode). Both
have the same phases — concept ``C1``, an abrupt change to ``C2``, a gradual change to ``C3`` and a
shift of the input feature ``f3`` — so the same assertions hold; ``short`` has fewer events and
shorter phases. ``--events N`` stretches or shrinks a preset's change points in proportion.

>>> scenario = Scenario.preset("short", seed=3)
>>> scenario.change_points()["abrupt"] < scenario.change_points()["gradual_start"]
True
>>> scenario.event_id("run1", 42), Scenario.index_of("run1-000042")
('run1-000042', 42)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from helicon.runtime.demo.drifting_stream import DriftingStream

DRIFTING_FEATURE = "f3"


@dataclass(frozen=True)
class Scenario:
    """The stream, its pace, the feedback delay and the knobs that depend on the stream's length."""

    stream: DriftingStream
    #: feature events per second the traffic producer sends
    rate: float
    #: seconds between an event and its label (the "delayed feedback" of a real system)
    feedback_delay_s: float
    #: DDM's warm start: joined examples before it tests (also after each drift)
    ddm_warm_start: int
    #: joined challenger predictions the bridge needs before it may promote
    promotion_min_joined: int
    #: the bridge's promotion window (joined predictions per role compared)
    promotion_window: int
    #: events of the first concept the initial model is trained on (drawn with another seed)
    initial_training_events: int = 2_000
    mode: str = "full"

    @classmethod
    def preset(cls, mode: str, seed: int = 7, events: int | None = None) -> "Scenario":
        """The ``full`` or ``short`` scenario; ``events`` rescales its change points."""
        if mode == "full":
            length, rate, warm, min_joined = 6_000, 40.0, 1_000, 200
            abrupt, gradual, feature = 2_000, (3_500, 4_500), 5_000
        elif mode == "short":
            length, rate, warm, min_joined = 3_600, 50.0, 500, 100
            abrupt, gradual, feature = 800, (2_400, 2_800), 3_200
        else:
            raise ValueError(f"mode must be full or short (got {mode!r})")
        scale = 1.0
        if events is not None:
            if events < 1_000:
                raise ValueError(f"--events must be at least 1000 for the drifts to be detectable (got {events})")
            scale = events / length
            length = events
        stream = DriftingStream(length=length, abrupt_at=int(abrupt * scale), gradual_start=int(gradual[0] * scale),
                                gradual_end=int(gradual[1] * scale), feature_drift_at=int(feature * scale), seed=seed)
        return cls(stream=stream, rate=rate, feedback_delay_s=1.5, ddm_warm_start=min(warm, max(100, stream.abrupt_at // 2)),
                   promotion_min_joined=min_joined, promotion_window=500, mode=mode)

    @property
    def seed(self) -> int:
        return self.stream.seed

    @property
    def events(self) -> int:
        return self.stream.length

    @property
    def streaming_seconds(self) -> float:
        """How long the features take to send at :attr:`rate`, plus the last labels' delay."""
        return self.events / self.rate + self.feedback_delay_s

    def change_points(self) -> dict[str, Any]:
        """Where the stream changes, by event index (what the report draws and the test checks)."""
        stream = self.stream
        return {"abrupt": stream.abrupt_at, "gradual_start": stream.gradual_start, "gradual_end": stream.gradual_end,
                "feature_drift": stream.feature_drift_at, "drifting_feature": DRIFTING_FEATURE}

    def concept_phase(self, index: int) -> str:
        """A human name of the phase event ``index`` is in (for the live view)."""
        stream = self.stream
        if index < stream.abrupt_at:
            return "C1"
        if index < stream.gradual_start:
            return "C2 (after the abrupt change)"
        if index < stream.gradual_end:
            return "C2→C3 (gradual change)"
        if index < stream.feature_drift_at:
            return "C3"
        return f"C3, {DRIFTING_FEATURE} shifted"

    def training_stream(self) -> DriftingStream:
        """First-concept events for the initial model, from a different seed than the served stream."""
        n = self.initial_training_events
        return DriftingStream(length=n, abrupt_at=n, gradual_start=n, gradual_end=n, feature_drift_at=n,
                              seed=self.seed + 1_000)

    @staticmethod
    def event_id(run_id: str, index: int) -> str:
        """Event ids carry the stream index, so every consumer can place an event on the time axis."""
        return f"{run_id}-{index:06d}"

    @staticmethod
    def index_of(event_id: str) -> int | None:
        """The stream index in an id made by :meth:`event_id` (None for any other id)."""
        _, _, tail = event_id.rpartition("-")
        return int(tail) if tail.isdigit() else None


def sklearn_requirements() -> list[str]:
    """The pip requirements of a scikit-learn model logged to MLflow, given so MLflow need not infer
    them (inference starts a subprocess that takes minutes on a busy machine)."""
    from importlib.metadata import PackageNotFoundError, version

    requirements = []
    for package in ("scikit-learn", "skops"):
        try:
            requirements.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            pass
    return requirements
