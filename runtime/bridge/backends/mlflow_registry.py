"""An MLflow pyfunc model from the registry, and the watcher that follows its alias."""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
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


@dataclass(frozen=True)
class AliasDeleted:
    """What :meth:`RegistryWatcher.take` hands over when the watched alias no longer exists."""

    name: str
    alias: str
    version: str


class RegistryWatcher:
    """Polls a ``models:/NAME@ALIAS`` alias; when it moves, loads the new version in the background.

    The scoring loop calls :meth:`take` between batches: a loaded replacement (or, once the alias is
    deleted, an :class:`AliasDeleted`) is handed over once, so a whole batch is always scored by one
    version and the swap loses or repeats nothing. ``current`` is the model being served, or the
    URI of an alias that does not exist yet: the first version it points at is then handed over.
    """

    def __init__(self, current: RegistryModel | str, poll_s: float) -> None:
        uri = current if isinstance(current, str) else current.uri
        name, alias, _ = parse_registry_uri(uri)
        if alias is None:
            raise ValueError(f"{uri} names a fixed version; only an alias can be watched")
        self._current_version: str | None = None if isinstance(current, str) else current.ref.version
        self._name, self._alias = name, alias
        self._uri = uri
        self._poll_s = poll_s
        self._ready: RegistryModel | AliasDeleted | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"alias-watch-{self._name}-{alias}", daemon=True)

    @property
    def alias(self) -> str:
        return self._alias

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def poke(self) -> None:
        """Check the alias now rather than at the next poll."""
        self._wake.set()

    def assume(self, version: str | None) -> None:
        """The loop now serves ``version`` (``None``: nothing) for this alias; drop a pending other change."""
        with self._lock:
            self._current_version = version
            ready = self._ready
            if isinstance(ready, RegistryModel) and ready.ref.version == version:
                self._ready = None
            elif isinstance(ready, AliasDeleted) and version is None:
                self._ready = None

    def take(self) -> RegistryModel | AliasDeleted | None:
        """The replacement model or the alias's deletion if one is pending (once), else ``None``."""
        with self._lock:
            ready, self._ready = self._ready, None
        return ready

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._poll_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self._check()
            except Exception as error:  # noqa: BLE001 - a registry hiccup must not stop the watcher
                logger.warning("alias check failed; keeping the current version",
                               extra={"model": self._name, "alias": self._alias, "error": repr(error)})

    def _check(self) -> None:
        version = alias_version(self._name, self._alias)
        with self._lock:
            current = self._current_version
        if version == current:
            return
        if version is None:
            logger.info("alias deleted", extra={"model": self._name, "alias": self._alias, "from_version": current})
            change: RegistryModel | AliasDeleted = AliasDeleted(self._name, self._alias, current or "")
        else:
            logger.info("alias moved", extra={"model": self._name, "alias": self._alias,
                                               "from_version": current, "to_version": version})
            change = RegistryModel(self._uri, version=version)
        with self._lock:
            if self._current_version != current:  # the loop took over (assume) while we loaded
                return
            self._ready = change
            self._current_version = version


def alias_version(name: str, alias: str) -> str | None:
    """The version ``alias`` of model ``name`` points at, or ``None`` if the alias (or model) does not exist."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        model = MlflowClient().get_registered_model(name)
    except MlflowException as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    version = (model.aliases or {}).get(alias)
    return None if version is None else str(version)


def promote_alias(name: str, champion_alias: str, challenger_alias: str, version: str) -> bool:
    """Point ``champion_alias`` at ``version`` and delete ``challenger_alias``; ``False`` if already done or moot.

    Idempotent across replicas: the aliases are read again just before they are moved, and nothing
    moves if the champion already is ``version`` or the challenger no longer is.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    aliases = {key: str(value) for key, value in (client.get_registered_model(name).aliases or {}).items()}
    if aliases.get(champion_alias) == version or aliases.get(challenger_alias) != version:
        return False
    client.set_registered_model_alias(name, champion_alias, version)
    try:
        client.delete_registered_model_alias(name, challenger_alias)
    except MlflowException as error:  # another replica deleted it first
        if error.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise
    return True
