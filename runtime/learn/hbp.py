"""Hedge Backpropagation (HBP): an online deep network whose effective depth adapts to the stream.

After D. Sahoo, Q. Pham, J. Lu and S. C. H. Hoi, "Online Deep Learning: Learning Deep Neural
Networks on the Fly", IJCAI 2018 (arXiv 1711.03705), §3.3 and Algorithm 1:

- ``L`` hidden layers ``h(l) = ReLU(W(l) h(l-1))`` (default 20 × 100) and an output head
  ``f(l) = softmax(Θ(l) h(l))`` on every hidden layer (as in the authors' code, no head on the raw
  input);
- prediction ``F(x) = Σ_l α(l) f(l)(x)`` with the current α, *before* learning from ``(x, y)``;
- hedge step ``α(l) ← α(l) · β^loss(l)``, ``β = 0.99``, the per-head loss kept inside (0, 1);
  then ``α(l) ← max(α(l), s/L)`` with ``s = 0.2`` and renormalise;
- gradient step with ``η = 0.01``: ``Θ(l) ← Θ(l) − η α(l) ∇Θ(l) L(f(l))`` and
  ``W(l) ← W(l) − η Σ_{j ≥ l} α(j) ∇W(l) L(f(j))``: each head's loss back-propagates only into the
  layers beneath it, weighted by its α.

The gradient of ``Σ_j α(j) L(f(j))`` with respect to ``W(l)`` is exactly ``Σ_{j ≥ l} α(j) ∇W(l)
L(f(j))``, because head ``j`` depends only on layers ``1..j``. So the *fused* implementation
(:mod:`.hbp_fast`) takes one backward pass, written out by hand on numpy views of the torch
parameters, with no autograd; the *per-head* implementation (:mod:`.hbp_reference`, kept for the
benchmark and as the reference) back-propagates each head on its own with autograd and accumulates,
as public implementations do. Both give the same parameters, α and predictions (tested).

The loss the hedge sees must be in (0, 1) (the paper's condition for the regret bound): for
classification it is ``1 − p(y)``, the head's probability of being wrong; for regression
``e² / (1 + e²)`` of the head's error ``e`` on the standardised target.

>>> model = HedgeBackprop(layers=3, units=8, seed=1)
>>> for i in range(200):
...     model.learn_one({"x": float(i % 2)}, "odd" if i % 2 else "even")
>>> model.predict_one({"x": 1.0})
'odd'
>>> round(sum(model.alpha), 6)
1.0
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Literal, Mapping, Sequence

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from helicon.runtime.learn.features import FeatureEncoder
from helicon.runtime.learn.hbp_fast import Forward, Parameters, fused_step, heads, hidden_states
from helicon.runtime.learn.hbp_reference import per_head_step

Task = Literal["classification", "regression"]
Implementation = Literal["fused", "per_head"]
HedgeLoss = Literal["probability", "minmax"]
Init = Literal["he", "torch"]

#: exponential smoothing of each head's rolling error: about the last 100 examples
_ROLLING = 0.01


class HedgeBackprop:
    """An online deep network trained with Hedge Backpropagation, with river's verbs.

    Parameters (the paper's values are the defaults, §4.1 of Sahoo et al. 2018):
        task: ``"classification"`` (softmax heads, classes discovered online) or ``"regression"``.
        layers: number of hidden layers ``L`` (paper: 20).
        units: width of each hidden layer (paper: 100).
        beta: hedge discount ``β`` in (0, 1) (paper: 0.99).
        smoothing: ``s``; every α is floored at ``s / (number of heads)`` (paper: 0.2).
        learning_rate: SGD step ``η`` (paper: 0.01).
        hedge: ``False`` freezes α: with ``head_layers=[layers]`` that is plain online backprop.
        hedge_loss: the per-head loss the hedge step sees, in [0, 1]: ``"probability"`` (``1 − p(y)``;
            regression ``e²/(1+e²)``) or ``"minmax"`` (each example's training losses min-max
            normalised across the heads: the best head 0, the worst 1, as the authors' code does).
        init: ``"he"`` (weights uniform with variance 2/fan-in, zero biases: the signal keeps its
            scale through 20 ReLU layers) or ``"torch"`` (``torch.nn.Linear``'s default, variance
            1/(3·fan-in), under which it shrinks ~6× per layer).
        head_layers: 1-based hidden layers that carry an output head (default: every layer).
        implementation: ``"fused"`` (one backward pass for all heads) or ``"per_head"``.
        scale_inputs: standardise inputs with running mean and variance.
        seed: seed of the weight initialisation.
        torch_threads: sets torch's intra-op threads and the BLAS threads of numpy and scipy for
            the process (``None`` leaves them). One thread is fastest for batch-size-1 steps, and
            far faster on a busy machine, where thread pools spin against other processes (25×
            measured for torch, ~100× for OpenBLAS, on 2 loaded cores).
    """

    def __init__(self, task: Task = "classification", layers: int = 20, units: int = 100, beta: float = 0.99,
                 smoothing: float = 0.2, learning_rate: float = 0.01, hedge: bool = True,
                 hedge_loss: HedgeLoss = "probability", init: Init = "he",
                 head_layers: Sequence[int] | None = None, implementation: Implementation = "fused",
                 scale_inputs: bool = True, seed: int = 0, torch_threads: int | None = 1) -> None:
        if task not in ("classification", "regression"):
            raise ValueError(f"task must be 'classification' or 'regression' (got {task!r})")
        if layers < 1:
            raise ValueError(f"layers must be ≥ 1 (got {layers})")
        if units < 1:
            raise ValueError(f"units must be ≥ 1 (got {units})")
        if not 0 < beta < 1:
            raise ValueError(f"beta must be in (0, 1) (got {beta})")
        if not 0 <= smoothing < 1:
            raise ValueError(f"smoothing must be in [0, 1) (got {smoothing})")
        if learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0 (got {learning_rate})")
        if implementation not in ("fused", "per_head"):
            raise ValueError(f"implementation must be 'fused' or 'per_head' (got {implementation!r})")
        if hedge_loss not in ("probability", "minmax"):
            raise ValueError(f"hedge_loss must be 'probability' or 'minmax' (got {hedge_loss!r})")
        if init not in ("he", "torch"):
            raise ValueError(f"init must be 'he' or 'torch' (got {init!r})")
        if torch_threads is not None:
            torch.set_num_threads(torch_threads)
            # numpy's and scipy's OpenBLAS too: threads spinning on 100-element vectors cost ~100×.
            threadpool_limits(torch_threads, user_api="blas")
        heads = sorted(set(head_layers)) if head_layers is not None else list(range(1, layers + 1))
        if not heads or heads[0] < 1 or heads[-1] > layers:
            raise ValueError(f"head_layers must be within 1..{layers} (got {list(head_layers or [])})")
        self.task: Task = task
        self.layers, self.units = layers, units
        self.beta, self.smoothing, self.learning_rate = beta, smoothing, learning_rate
        self.hedge, self.head_layers, self.implementation = hedge, heads, implementation
        self.hedge_loss, self.init = hedge_loss, init
        self.seed, self.torch_threads = seed, torch_threads
        self.encoder = FeatureEncoder(scale=scale_inputs)
        self.classes: list[Any] = []
        self.n_seen = 0
        self.alpha_tensor = torch.full((len(heads),), 1.0 / len(heads))
        self.head_error_tensor = torch.zeros(len(heads))
        self._target_count, self._target_mean, self._target_m2 = 0, 0.0, 0.0
        self.weights: list[torch.Tensor] = []
        self.biases: list[torch.Tensor] = []
        self.head_weights: torch.Tensor | None = None  # [heads, units, outputs]
        self.head_biases: torch.Tensor | None = None   # [heads, outputs]
        self._head_of_layer: list[int | None] = [None] * layers    # 0-based layer → its head, if any
        for index, layer in enumerate(heads):
            self._head_of_layer[layer - 1] = index
        contiguous = heads == list(range(heads[0], heads[-1] + 1))
        self._head_slice = slice(heads[0] - 1, heads[-1]) if contiguous else None
        self._head_index = np.array([layer - 1 for layer in heads])
        self._arrays: Parameters | None = None          # numpy views of the parameters (hbp_fast)
        self._buffer: np.ndarray | None = None           # hidden states, [layers, batch, units]
        #: the last prediction's forward pass, reused by a learning step on the same rows
        self._cache: Forward | None = None
        self._version = 0

    # -- what users call ---------------------------------------------------------------------------

    @property
    def alpha(self) -> list[float]:
        """The hedge weights, one per head, shallowest first; a probability distribution."""
        return self.alpha_tensor.tolist()

    @property
    def head_errors(self) -> list[float]:
        """Each head's rolling error (0/1 error for classification, |error| for regression)."""
        return self.head_error_tensor.tolist()

    def learn_one(self, x: Mapping[str, Any], y: Any) -> None:
        """Update weights and α from one labelled example (call the predict methods first)."""
        self.learn_many([x], [y])

    def predict_proba_one(self, x: Mapping[str, Any]) -> dict[Any, float]:
        """Class probabilities ``Σ_l α(l) f(l)(x)``; empty before the first label."""
        return self.predict_proba_many([x])[0]

    def predict_one(self, x: Mapping[str, Any]) -> Any:
        """The most probable class (classification) or the α-weighted estimate (regression)."""
        return self.predict_many([x])[0]

    def learn_many(self, rows: Iterable[Mapping[str, Any]] | Any, targets: Iterable[Any]) -> None:
        """Learn from a mini-batch; ``rows`` is a list of dicts or a pandas DataFrame.

        The hedge step uses the batch's summed loss per head (``α ← α · β^Σloss``), which equals
        the paper's per-example rule up to when the floor is applied.
        """
        rows, targets = _as_rows(rows), list(targets)
        if len(rows) != len(targets):
            raise ValueError(f"learn_many: {len(rows)} rows but {len(targets)} targets")
        if not rows:
            return
        cached, self._cache = self._cache, None
        if cached is None or cached.version != self._version or cached.rows != rows:
            cached = None
        raw = cached.raw if cached is not None else self.encoder.raw(rows)
        self._ensure_built(raw.shape[1])
        target = self._encode_targets(targets)
        if self.implementation == "fused":
            if cached is None:
                cached = self._forward(rows, raw)
            elif cached.classes != len(self.classes):   # a new class since the prediction
                self._heads(cached)
            assert self._arrays is not None
            bounded, wrong = fused_step(self._arrays, cached, target, self.alpha_tensor.numpy(),
                                        self.learning_rate, self._head_of_layer, self._target_std())
        else:
            inputs = torch.from_numpy(cached.inputs if cached is not None else self.encoder.transform(raw))
            losses, errors = per_head_step(self, inputs, torch.from_numpy(target))
            bounded, wrong = losses.numpy(), errors.numpy()
        # The input statistics learn after the network, so that the example is learnt exactly as
        # it was predicted (and a prediction's forward pass can be reused).
        self.encoder.update_many(raw)
        self._version += 1
        self._after_step(bounded, wrong)
        self.n_seen += len(rows)

    def predict_proba_many(self, rows: Iterable[Mapping[str, Any]] | Any) -> list[dict[Any, float]]:
        """Class probabilities for each row (classification only)."""
        if self.task != "classification":
            raise TypeError("predict_proba_* is for classification; this model does regression")
        rows = _as_rows(rows)
        if self.head_weights is None or not self.classes:
            return [{} for _ in rows]
        probabilities = self._mixture(self._predict_forward(rows))
        return [dict(zip(self.classes, row)) for row in probabilities.tolist()]

    def predict_many(self, rows: Iterable[Mapping[str, Any]] | Any) -> list[Any]:
        """Predictions for each row; ``None`` (classification) or ``0.0`` before anything was learnt."""
        rows = _as_rows(rows)
        if self.head_weights is None:
            return [None if self.task == "classification" else 0.0 for _ in rows]
        if self.task == "classification" and not self.classes:
            return [None for _ in rows]
        forward = self._predict_forward(rows)
        if self.task == "classification":
            return [self.classes[index] for index in self._mixture(forward).argmax(axis=1).tolist()]
        assert forward.outputs is not None
        estimate = self.alpha_tensor.numpy() @ forward.outputs[:, :, 0]
        return (estimate * self._target_std() + self._target_mean).tolist()

    # -- state: checkpoints and merging ------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """The constructor arguments, so that ``HedgeBackprop(**model.config())`` is a fresh twin."""
        return {"task": self.task, "layers": self.layers, "units": self.units, "beta": self.beta,
                "smoothing": self.smoothing, "learning_rate": self.learning_rate, "hedge": self.hedge,
                "hedge_loss": self.hedge_loss, "init": self.init,
                "head_layers": list(self.head_layers), "implementation": self.implementation,
                "scale_inputs": self.encoder.scale, "seed": self.seed, "torch_threads": self.torch_threads}

    def state_dict(self) -> dict[str, Any]:
        """Everything learnt: weights, α, rolling errors, classes, input and target statistics.

        The optimiser is plain SGD, whose only state is ``learning_rate`` (in :meth:`config`).
        """
        return {
            "config": self.config(), "n_seen": self.n_seen, "classes": list(self.classes),
            "alpha": self.alpha_tensor.clone(), "head_errors": self.head_error_tensor.clone(),
            "encoder": self.encoder.state(),
            "target": [self._target_count, self._target_mean, self._target_m2],
            "weights": [w.clone() for w in self.weights], "biases": [b.clone() for b in self.biases],
            "head_weights": None if self.head_weights is None else self.head_weights.clone(),
            "head_biases": None if self.head_biases is None else self.head_biases.clone(),
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> "HedgeBackprop":
        """A model that predicts exactly as the one whose :meth:`state_dict` this is."""
        model = cls(**state["config"])
        model.n_seen, model.classes = state["n_seen"], list(state["classes"])
        model.alpha_tensor, model.head_error_tensor = state["alpha"].clone(), state["head_errors"].clone()
        model.encoder = FeatureEncoder.from_state(state["encoder"])
        model._target_count, model._target_mean, model._target_m2 = state["target"]
        model.weights = [w.clone() for w in state["weights"]]
        model.biases = [b.clone() for b in state["biases"]]
        model.head_weights = None if state["head_weights"] is None else state["head_weights"].clone()
        model.head_biases = None if state["head_biases"] is None else state["head_biases"].clone()
        model._bind()
        return model

    # -- internals ---------------------------------------------------------------------------------

    def _ensure_built(self, width: int) -> None:
        if self.weights:
            return
        generator = torch.Generator().manual_seed(self.seed)
        fan_in = width
        he = self.init == "he"
        for _ in range(self.layers):
            # He: U(±√(6/fan-in)), variance 2/fan-in; torch.nn.Linear: U(±1/√fan-in) for weights and biases
            bound = math.sqrt(6.0 / fan_in) if he else 1.0 / math.sqrt(fan_in)
            self.weights.append((torch.rand(fan_in, self.units, generator=generator) * 2 - 1) * bound)
            bias = torch.rand(self.units, generator=generator)
            self.biases.append(torch.zeros(self.units) if he else (bias * 2 - 1) * bound)
            fan_in = self.units
        outputs = 1 if self.task == "regression" else 0
        bound = 1.0 / math.sqrt(self.units)
        heads = len(self.head_layers)
        self.head_weights = (torch.rand(heads, self.units, outputs, generator=generator) * 2 - 1) * bound
        head_biases = (torch.rand(heads, outputs, generator=generator) * 2 - 1) * bound
        self.head_biases = torch.zeros(heads, outputs) if he else head_biases
        self._bind()

    def _encode_targets(self, targets: list[Any]) -> np.ndarray:
        if self.task == "regression":
            values = []
            for target in targets:
                if isinstance(target, bool) or not isinstance(target, (int, float)) or not math.isfinite(target):
                    raise ValueError(f"label: regression needs a finite number, got {target!r}")
                values.append(float(target))
                self._target_count += 1
                delta = values[-1] - self._target_mean
                self._target_mean += delta / self._target_count
                self._target_m2 += delta * (values[-1] - self._target_mean)
            return (np.array(values, dtype=np.float32) - self._target_mean) / self._target_std()
        indices = []
        for target in targets:
            if target is None or isinstance(target, (dict, list)):
                raise ValueError(f"label: classification needs a class (str, int or bool), got {target!r}")
            if target not in self.classes:
                self._add_class(target)
            indices.append(self.classes.index(target))
        return np.array(indices, dtype=np.int64)

    def _add_class(self, label: Any) -> None:
        assert self.head_weights is not None and self.head_biases is not None
        # A new class starts with zero logits in every head: it takes no probability from the
        # classes already learnt until its first gradient step.
        heads = len(self.head_layers)
        self.head_weights = torch.cat([self.head_weights, torch.zeros(heads, self.units, 1)], dim=2)
        self.head_biases = torch.cat([self.head_biases, torch.zeros(heads, 1)], dim=1)
        self.classes.append(label)
        self._bind()

    def _target_std(self) -> float:
        if self._target_count < 2:
            return 1.0
        variance = self._target_m2 / self._target_count
        return math.sqrt(variance) if variance > 0 else 1.0

    def _predict_forward(self, rows: list[Mapping[str, Any]]) -> Forward:
        forward = self._forward(rows, self.encoder.raw(rows))
        self._cache = forward
        return forward

    def _bind(self) -> None:
        """numpy views of the parameters for the fused step (rebound when a parameter is replaced)."""
        assert self.head_weights is not None and self.head_biases is not None
        self._arrays = Parameters.of(self.weights, self.biases, self.head_weights, self.head_biases)

    def _forward(self, rows: list[Mapping[str, Any]], raw: np.ndarray) -> Forward:
        """Hidden states into the preallocated buffer, then every head (no autograd)."""
        assert self._arrays is not None
        inputs = self.encoder.transform(raw)
        batch = inputs.shape[0]
        if self._buffer is None or self._buffer.shape[1] != batch:
            self._buffer = np.empty((self.layers, batch, self.units), dtype=np.float32)
        hidden_states(self._arrays, inputs, self._buffer)
        stacked = (self._buffer[self._head_slice] if self._head_slice is not None
                   else self._buffer[self._head_index])
        forward = Forward(self._version, [dict(row) for row in rows], raw, inputs, self._buffer, stacked)
        self._heads(forward)
        return forward

    def _heads(self, forward: Forward) -> None:
        assert self._arrays is not None
        heads(self._arrays, forward, self.task == "classification")
        forward.classes = len(self.classes)

    def _mixture(self, forward: Forward) -> np.ndarray:
        """``Σ_l α(l) softmax(f(l))``, ``[batch, classes]``."""
        assert forward.probabilities is not None
        heads_count, batch, classes = forward.probabilities.shape
        mixed = self.alpha_tensor.numpy() @ forward.probabilities.reshape(heads_count, batch * classes)
        return mixed.reshape(batch, classes)

    def _after_step(self, bounded: np.ndarray, wrong: np.ndarray) -> None:
        """The hedge step on the losses in (0, 1), and the heads' rolling errors."""
        if self.hedge:
            if self.hedge_loss == "minmax":
                bounded = _min_max(bounded, self.task)
            alpha = self.alpha_tensor.numpy() * np.power(np.float32(self.beta), bounded.sum(axis=1))
            np.maximum(alpha, np.float32(self.smoothing / len(self.head_layers)), out=alpha)
            alpha /= alpha.sum()
            self.alpha_tensor = torch.from_numpy(alpha)
        errors = self.head_error_tensor.numpy()
        self.head_error_tensor = torch.from_numpy(errors + np.float32(_ROLLING) * (wrong.mean(axis=1) - errors))


def _min_max(bounded: np.ndarray, task: Task) -> np.ndarray:
    """Each example's training losses (cross-entropy, or squared error) min-max scaled across heads."""
    kept = np.minimum(bounded, np.float32(1 - 1e-7))
    losses = -np.log1p(-kept) if task == "classification" else kept / (1 - kept)
    low, high = losses.min(axis=0), losses.max(axis=0)
    return (losses - low) / np.maximum(high - low, np.float32(1e-12))


def _as_rows(rows: Iterable[Mapping[str, Any]] | Any) -> list[Mapping[str, Any]]:
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):  # a pandas DataFrame
        return rows.to_dict(orient="records")
    return list(rows)
