"""An MLflow pyfunc model from the registry, and the watcher that follows its alias."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from helicon.runtime.bridge.backends.base import BOOLEAN, INTEGER, NUMERIC, STRING, FeatureSpec
from helicon.runtime.contracts import ModelRef

logger = logging.getLogger(__name__)

_REGISTRY_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>[^/]+))$")
_KINDS = {"double": NUMERIC, "float": NUMERIC, "long": INTEGER, "integer": INTEGER,
          "boolean": BOOLEAN, "string": STRING}


def parse_registry_uri(uri: str) -> tuple[str, str | None, str | None]:
    """``(name, alias, version)`` of ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``."""
    match = _REGISTRY_URI.match(uri)
    if match is None:
        raise ValueError(f"model URI {uri!r} is not models:/NAME@ALIAS or models:/NAME/VERSION")
    return match["name"], match["alias"], match["version"]


def resolve_version(name: str, alias: str) -> str:
    """The version an alias points at now."""
    from mlflow import MlflowClient

    return str(MlflowClient().get_model_version_by_alias(name, alias).version)


class RegistryModel:
    """An MLflow model named by ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``.

    The alias is resolved to a version once, at load, so that every prediction names the exact
    version that produced it; :class:`RegistryWatcher` follows the alias afterwards.
    """

    def __init__(self, uri: str, version: str | None = None) -> None:
        import mlflow.pyfunc

        name, alias, pinned = parse_registry_uri(uri)
        self.uri = uri
        self.alias = alias
        resolved = version or pinned or resolve_version(name, alias or "")
        self.ref = ModelRef(name=name, version=str(resolved))
        self._model = mlflow.pyfunc.load_model(f"models:/{name}/{resolved}")
        self.features = _feature_spec(self._model.metadata.get_input_schema())

    def predict(self, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """One prediction per row of features, in order."""
        import pandas as pd

        columns = list(self.features.names) if self.features is not None else None
        frame = pd.DataFrame.from_records(list(rows), columns=columns)
        predictions = self._model.predict(frame)
        return list(predictions.tolist() if hasattr(predictions, "tolist") else predictions)

    def close(self) -> None:
        """Nothing to release: the model lives in this process."""


def _feature_spec(schema: Any) -> FeatureSpec | None:  # noqa: ANN401 - mlflow.types.Schema
    if schema is None or not schema.has_input_names():
        return None
    names = tuple(schema.input_names())
    kinds = {}
    for name, data_type in zip(names, schema.input_types()):
        kinds[name] = _KINDS.get(getattr(data_type, "name", str(data_type)), NUMERIC)
    return FeatureSpec(names=names, kinds=kinds)


class RegistryWatcher:
    """Polls a ``models:/NAME@ALIAS`` alias; when it moves, loads the new version in the background.

    The scoring loop calls :meth:`take` between batches: a loaded replacement is handed over
    once, so a whole batch is always scored by one version and the swap loses or repeats nothing.
    """

    def __init__(self, current: RegistryModel, poll_s: float) -> None:
        if current.alias is None:
            raise ValueError(f"{current.uri} names a fixed version; only an alias can be watched")
        self._current_version = current.ref.version
        self._name, self._alias = current.ref.name, current.alias
        self._uri = current.uri
        self._poll_s = poll_s
        self._ready: RegistryModel | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"alias-watch-{self._name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def take(self) -> RegistryModel | None:
        """The replacement model if one is ready (once), else ``None``."""
        with self._lock:
            ready, self._ready = self._ready, None
        return ready

    def _run(self) -> None:
        while not self._stop.wait(self._poll_s):
            try:
                version = resolve_version(self._name, self._alias)
                if version == self._current_version:
                    continue
                logger.info("alias moved", extra={"model": self._name, "alias": self._alias,
                                                   "from_version": self._current_version, "to_version": version})
                replacement = RegistryModel(self._uri, version=version)
            except Exception as error:  # noqa: BLE001 - a registry hiccup must not stop the watcher
                logger.warning("alias check failed; keeping the current version",
                               extra={"model": self._name, "alias": self._alias, "error": repr(error)})
                continue
            with self._lock:
                self._ready = replacement
            self._current_version = version
