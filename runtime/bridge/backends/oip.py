"""A remote model that speaks the Open Inference Protocol v2 over REST (MLServer, Seldon Core v2, KServe).

URI: ``oip+http://HOST:PORT/v2/models/NAME`` or ``…/v2/models/NAME/versions/VERSION`` (``oip+https``
for TLS). The model's metadata (``GET`` on that path) gives its version and input columns; a batch
is one ``POST …/infer`` with one input tensor per column (pandas content type, as MLServer's MLflow
runtime expects).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import requests

from helicon.runtime.bridge.backends.base import BOOLEAN, INTEGER, NUMERIC, STRING, FeatureSpec
from helicon.runtime.contracts import ModelRef

_OIP_URI = re.compile(r"^oip\+(?P<base>https?://[^/]+)(?P<path>/v2/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?)/?$")
_KINDS = {"FP64": NUMERIC, "FP32": NUMERIC, "FP16": NUMERIC, "INT64": INTEGER, "INT32": INTEGER,
          "INT16": INTEGER, "INT8": INTEGER, "UINT8": INTEGER, "BOOL": BOOLEAN, "BYTES": STRING}
_DATATYPES = {NUMERIC: "FP64", INTEGER: "INT64", BOOLEAN: "BOOL", STRING: "BYTES"}


class OipError(RuntimeError):
    """The endpoint answered with an error, or with something that is not an OIP v2 response."""


class OipModel:
    """A model served elsewhere, asked over OIP v2 REST with one request per micro-batch."""

    def __init__(self, uri: str, timeout_s: float = 10.0) -> None:
        match = _OIP_URI.match(uri)
        if match is None:
            raise ValueError(f"model URI {uri!r} is not oip+http://HOST:PORT/v2/models/NAME[/versions/VERSION]")
        self.uri = uri
        self._url = match["base"] + match["path"]
        self._timeout_s = timeout_s
        self._session = requests.Session()
        metadata = self._get_metadata()
        versions = metadata.get("versions") or []
        version = match["version"] or (str(versions[0]) if versions else "unversioned")
        self.ref = ModelRef(name=match["name"], version=version)
        inputs = metadata.get("inputs") or []
        self.features: FeatureSpec | None = None
        if inputs:
            self.features = FeatureSpec(names=tuple(item["name"] for item in inputs),
                                        kinds={item["name"]: _KINDS.get(item.get("datatype", ""), NUMERIC) for item in inputs})

    def _get_metadata(self) -> dict[str, Any]:
        response = self._session.get(self._url, timeout=self._timeout_s)
        if response.status_code != 200:
            raise OipError(f"GET {self._url} answered {response.status_code}: {_error_text(response)}")
        return response.json()

    def predict(self, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """One prediction per row, in order, from one ``POST /infer``."""
        if not rows:
            return []
        names = list(self.features.names) if self.features is not None else list(rows[0].keys())
        kinds = self.features.kinds if self.features is not None else {}
        body = {
            "parameters": {"content_type": "pd"},
            "inputs": [
                {"name": name, "shape": [len(rows), 1], "datatype": _DATATYPES[kinds.get(name, NUMERIC)],
                 "data": [row.get(name) for row in rows]}
                for name in names
            ],
        }
        response = self._session.post(f"{self._url}/infer", json=body, timeout=self._timeout_s)
        if response.status_code != 200:
            raise OipError(f"POST {self._url}/infer answered {response.status_code}: {_error_text(response)}")
        outputs = response.json().get("outputs") or []
        if not outputs:
            raise OipError(f"POST {self._url}/infer returned no outputs")
        output = outputs[0]
        data = list(output.get("data") or [])
        width = len(data) // len(rows) if rows else 0
        if width * len(rows) != len(data) or width == 0:
            raise OipError(f"{self._url} returned {len(data)} values for {len(rows)} rows")
        if width == 1:
            return data
        return [data[index * width:(index + 1) * width] for index in range(len(rows))]

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._session.close()


def _error_text(response: requests.Response) -> str:
    """The server's error on one line: OIP's ``{"error": …}``, else the last line of the body (a traceback's exception)."""
    try:
        body = response.json()
        if isinstance(body, dict) and body.get("error"):
            return str(body["error"]).strip().replace("\n", " ")[:300]
    except ValueError:
        pass
    lines = [line.strip() for line in response.text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else response.reason or ""
