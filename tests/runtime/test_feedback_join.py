"""The feedback join: either order, duplicates, late labels, bounded state, checkpoints."""

from __future__ import annotations

import doctest
import json
import random

import pytest

from helicon.runtime.join import FeedbackJoin, feedback_join


def test_docstring_examples_run() -> None:
    failures, tried = doctest.testmod(feedback_join)
    assert tried > 0 and failures == 0


def test_every_pair_joins_once_whatever_the_order() -> None:
    rng = random.Random(3)
    join: FeedbackJoin[int] = FeedbackJoin(ttl_ms=10_000, max_entries=10_000)
    arrivals = [("p", f"e{i}", i) for i in range(500)] + [("f", f"e{i}", i % 2) for i in range(500)]
    rng.shuffle(arrivals)
    joined = []
    for ts, (side, event_id, value) in enumerate(arrivals):
        add = join.add_prediction if side == "p" else join.add_feedback
        pair = add(event_id, value, ts_ms=ts)
        if pair is not None:
            joined.append(pair)
    assert sorted(pair.event_id for pair in joined) == sorted(f"e{i}" for i in range(500))
    assert all(pair.prediction == int(pair.event_id[1:]) and pair.label == int(pair.event_id[1:]) % 2 for pair in joined)
    assert join.pending_predictions == join.pending_feedback == 0
    assert join.stats.joined == 500


def test_duplicates_are_idempotent_on_both_sides() -> None:
    join: FeedbackJoin[str] = FeedbackJoin(ttl_ms=1_000)
    assert join.add_prediction("a", "p1", 0) is None
    assert join.add_prediction("a", "p2", 1) is None          # duplicate while waiting
    assert join.add_feedback("a", 1, 2) is not None
    assert join.add_feedback("a", 1, 3) is None               # duplicate after joining
    assert join.add_prediction("a", "p3", 4) is None          # replayed prediction after joining
    assert (join.stats.joined, join.stats.duplicate_predictions, join.stats.duplicate_feedback) == (1, 2, 1)


def test_ttl_counts_never_labelled_and_late_feedback() -> None:
    join: FeedbackJoin[str] = FeedbackJoin(ttl_ms=100)
    join.add_prediction("old", "p", 0)
    join.add_feedback("orphan", 1, 10)
    expired = join.expire(now_ms=500)
    assert expired == [("old", "p")]
    assert join.add_feedback("old", 1, 510) is None
    assert (join.stats.never_labelled, join.stats.orphan_feedback, join.stats.late_feedback) == (1, 1, 1)
    assert join.pending_predictions == join.pending_feedback == 0


def test_state_is_bounded_by_max_entries() -> None:
    join: FeedbackJoin[int] = FeedbackJoin(ttl_ms=10**9, max_entries=50)
    for index in range(200):
        join.add_prediction(f"e{index}", index, index)
    assert join.pending_predictions == 50
    assert join.stats.evicted == 150 and join.stats.never_labelled == 150
    assert join.add_feedback("e140", 1, 201) is None and join.stats.late_feedback == 1
    assert join.add_feedback("e199", 1, 202).prediction == 199


def test_snapshot_round_trips_through_json() -> None:
    join: FeedbackJoin[dict] = FeedbackJoin(ttl_ms=1_000, max_entries=10)
    join.add_prediction("a", {"p": 1}, 0)
    join.add_feedback("b", 0, 1)
    join.add_prediction("c", {"p": 0}, 2)
    join.add_feedback("c", 1, 3)
    restored = FeedbackJoin.restore(json.loads(json.dumps(join.snapshot())))
    assert restored.snapshot() == join.snapshot()
    assert restored.add_feedback("a", 1, 4).prediction == {"p": 1}
    assert restored.add_prediction("b", {"p": 1}, 5).label == 0
    assert restored.add_feedback("c", 1, 6) is None and restored.stats.duplicate_feedback == 1


@pytest.mark.parametrize("field,value", [("ttl_ms", 0), ("max_entries", -1)])
def test_bad_bounds_name_the_field(field: str, value: int) -> None:
    with pytest.raises(ValueError, match=f"FeedbackJoin.{field} must be > 0"):
        FeedbackJoin(**{field: value})
