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
L(f(j))``, because head ``j`` depends only on layers ``1..j``. So the *fused* implementation takes
one backward pass of the α-weighted sum of all heads' losses; the *per-head* implementation (kept for
the benchmark and as a check) back-propagates each head on its own and accumulates, as public
implementations do. Both give the same update (tested).

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

import torch
import torch.nn.functional as F

from helicon.runtime.learn.features import FeatureEncoder

Task = Literal["classification", "regression"]
Implementation = Literal["fused", "per_head"]

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
        head_layers: 1-based hidden layers that carry an output head (default: every layer).
        implementation: ``"fused"`` (one backward pass for all heads) or ``"per_head"``.
        scale_inputs: standardise inputs with running mean and variance.
        seed: seed of the weight initialisation.
        torch_threads: sets torch's intra-op threads for the process (``None`` leaves them). One
            thread is fastest for batch-size-1 steps, and far faster on a busy machine, where
            torch's thread pool spins against other processes (25× measured on 2 loaded cores).
    """

    def __init__(self, task: Task = "classification", layers: int = 20, units: int = 100, beta: float = 0.99,
                 smoothing: float = 0.2, learning_rate: float = 0.01, hedge: bool = True,
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
        if torch_threads is not None:
            torch.set_num_threads(torch_threads)
        heads = sorted(set(head_layers)) if head_layers is not None else list(range(1, layers + 1))
        if not heads or heads[0] < 1 or heads[-1] > layers:
            raise ValueError(f"head_layers must be within 1..{layers} (got {list(head_layers or [])})")
        self.task: Task = task
        self.layers, self.units = layers, units
        self.beta, self.smoothing, self.learning_rate = beta, smoothing, learning_rate
        self.hedge, self.head_layers, self.implementation = hedge, heads, implementation
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
        #: (version, rows, inputs, hidden states) of the last prediction, reused by the next learn
        self._cache: tuple[int, list[Any], torch.Tensor, list[torch.Tensor]] | None = None
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
        raw = self.encoder.raw(rows)
        self._ensure_built(raw.shape[1])
        target = self._encode_targets(targets)
        cached = self._cache
        if cached is not None and cached[0] == self._version and cached[1] == rows:
            inputs, hidden = cached[2], cached[3]
        else:
            inputs = self.encoder.transform(raw)
            hidden = self._hidden(inputs)
        self._cache = None
        if self.implementation == "fused":
            per_head, head_outputs = self._fused_step(inputs, hidden, target)
        else:
            per_head, head_outputs = self._per_head_step(inputs, target)
        # The input statistics learn after the network, so that the example is learnt exactly as
        # it was predicted (and a prediction's forward pass can be reused).
        self.encoder.update_many(raw)
        self._version += 1
        self._after_step(per_head, head_outputs, target)
        self.n_seen += len(rows)

    def predict_proba_many(self, rows: Iterable[Mapping[str, Any]] | Any) -> list[dict[Any, float]]:
        """Class probabilities for each row (classification only)."""
        if self.task != "classification":
            raise TypeError("predict_proba_* is for classification; this model does regression")
        rows = _as_rows(rows)
        if self.head_weights is None or not self.classes:
            return [{} for _ in rows]
        with torch.no_grad():
            probabilities = self._mixture(self._predict_forward(rows))
        return [dict(zip(self.classes, row)) for row in probabilities.tolist()]

    def predict_many(self, rows: Iterable[Mapping[str, Any]] | Any) -> list[Any]:
        """Predictions for each row; ``None`` (classification) or ``0.0`` before anything was learnt."""
        rows = _as_rows(rows)
        if self.head_weights is None:
            return [None if self.task == "classification" else 0.0 for _ in rows]
        with torch.no_grad():
            head_outputs = self._predict_forward(rows)
            if self.task == "classification":
                if not self.classes:
                    return [None for _ in rows]
                return [self.classes[index] for index in self._mixture(head_outputs).argmax(dim=1).tolist()]
            estimate = self.alpha_tensor @ head_outputs[:, :, 0]
            return (estimate * self._target_std() + self._target_mean).tolist()

    # -- state: checkpoints and merging ------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """The constructor arguments, so that ``HedgeBackprop(**model.config())`` is a fresh twin."""
        return {"task": self.task, "layers": self.layers, "units": self.units, "beta": self.beta,
                "smoothing": self.smoothing, "learning_rate": self.learning_rate, "hedge": self.hedge,
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
        return model

    # -- internals ---------------------------------------------------------------------------------

    def _parameters(self) -> list[torch.Tensor]:
        assert self.head_weights is not None and self.head_biases is not None
        return [*self.weights, *self.biases, self.head_weights, self.head_biases]

    def _ensure_built(self, width: int) -> None:
        if self.weights:
            return
        generator = torch.Generator().manual_seed(self.seed)
        fan_in = width
        for _ in range(self.layers):
            bound = 1.0 / math.sqrt(fan_in)  # torch.nn.Linear's default initialisation
            self.weights.append((torch.rand(fan_in, self.units, generator=generator) * 2 - 1) * bound)
            self.biases.append((torch.rand(self.units, generator=generator) * 2 - 1) * bound)
            fan_in = self.units
        outputs = 1 if self.task == "regression" else 0
        bound = 1.0 / math.sqrt(self.units)
        self.head_weights = (torch.rand(len(self.head_layers), self.units, outputs, generator=generator) * 2 - 1) * bound
        self.head_biases = (torch.rand(len(self.head_layers), outputs, generator=generator) * 2 - 1) * bound

    def _encode_targets(self, targets: list[Any]) -> torch.Tensor:
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
            return (torch.tensor(values) - self._target_mean) / self._target_std()
        indices = []
        for target in targets:
            if target is None or isinstance(target, (dict, list)):
                raise ValueError(f"label: classification needs a class (str, int or bool), got {target!r}")
            if target not in self.classes:
                self._add_class(target)
            indices.append(self.classes.index(target))
        return torch.tensor(indices, dtype=torch.long)

    def _add_class(self, label: Any) -> None:
        assert self.head_weights is not None and self.head_biases is not None
        # A new class starts with zero logits in every head: it takes no probability from the
        # classes already learnt until its first gradient step.
        heads = len(self.head_layers)
        self.head_weights = torch.cat([self.head_weights, torch.zeros(heads, self.units, 1)], dim=2)
        self.head_biases = torch.cat([self.head_biases, torch.zeros(heads, 1)], dim=1)
        self.classes.append(label)

    def _target_std(self) -> float:
        if self._target_count < 2:
            return 1.0
        variance = self._target_m2 / self._target_count
        return math.sqrt(variance) if variance > 0 else 1.0

    def _predict_forward(self, rows: list[Mapping[str, Any]]) -> torch.Tensor:
        inputs = self.encoder.encode(rows)
        hidden = self._hidden(inputs)
        self._cache = (self._version, [dict(row) for row in rows], inputs, hidden)
        return self._heads(hidden)

    def _fused_step(self, inputs: torch.Tensor, hidden: list[torch.Tensor],
                    target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One backward pass for all heads, written out and applied in place (see the module doc).

        The gradient of ``Σ_j α(j) loss(j)`` reaches ``W(l)`` only from heads ``j ≥ l``: walking down
        from the top, each layer's error is the error from above plus its own head's, α-weighted.
        """
        assert self.head_weights is not None and self.head_biases is not None
        with torch.no_grad():
            head_outputs = self._heads(hidden)                       # [heads, batch, outputs]
            per_head = self._head_losses(head_outputs, target)       # [heads, batch]
            batch = inputs.shape[0]
            if self.task == "classification":
                d_outputs = F.softmax(head_outputs, dim=2)
                d_outputs[:, torch.arange(batch), target] -= 1.0
            else:
                d_outputs = head_outputs - target.view(1, -1, 1)
            d_outputs *= (self.alpha_tensor / batch).view(-1, 1, 1)
            d_hidden_from_heads = torch.bmm(d_outputs, self.head_weights.transpose(1, 2))  # [heads, batch, units]
            stacked = torch.stack([hidden[layer - 1] for layer in self.head_layers])
            self.head_weights.baddbmm_(stacked.transpose(1, 2), d_outputs, alpha=-self.learning_rate)
            self.head_biases.add_(d_outputs.sum(dim=1), alpha=-self.learning_rate)
            head_of_layer = {layer: index for index, layer in enumerate(self.head_layers)}
            d_hidden: torch.Tensor | None = None
            for layer in range(self.layers, 0, -1):
                if layer in head_of_layer:
                    own = d_hidden_from_heads[head_of_layer[layer]]
                    d_hidden = own if d_hidden is None else d_hidden + own
                if d_hidden is None:
                    continue                                          # no head at or above this layer
                d_pre = torch.ops.aten.threshold_backward(d_hidden, hidden[layer - 1], 0)
                below = hidden[layer - 2] if layer > 1 else inputs
                weight = self.weights[layer - 1]
                d_hidden = torch.mm(d_pre, weight.t()) if layer > 1 else None
                weight.addmm_(below.t(), d_pre, alpha=-self.learning_rate)
                self.biases[layer - 1].add_(d_pre.sum(dim=0), alpha=-self.learning_rate)
        return per_head, head_outputs

    def _per_head_step(self, inputs: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The straightforward way: autograd, one backward pass per head, gradients accumulated."""
        params = self._parameters()
        for parameter in params:
            parameter.requires_grad_(True)
        try:
            hidden = self._hidden(inputs)
            per_head_rows, output_rows = [], []
            for index, layer in enumerate(self.head_layers):
                output = torch.addmm(self.head_biases[index], hidden[layer - 1], self.head_weights[index])
                loss = self._head_losses(output.unsqueeze(0), target)[0]
                (self.alpha_tensor[index] * loss.mean()).backward(retain_graph=True)
                per_head_rows.append(loss.detach())
                output_rows.append(output.detach())
            with torch.no_grad():
                grads = [parameter.grad if parameter.grad is not None else torch.zeros_like(parameter)
                         for parameter in params]
                torch._foreach_add_(params, grads, alpha=-self.learning_rate)
        finally:
            for parameter in params:
                parameter.requires_grad_(False)
                parameter.grad = None
        return torch.stack(per_head_rows), torch.stack(output_rows)

    def _hidden(self, inputs: torch.Tensor) -> list[torch.Tensor]:
        hidden, state = [], inputs
        for weight, bias in zip(self.weights, self.biases):
            state = torch.relu(torch.addmm(bias, state, weight))
            hidden.append(state)
        return hidden

    def _heads(self, hidden: list[torch.Tensor]) -> torch.Tensor:
        """Every head's output, ``[heads, batch, outputs]`` (logits or standardised estimates)."""
        assert self.head_weights is not None and self.head_biases is not None
        stacked = torch.stack([hidden[layer - 1] for layer in self.head_layers])
        return torch.baddbmm(self.head_biases.unsqueeze(1), stacked, self.head_weights)

    def _head_losses(self, head_outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Each head's training loss per example, ``[heads, batch]``: cross-entropy or ½·error²."""
        if self.task == "regression":
            return 0.5 * (head_outputs[:, :, 0] - target) ** 2
        log_probabilities = F.log_softmax(head_outputs, dim=2)
        index = target.view(1, -1, 1).expand(head_outputs.shape[0], -1, 1)
        return -log_probabilities.gather(2, index).squeeze(2)

    def _mixture(self, head_outputs: torch.Tensor) -> torch.Tensor:
        return torch.einsum("h,hbc->bc", self.alpha_tensor, F.softmax(head_outputs, dim=2))

    def _after_step(self, per_head: torch.Tensor, head_outputs: torch.Tensor, target: torch.Tensor) -> None:
        if self.task == "classification":
            bounded = -torch.expm1(-per_head)          # 1 − p(y), in [0, 1)
        else:
            squared = 2 * per_head
            bounded = squared / (1 + squared)           # e² / (1 + e²), in [0, 1)
        if self.hedge:
            alpha = self.alpha_tensor * torch.pow(self.beta, bounded.sum(dim=1))
            floor = self.smoothing / len(self.head_layers)
            alpha = torch.clamp(alpha, min=floor)
            self.alpha_tensor = alpha / alpha.sum()
        if self.task == "classification":
            errors = (head_outputs.argmax(dim=2) != target).float().mean(dim=1)
        else:
            errors = (2 * per_head).sqrt().mean(dim=1) * self._target_std()
        self.head_error_tensor = self.head_error_tensor + _ROLLING * (errors - self.head_error_tensor)


def _as_rows(rows: Iterable[Mapping[str, Any]] | Any) -> list[Mapping[str, Any]]:
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):  # a pandas DataFrame
        return rows.to_dict(orient="records")
    return list(rows)
