"""Online learning: river models and Hedge Backpropagation networks that predict, then learn.

``helicon.runtime.learn.spec`` names models by strings (``hbp``, ``mlp:layers=4,units=100``,
``river:linear_model.LogisticRegression``); ``prequential`` evaluates them test-then-train;
``checkpoint`` saves and restores their state; ``service`` runs ``helicon run learn``; ``merge``
averages replicas.
"""

from helicon.runtime.learn.spec import ModelSpec, SpecError, build_model, parse_spec

__all__ = ["ModelSpec", "SpecError", "build_model", "parse_spec"]
