"""Models the bridge scores with: an MLflow pyfunc model loaded from the registry."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from helicon.runtime.contracts import ModelRef

_REGISTRY_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>[^/]+))$")


class RegistryModel:
    """An MLflow model named by ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``.

    The alias is resolved to a version once, at load, so that every prediction names the exact
    version that produced it.
    """

    def __init__(self, uri: str) -> None:
        import mlflow.pyfunc
        from mlflow import MlflowClient

        match = _REGISTRY_URI.match(uri)
        if match is None:
            raise ValueError(f"model URI {uri!r} is not models:/NAME@ALIAS or models:/NAME/VERSION")
        name = match["name"]
        client = MlflowClient()
        version = client.get_model_version_by_alias(name, match["alias"]).version if match["alias"] else match["version"]
        self.ref = ModelRef(name=name, version=str(version))
        self._model = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
        schema = self._model.metadata.get_input_schema()
        self.feature_names: list[str] | None = schema.input_names() if schema is not None else None

    def predict(self, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """One prediction per row of features, in order."""
        import pandas as pd

        frame = pd.DataFrame.from_records(list(rows), columns=self.feature_names)
        predictions = self._model.predict(frame)
        return list(predictions.tolist() if hasattr(predictions, "tolist") else predictions)
