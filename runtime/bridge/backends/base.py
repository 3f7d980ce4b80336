"""What every model backend offers the bridge: who it is, what it expects, and batch prediction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from helicon.runtime.contracts import ModelRef

NUMERIC = "numeric"
INTEGER = "integer"
BOOLEAN = "boolean"
STRING = "string"


@dataclass(frozen=True)
class FeatureSpec:
    """The model's input columns, in order, with the kind of value each takes.

    ``kinds`` maps a feature name to ``numeric`` (int or float), ``integer``, ``boolean`` or
    ``string``; the codec checks events against it.
    """

    names: tuple[str, ...]
    kinds: Mapping[str, str]


class ModelBackend(Protocol):
    """A model the bridge can score with."""

    ref: ModelRef
    features: FeatureSpec | None

    def predict(self, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """One prediction per row of features, in order; raises on any failure."""
        ...

    def close(self) -> None:
        """Release connections; the backend is not used afterwards."""
        ...
