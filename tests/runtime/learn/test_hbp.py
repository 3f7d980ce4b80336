"""Hedge Backpropagation: learns, keeps α a distribution, moves α deeper, matches the per-head rule."""

from __future__ import annotations

import random
from collections import Counter

import pytest
import torch

from helicon.runtime.learn.hbp import HedgeBackprop
from helicon.runtime.learn.prequential import evaluate
from helicon.runtime.learn.spec import SpecError, build_model, parse_spec
from helicon.runtime.learn.synthetic import deep_network_stream


def parity_stream(n: int, bits: int = 3, seed: int = 0):
    """The label is the parity of the inputs' signs: a target a deeper head represents more cheaply."""
    rng = random.Random(seed)
    for _ in range(n):
        row = {f"x{index}": rng.gauss(0, 1) for index in range(bits)}
        yield row, sum(value > 0 for value in row.values()) % 2


def test_hbp_beats_the_majority_class_on_a_learnable_stream() -> None:
    rows = list(deep_network_stream(3_000, features=10, depth=1, width=16, seed=4))
    majority = Counter(label for _, label in rows).most_common(1)[0][1] / len(rows)
    result = evaluate(build_model("hbp:layers=20,units=100"), rows)
    assert result["n"] == 3_000
    assert result["accuracy"] > majority + 0.15, (result, majority)


def test_alpha_stays_a_distribution_and_moves_to_deeper_heads_on_a_deep_target() -> None:
    model = HedgeBackprop(layers=4, units=16, learning_rate=0.1, seed=0)
    floor = model.smoothing / 4
    trace: list[list[float]] = []

    def record(index: int, learner: HedgeBackprop) -> None:
        alpha = learner.alpha
        assert sum(alpha) == pytest.approx(1.0, abs=1e-5)
        assert min(alpha) >= floor * (1 - 1e-5) / (1 + floor * 4)  # floored at s/L, then renormalised
        if index % 500 == 499:
            trace.append(alpha)

    evaluate(model, parity_stream(6_000), on_step=record)
    shallowest = [alpha[0] for alpha in trace]
    final = trace[-1]
    assert max(range(4), key=final.__getitem__) >= 1, trace        # a deeper head leads at the end
    assert max(shallowest) > 0.27 and final[0] < 0.1, trace          # the shallow head led early, then lost
    assert sum(final[1:]) > 0.75 - 0.01, trace                       # the mass moved past head 1


def test_fused_update_equals_back_propagating_each_head_separately() -> None:
    for task in ("classification", "regression"):
        fused = HedgeBackprop(task=task, layers=5, units=7, seed=3)
        per_head = HedgeBackprop(task=task, layers=5, units=7, seed=3, implementation="per_head")
        rng = random.Random(1)
        for step in range(60):
            row = {"u": rng.gauss(0, 1), "v": rng.gauss(0, 1)}
            label = rng.choice("abc") if task == "classification" else rng.gauss(0, 3)
            if step % 2:
                fused.predict_one(row)    # exercises the reuse of the prediction's forward pass
            fused.learn_one(row, label)
            per_head.learn_one(row, label)
        left, right = fused.state_dict(), per_head.state_dict()
        for name in ("weights", "biases"):
            for a, b in zip(left[name], right[name]):
                torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(left["head_weights"], right["head_weights"], rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(left["alpha"], right["alpha"], rtol=1e-5, atol=1e-7)


def test_each_head_updates_only_the_layers_beneath_it() -> None:
    model = HedgeBackprop(layers=4, units=6, head_layers=[2], hedge=False, seed=0)
    model.learn_one({"a": 1.0, "b": -1.0}, "x")
    model.learn_one({"a": -1.0, "b": 1.0}, "y")
    before = model.state_dict()
    model.learn_one({"a": 0.5, "b": 0.5}, "x")
    after = model.state_dict()
    assert not torch.equal(before["weights"][0], after["weights"][0])
    assert not torch.equal(before["weights"][1], after["weights"][1])
    assert torch.equal(before["weights"][2], after["weights"][2])   # above the only head: untouched
    assert torch.equal(before["weights"][3], after["weights"][3])


def test_predict_proba_and_mini_batches() -> None:
    model = HedgeBackprop(layers=3, units=16, seed=0)
    assert model.predict_one({"x": 1.0}) is None and model.predict_proba_one({"x": 1.0}) == {}
    rows = [{"x": float(i % 3)} for i in range(300)]
    labels = [("low", "mid", "high")[i % 3] for i in range(300)]
    for start in range(0, 300, 30):
        model.learn_many(rows[start:start + 30], labels[start:start + 30])
    probabilities = model.predict_proba_one({"x": 2.0})
    assert set(probabilities) == {"low", "mid", "high"}
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert len(model.predict_many(rows[:5])) == 5


def test_bad_input_names_the_field() -> None:
    model = HedgeBackprop(layers=2, units=4)
    model.learn_one({"x": 1.0}, 1)
    with pytest.raises(ValueError, match="features.x"):
        model.learn_one({"x": "high"}, 1)
    with pytest.raises(ValueError, match="label"):
        HedgeBackprop(task="regression", layers=2, units=4).learn_one({"x": 1.0}, "a")


def test_specs() -> None:
    assert parse_spec("hbp").options == {}
    mlp = build_model("mlp:layers=3,units=10")
    assert mlp.head_layers == [3] and mlp.hedge is False and mlp.alpha == [1.0]
    assert build_model("hbp:layers=2,units=5,task=regression").task == "regression"
    for bad in ("svm", "mlp:units=3", "hbp:layers", "river:nothing.Here", "hbp:layers=0"):
        with pytest.raises(SpecError):
            build_model(bad)
