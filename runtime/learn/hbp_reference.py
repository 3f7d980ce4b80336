"""The straightforward Hedge Backpropagation step: autograd, one backward pass per head.

This is how public implementations do it, and it is kept as the reference that the fused step of
:mod:`helicon.runtime.learn.hbp` is tested against (``implementation="per_head"``), and as the
benchmark's baseline. It follows the paper's rules literally: for each head ``l``, the loss
``α(l) · L(f(l))`` is back-propagated through the layers beneath it, and the gradients of all heads
are accumulated before one SGD step ``θ ← θ − η · grad``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from helicon.runtime.learn.hbp import HedgeBackprop


def per_head_step(model: "HedgeBackprop", inputs: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One SGD step of ``model`` on a batch; returns each head's hedge loss in (0, 1) and its error.

    Both are ``[heads, batch]``: the loss is ``1 − p(y)`` (``e²/(1+e²)`` for regression), the error
    0/1 (``|error|`` in target units for regression).
    """
    assert model.head_weights is not None and model.head_biases is not None
    params = [*model.weights, *model.biases, model.head_weights, model.head_biases]
    for parameter in params:
        parameter.requires_grad_(True)
    try:
        hidden, state = [], inputs
        for weight, bias in zip(model.weights, model.biases):
            state = torch.relu(torch.addmm(bias, state, weight))
            hidden.append(state)
        losses, outputs = [], []
        for index, layer in enumerate(model.head_layers):
            output = torch.addmm(model.head_biases[index], hidden[layer - 1], model.head_weights[index])
            if model.task == "classification":
                loss = F.cross_entropy(output, target, reduction="none")
            else:
                loss = 0.5 * (output[:, 0] - target) ** 2
            (model.alpha_tensor[index] * loss.mean()).backward(retain_graph=True)
            losses.append(loss.detach())
            outputs.append(output.detach())
        with torch.no_grad():
            grads = [parameter.grad if parameter.grad is not None else torch.zeros_like(parameter)
                     for parameter in params]
            torch._foreach_add_(params, grads, alpha=-model.learning_rate)
    finally:
        for parameter in params:
            parameter.requires_grad_(False)
            parameter.grad = None
    loss, output = torch.stack(losses), torch.stack(outputs)
    if model.task == "classification":
        return -torch.expm1(-loss), (output.argmax(dim=2) != target).float()   # 1 − p(y) = 1 − e^(−CE)
    squared = 2 * loss
    return squared / (1 + squared), squared.sqrt() * model._target_std()
