"""Deciding a canary promotion: join feedback to the bridge's own predictions, compare the roles' errors.

Pure logic, no Kafka and no registry (the service does the I/O). Each prediction is recorded with
the role and version that answered and the *epoch* it was made in; an epoch starts whenever the
champion or the challenger changes, so both roles are always measured over the same period (since
the current challenger appeared). Errors follow the drift monitor's convention (docs/drift.md):
classification ``prediction != label``, regression ``|prediction - label| > error_threshold``.

>>> from helicon.runtime.bridge.settings import PromotionSettings
>>> judge = PromotionJudge(PromotionSettings(feedback_topic="p.feedback", min_joined=2, window=4))
>>> judge.reset(champion="1", challenger="2")
>>> for index, (role, version, prediction) in enumerate([("champion", "1", 0), ("challenger", "2", 1)] * 2):
...     judge.predicted(f"e{index}", role, version, prediction, ts_ms=index)
>>> for index in range(4):
...     judge.labelled(f"e{index}", 1, ts_ms=10 + index)
>>> judge.decide()
Decision(version='2', challenger_error=0.0, champion_error=1.0, challenger_joined=2, champion_joined=2)
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

from helicon.runtime.bridge.settings import PromotionSettings
from helicon.runtime.join import FeedbackJoin, outcome

CHAMPION, CHALLENGER = "champion", "challenger"


def is_error(settings: PromotionSettings, prediction: Any, label: Any) -> bool:
    """The error indicator of one joined example (the drift monitor's rule, :mod:`helicon.runtime.join.outcome`)."""
    return outcome.is_error(settings.task, settings.error_threshold, prediction, label)


class ErrorWindow:
    """The error rate over the last ``size`` joined examples, and how many were joined in all.

    >>> window = ErrorWindow(3)
    >>> for error in (True, False, False, False):
    ...     window.add(error)
    >>> window.rate, window.joined
    (0.0, 4)
    """

    def __init__(self, size: int) -> None:
        self._errors: deque[bool] = deque(maxlen=size)
        self._count = 0
        self.joined = 0

    def add(self, error: bool) -> None:
        if len(self._errors) == self._errors.maxlen and self._errors[0]:
            self._count -= 1
        self._errors.append(error)
        self._count += error
        self.joined += 1

    @property
    def rate(self) -> float:
        """Errors / examples in the window; NaN while empty."""
        return self._count / len(self._errors) if self._errors else math.nan


@dataclass(frozen=True)
class Decision:
    """Promote challenger ``version``: the figures that justified it."""

    version: str
    challenger_error: float
    champion_error: float
    challenger_joined: int
    champion_joined: int


@dataclass(frozen=True)
class _Answer:
    role: str
    version: str
    epoch: int
    prediction: Any


class PromotionJudge:
    """Joins labels to predictions and says when the challenger beats the champion.

    The service calls :meth:`reset` whenever the champion's or the challenger's version changes
    (``challenger=None``: no canary), :meth:`predicted` for each prediction it produced,
    :meth:`labelled` for each label, and :meth:`decide` after a batch of labels.
    """

    def __init__(self, settings: PromotionSettings, join: FeedbackJoin[_Answer] | None = None) -> None:
        self.settings = settings
        self.join: FeedbackJoin[_Answer] = join or FeedbackJoin(ttl_ms=3_600_000, max_entries=100_000)
        self.epoch = 0
        self.challenger: str | None = None
        self.champion: str | None = None
        self.windows = {CHAMPION: ErrorWindow(settings.window), CHALLENGER: ErrorWindow(settings.window)}
        #: joined examples not counted: made in an earlier epoch, or not scorable (regression non-numbers)
        self.stale = 0
        self.unscorable = 0
        self._decided = False

    def reset(self, champion: str | None, challenger: str | None) -> None:
        """Start a new measuring period for this champion/challenger pair (a no-op if neither changed)."""
        if (champion, challenger) == (self.champion, self.challenger):
            return
        self.champion, self.challenger = champion, challenger
        self.epoch += 1
        self.windows = {CHAMPION: ErrorWindow(self.settings.window), CHALLENGER: ErrorWindow(self.settings.window)}
        self._decided = False

    def predicted(self, event_id: str, role: str, version: str, prediction: Any, ts_ms: int) -> None:
        """Record a prediction the bridge produced (a replayed duplicate is ignored by the join)."""
        joined = self.join.add_prediction(event_id, _Answer(role, version, self.epoch, prediction), ts_ms)
        if joined is not None:
            self._count(joined.prediction, joined.label)

    def labelled(self, event_id: str, label: Any, ts_ms: int) -> None:
        """Record a true label from the feedback topic."""
        joined = self.join.add_feedback(event_id, label, ts_ms)
        if joined is not None:
            self._count(joined.prediction, label)

    def _count(self, answer: _Answer, label: Any) -> None:
        if answer.epoch != self.epoch or self.challenger is None or answer.role not in self.windows:
            self.stale += 1
            return
        try:
            error = is_error(self.settings, answer.prediction, label)
        except ValueError:
            self.unscorable += 1
            return
        self.windows[answer.role].add(error)

    def decide(self) -> Decision | None:
        """A :class:`Decision` the first time in this period that the challenger is measurably better."""
        if self._decided or self.challenger is None:
            return None
        challenger, champion = self.windows[CHALLENGER], self.windows[CHAMPION]
        if min(challenger.joined, champion.joined) < self.settings.min_joined:
            return None
        if not challenger.rate < champion.rate - self.settings.margin:
            return None
        self._decided = True
        return Decision(self.challenger, challenger.rate, champion.rate, challenger.joined, champion.joined)

    def retry(self) -> None:
        """Allow :meth:`decide` to answer again (the promotion it gave could not be carried out)."""
        self._decided = False
