"""The fused Hedge Backpropagation step, written out without autograd (see :mod:`.hbp`).

At batch size 1 an HBP step is a few hundred operations on 100-element vectors and 100 × 100
matrices, so the cost is the per-call overhead, not the arithmetic. This module therefore works on
numpy views that share memory with the model's torch parameters (the model, its checkpoints and
merging see only torch tensors): a numpy call costs about a third of a torch call, and the weight
update of a layer is one BLAS rank-1 update (``sger``) in place. Buffers for the hidden states are
preallocated per batch size.

One pass up computes every hidden state and head; one pass down computes each head's output
gradient (α-weighted), adds it to the gradient arriving from above at its own layer, and updates
each layer right after the gradient for the layer beneath has been taken from its old weights —
which is exactly ``W(l) ← W(l) − η Σ_{j ≥ l} α(j) ∇W(l) L(f(j))``. Tested equal to the autograd,
per-head reference (:mod:`.hbp_reference`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.linalg.blas import saxpy, sger


@dataclass
class Parameters:
    """numpy views of the model's torch parameters (same memory: updates are seen by both)."""

    weights: list[np.ndarray]          # [inputs, units] per layer
    weights_t: list[np.ndarray]        # the same, transposed (Fortran-ordered, for BLAS in place)
    biases: list[np.ndarray]
    head_weights: np.ndarray           # [heads, units, outputs]
    head_biases: np.ndarray            # [heads, outputs]

    @classmethod
    def of(cls, weights: list[torch.Tensor], biases: list[torch.Tensor], head_weights: torch.Tensor,
           head_biases: torch.Tensor) -> "Parameters":
        arrays = [weight.numpy() for weight in weights]
        return cls(arrays, [array.T for array in arrays], [bias.numpy() for bias in biases],
                   head_weights.numpy(), head_biases.numpy())


@dataclass
class Forward:
    """One forward pass: a prediction's, reused by the learning step on the same rows."""

    version: int
    rows: list[dict[str, Any]]
    raw: np.ndarray                    # unscaled inputs (the encoder learns from them after the step)
    inputs: np.ndarray                 # [batch, inputs], standardised
    hidden: np.ndarray                 # [layers, batch, units], a view of the model's buffer
    stacked: np.ndarray                # the hidden states that carry a head, [heads, batch, units]
    outputs: np.ndarray | None = None  # [heads, batch, outputs]: logits or standardised estimates
    probabilities: np.ndarray | None = None
    classes: int = 0


def hidden_states(parameters: Parameters, inputs: np.ndarray, hidden: np.ndarray) -> None:
    """``h(l) = ReLU(h(l−1) W(l) + b(l))`` for every layer, written into ``hidden``."""
    state = inputs
    for weight, bias, view in zip(parameters.weights, parameters.biases, hidden):
        np.matmul(state, weight, out=view)
        view += bias
        np.maximum(view, 0, out=view)
        state = view


def heads(parameters: Parameters, forward: Forward, classification: bool) -> None:
    """Every head's output, and its softmax for classification."""
    outputs = np.matmul(forward.stacked, parameters.head_weights)
    outputs += parameters.head_biases[:, None, :]
    forward.outputs = outputs
    if classification:
        exponentials = np.exp(outputs - outputs.max(axis=2, keepdims=True))
        exponentials /= exponentials.sum(axis=2, keepdims=True)
        forward.probabilities = exponentials


def fused_step(parameters: Parameters, forward: Forward, target: np.ndarray, alpha: np.ndarray,
               learning_rate: float, head_of_layer: list[int | None], target_std: float,
               ) -> tuple[np.ndarray, np.ndarray]:
    """One SGD step on the α-weighted heads' losses, in place; returns each head's hedge loss in
    (0, 1) and its error (0/1, or |error| in target units), ``[heads, batch]``."""
    outputs = forward.outputs
    assert outputs is not None
    batch = outputs.shape[1]
    rows = np.arange(batch)
    if forward.probabilities is not None:                      # classification: softmax + cross-entropy
        probabilities = forward.probabilities
        bounded = 1 - probabilities[:, rows, target]           # 1 − p(y)
        wrong = (outputs.argmax(axis=2) != target).astype(np.float32)
        d_outputs = probabilities.copy()
        d_outputs[:, rows, target] -= 1                        # ∂ cross-entropy / ∂ logits
    else:                                                      # regression: ½ error²
        error = outputs[:, :, 0] - target
        squared = error * error
        bounded = squared / (1 + squared)                      # e² / (1 + e²)
        wrong = np.abs(error) * np.float32(target_std)
        d_outputs = error[:, :, None]
    d_outputs = d_outputs * (alpha if batch == 1 else alpha / batch)[:, None, None]
    d_hidden = np.matmul(d_outputs, parameters.head_weights.transpose(0, 2, 1))   # [heads, batch, units]
    parameters.head_weights -= learning_rate * np.matmul(forward.stacked.transpose(0, 2, 1), d_outputs)
    parameters.head_biases -= learning_rate * d_outputs.sum(axis=1)
    hidden, inputs = forward.hidden, forward.inputs
    error_above: np.ndarray | None = None
    for layer in range(len(parameters.weights) - 1, -1, -1):
        if error_above is None:
            if head_of_layer[layer] is None:
                continue                                       # no head at or above this layer
            error_above = d_hidden[head_of_layer[layer]]
        d_pre = error_above * (hidden[layer] > 0)              # through the ReLU
        below = hidden[layer - 1] if layer > 0 else inputs
        if layer > 0:                                          # the gradient beneath, from the old W(l)
            error_above = np.matmul(d_pre, parameters.weights_t[layer])
            own = head_of_layer[layer - 1]
            if own is not None:
                error_above += d_hidden[own]
        if batch == 1:                                         # BLAS in place: W += −η·below ⊗ d, b += −η·d
            gradient = d_pre[0]
            sger(-learning_rate, gradient, below[0], a=parameters.weights_t[layer], overwrite_a=True)
            saxpy(gradient, parameters.biases[layer], a=-learning_rate)
        else:
            parameters.weights[layer] -= learning_rate * np.matmul(below.T, d_pre)
            parameters.biases[layer] -= learning_rate * d_pre.sum(axis=0)
    return bounded, wrong
