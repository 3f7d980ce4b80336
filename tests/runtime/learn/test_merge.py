"""Scale-out merge: replicas average their HBP states through a compacted topic on the real broker."""

from __future__ import annotations

import uuid

import pytest
import torch

from helicon.runtime.learn.merge import StateExchange, average_states
from helicon.runtime.learn.prequential import PrequentialMetrics
from helicon.runtime.learn.spec import build_model
from helicon.runtime.learn.synthetic import deep_network_stream


def accuracy(model, rows) -> float:
    scores = PrequentialMetrics("classification")
    for features, label in rows:
        scores.update(label, model.predict_one(features))
    return scores.values()["accuracy"]


def test_average_aligns_classes_and_keeps_alpha_a_distribution() -> None:
    left, right = build_model("hbp:layers=2,units=4"), build_model("hbp:layers=2,units=4")
    left.learn_one({"x": 1.0}, "a")
    left.learn_one({"x": 2.0}, "b")
    right.learn_one({"x": 3.0}, "c")
    right.learn_one({"x": 4.0}, "a")
    merged = average_states([left.state_dict(), right.state_dict()], [1, 3])
    assert merged["classes"] == ["a", "b", "c"]
    assert merged["head_weights"].shape[-1] == 3
    # class "a" is column 0 on the left and column 1 on the right: averaged by label, 1:3
    expected = 0.25 * left.head_weights[..., 0] + 0.75 * right.head_weights[..., 1]
    torch.testing.assert_close(merged["head_weights"][..., 0], expected)
    assert float(merged["alpha"].sum()) == pytest.approx(1.0)
    assert merged["encoder"]["count"] == 4
    torch.testing.assert_close(merged["encoder"]["mean"], torch.tensor([2.5]))
    with pytest.raises(ValueError, match="architecture"):
        average_states([left.state_dict(), build_model("hbp:layers=3,units=4").state_dict()], [1, 1])


@pytest.mark.platform
def test_replicas_on_different_partitions_converge_through_a_compacted_topic(platform_env: dict[str, str]) -> None:
    rows = list(deep_network_stream(3_000, features=8, depth=1, width=8, seed=7))
    train, holdout = rows[:2_400], rows[2_400:]
    topic = f"learn-state-{uuid.uuid4().hex[:8]}"
    bootstrap = platform_env["KAFKA_BOOTSTRAP_SERVERS"]
    replicas = [build_model("hbp:layers=3,units=32"), build_model("hbp:layers=3,units=32")]
    exchanges = [StateExchange(bootstrap, topic, replica_id=f"replica-{index}") for index in range(2)]
    exchanges[0].ensure_topic()
    for round_start in range(0, 1_200, 400):
        for index, model in enumerate(replicas):
            # each replica sees only its own half of the stream, as with two partitions
            for features, label in train[index * 1_200 + round_start:index * 1_200 + round_start + 400]:
                model.learn_one(features, label)
        for exchange, model in zip(exchanges, replicas):
            exchange.publish(model, model.n_seen)
        replicas = [exchange.average_latest(model, model.n_seen) for exchange, model in zip(exchanges, replicas)]
        probe = [features for features, _ in holdout[:50]]
        assert replicas[0].predict_proba_many(probe) == replicas[1].predict_proba_many(probe)

    merged_accuracy = accuracy(replicas[0], holdout)
    alone = build_model("hbp:layers=3,units=32")
    for features, label in train[:1_200]:
        alone.learn_one(features, label)
    assert merged_accuracy > 0.75, merged_accuracy
    assert merged_accuracy >= accuracy(alone, holdout) - 0.03
    assert sorted(exchanges[0].latest()) == ["replica-0", "replica-1"]
