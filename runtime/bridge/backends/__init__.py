"""Model backends behind one interface: an MLflow registry model, or a remote OIP v2 endpoint."""

from __future__ import annotations

from helicon.runtime.bridge.backends.base import FeatureSpec, ModelBackend
from helicon.runtime.bridge.backends.mlflow_registry import AliasDeleted, RegistryModel, RegistryWatcher
from helicon.runtime.bridge.backends.oip import OipModel


def open_backend(uri: str, oip_timeout_s: float = 10.0) -> ModelBackend:
    """The backend a model URI names: ``models:/…`` → :class:`RegistryModel`, ``oip+http(s)://…`` → :class:`OipModel`."""
    if uri.startswith("oip+"):
        return OipModel(uri, timeout_s=oip_timeout_s)
    return RegistryModel(uri)


__all__ = ["AliasDeleted", "FeatureSpec", "ModelBackend", "OipModel", "RegistryModel", "RegistryWatcher", "open_backend"]
