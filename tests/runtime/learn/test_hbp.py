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
    final = trace[-1]
    assert max(range(4), key=final.__getitem__) >= 1, trace        # a deeper head leads at the end
    assert final[0] < 0.1 and trace[0][0] > final[0] + 0.1, trace    # the shallowest head lost its share
    assert sum(final[1:]) > 0.9, trace                               # the mass moved past head 1 (from 0.75)


def _assert_same_model(fast: HedgeBackprop, reference: HedgeBackprop, probe: list[dict[str, float]],
                       slack: float = 1.0) -> None:
    """Equal to float32 rounding; ``slack`` widens the tolerance after many steps (rounding compounds)."""
    left, right = fast.state_dict(), reference.state_dict()
    for name in ("weights", "biases"):
        for a, b in zip(left[name], right[name]):
            torch.testing.assert_close(a, b, rtol=1e-4 * slack, atol=1e-6 * slack)
    for name in ("head_weights", "head_biases"):
        torch.testing.assert_close(left[name], right[name], rtol=1e-4 * slack, atol=1e-6 * slack)
    torch.testing.assert_close(left["alpha"], right["alpha"], rtol=1e-5 * slack, atol=1e-7 * slack)
    torch.testing.assert_close(left["head_errors"], right["head_errors"], rtol=1e-5 * slack, atol=1e-6 * slack)
    if fast.task == "classification":
        for p, q in zip(fast.predict_proba_many(probe), reference.predict_proba_many(probe)):
            assert p.keys() == q.keys()
            assert [p[key] for key in p] == pytest.approx([q[key] for key in p], abs=1e-6 * slack)
    else:
        assert fast.predict_many(probe) == pytest.approx(reference.predict_many(probe), rel=1e-5 * slack,
                                                         abs=1e-6 * slack)


def test_min_max_hedge_keeps_alpha_a_floored_distribution() -> None:
    model = HedgeBackprop(layers=4, units=16, learning_rate=0.1, hedge_loss="minmax", seed=0)
    for index, (row, label) in enumerate(parity_stream(1_500)):
        model.predict_one(row)
        model.learn_one(row, label)
        assert sum(model.alpha) == pytest.approx(1.0, abs=1e-5)
        assert min(model.alpha) >= 0.05 / 1.2 - 1e-6
    assert model.alpha[0] < 0.1                        # the shallow head, worst on parity, sinks to the floor


@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.parametrize("head_layers", [None, [2, 4, 5]])
def test_fused_step_equals_the_per_head_autograd_reference(task: str, head_layers: list[int] | None) -> None:
    """One step, then many (single rows, a prediction reused or not, and mini-batches), on random data."""
    options = dict(task=task, layers=5, units=7, seed=3, head_layers=head_layers, learning_rate=0.05)
    fast = HedgeBackprop(**options)
    reference = HedgeBackprop(**options, implementation="per_head")
    rng = random.Random(1)

    def example() -> tuple[dict[str, float], object]:
        row = {"u": rng.gauss(0, 1), "v": rng.gauss(0, 1), "w": rng.uniform(-3, 3)}
        return row, (rng.choice("abc") if task == "classification" else rng.gauss(5, 3))

    probe = [example()[0] for _ in range(8)]
    first = [example() for _ in range(2)]
    for model in (fast, reference):              # build both, then compare one learning step
        model.learn_one(*first[0])
    _assert_same_model(fast, reference, probe)
    fast.predict_one(first[1][0])
    fast.learn_one(*first[1])
    reference.learn_one(*first[1])
    _assert_same_model(fast, reference, probe)
    for step in range(60):
        row, label = example()
        if step % 2:
            fast.predict_one(row)                  # the learning step reuses the prediction's forward pass
        fast.learn_one(row, label)
        reference.learn_one(row, label)
    batch = [example() for _ in range(16)]
    for model in (fast, reference):
        model.learn_many([row for row, _ in batch], [label for _, label in batch])
    _assert_same_model(fast, reference, probe, slack=20)
    assert fast.alpha != pytest.approx([1 / len(fast.alpha)] * len(fast.alpha))   # α did move


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
    variant = build_model("hbp:layers=2,units=5,hedge_loss=minmax,init=torch")
    assert (variant.hedge_loss, variant.init) == ("minmax", "torch")
    for bad in ("svm", "mlp:units=3", "hbp:layers", "river:nothing.Here", "hbp:layers=0", "hbp:hedge_loss=ce",
                "hbp:init=xavier"):
        with pytest.raises(SpecError):
            build_model(bad)
