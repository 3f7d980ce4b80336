"""Checkpoints of an online learner: model state, feedback-join state, metrics and offsets.

A checkpoint is one blob (Python pickle; load only checkpoints you wrote, as with any pickled
model) holding a dict::

    {"format": 1, "spec": str, "model": ..., "join": FeedbackJoin.snapshot(), "metrics": {...},
     "offsets": {"topic:partition": next_offset}, "created_ms": int}

HBP models are stored through :meth:`HedgeBackprop.state_dict` (weights, α, rolling errors, input
and target statistics); river models as themselves. Two stores, chosen by a URI:

- ``mlflow:NAME[@ALIAS]`` — each checkpoint is a new version of registered model ``NAME`` (the blob
  is an artifact of a run in experiment ``helicon-learn``) and the alias (default ``online-latest``)
  is moved to it; restore reads the version the alias names.
- ``s3://BUCKET/PREFIX`` — each checkpoint is ``PREFIX/checkpoint-<ms>.pkl``, then the object
  ``PREFIX/latest`` is overwritten with that key (the pointer moves only after the blob is
  complete). boto3 reads ``AWS_ENDPOINT_URL_S3`` and credentials from the environment.
"""

from __future__ import annotations

import io
import logging
import pickle
import tempfile
import time
from pathlib import Path
from typing import Any, Protocol

logger = logging.getLogger(__name__)

FORMAT = 1
DEFAULT_ALIAS = "online-latest"
EXPERIMENT = "helicon-learn"


def model_state(model: Any) -> dict[str, Any]:
    """What a checkpoint stores for ``model``."""
    from helicon.runtime.learn.hbp import HedgeBackprop

    if isinstance(model, HedgeBackprop):
        return {"kind": "hbp", "state": model.state_dict()}
    return {"kind": "object", "state": model}


def restore_model(stored: dict[str, Any]) -> Any:
    """The model :func:`model_state` captured, predicting exactly as it did."""
    if stored["kind"] == "hbp":
        from helicon.runtime.learn.hbp import HedgeBackprop

        return HedgeBackprop.from_state_dict(stored["state"])
    return stored["state"]


def encode(checkpoint: dict[str, Any]) -> bytes:
    return pickle.dumps({"format": FORMAT, "created_ms": int(time.time() * 1000), **checkpoint},
                        protocol=pickle.HIGHEST_PROTOCOL)


def decode(blob: bytes, where: str) -> dict[str, Any]:
    checkpoint = pickle.loads(blob)  # noqa: S301 - our own checkpoints, from our own store
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise ValueError(f"{where}: not a Helicon learner checkpoint of format {FORMAT}")
    return checkpoint


class CheckpointStore(Protocol):
    """Where checkpoints go; ``save`` returns a reference (model version or object key)."""

    uri: str

    def save(self, checkpoint: dict[str, Any]) -> str: ...

    def load_latest(self) -> dict[str, Any] | None: ...


def open_store(uri: str) -> CheckpointStore:
    """``mlflow:NAME[@ALIAS]`` or ``s3://BUCKET/PREFIX``; raises ``ValueError`` for anything else."""
    if uri.startswith("mlflow:"):
        name, _, alias = uri[len("mlflow:"):].partition("@")
        if not name:
            raise ValueError(f"checkpoint {uri!r}: mlflow:NAME[@ALIAS] needs a model name")
        return MlflowCheckpointStore(name, alias or DEFAULT_ALIAS)
    if uri.startswith("s3://"):
        bucket, _, prefix = uri[len("s3://"):].partition("/")
        if not bucket or not prefix:
            raise ValueError(f"checkpoint {uri!r}: s3://BUCKET/PREFIX needs a bucket and a prefix")
        return S3CheckpointStore(bucket, prefix.rstrip("/"))
    raise ValueError(f"checkpoint {uri!r}: expected mlflow:NAME[@ALIAS] or s3://BUCKET/PREFIX")


class MlflowCheckpointStore:
    """Checkpoints as versions of a registered model, the newest under an alias."""

    def __init__(self, name: str, alias: str = DEFAULT_ALIAS) -> None:
        from mlflow import MlflowClient

        self.name, self.alias = name, alias
        self.uri = f"mlflow:{name}@{alias}"
        self._client = MlflowClient()

    def save(self, checkpoint: dict[str, Any]) -> str:
        from mlflow.exceptions import MlflowException

        experiment = self._client.get_experiment_by_name(EXPERIMENT)
        experiment_id = experiment.experiment_id if experiment else self._client.create_experiment(EXPERIMENT)
        run = self._client.create_run(experiment_id, run_name=f"{self.name}-checkpoint",
                                      tags={"helicon.checkpoint_of": self.name})
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "checkpoint.pkl"
            path.write_bytes(encode(checkpoint))
            self._client.log_artifact(run.info.run_id, str(path), artifact_path="checkpoint")
        self._client.set_terminated(run.info.run_id)
        try:
            self._client.create_registered_model(self.name)
        except MlflowException as error:
            if "already exists" not in str(error).lower() and "RESOURCE_ALREADY_EXISTS" not in str(error):
                raise
        version = self._client.create_model_version(
            self.name, source=f"{run.info.artifact_uri}/checkpoint", run_id=run.info.run_id,
            tags={"helicon.spec": str(checkpoint.get("spec", "")), "helicon.examples": str(checkpoint.get("metrics", {}).get("learnt", ""))})
        self._client.set_registered_model_alias(self.name, self.alias, version.version)
        return str(version.version)

    def load_latest(self) -> dict[str, Any] | None:
        import mlflow
        from mlflow.exceptions import MlflowException

        try:
            version = self._client.get_model_version_by_alias(self.name, self.alias)
        except MlflowException:
            return None
        with tempfile.TemporaryDirectory() as directory:
            local = mlflow.artifacts.download_artifacts(run_id=version.run_id, artifact_path="checkpoint/checkpoint.pkl",
                                                        dst_path=directory)
            checkpoint = decode(Path(local).read_bytes(), f"{self.uri} (version {version.version})")
        checkpoint["reference"] = str(version.version)
        return checkpoint


class S3CheckpointStore:
    """Checkpoints as objects under a prefix, with a ``latest`` pointer object."""

    def __init__(self, bucket: str, prefix: str) -> None:
        import boto3

        self.bucket, self.prefix = bucket, prefix
        self.uri = f"s3://{bucket}/{prefix}"
        self._s3 = boto3.client("s3")

    def save(self, checkpoint: dict[str, Any]) -> str:
        key = f"{self.prefix}/checkpoint-{int(time.time() * 1000):013d}.pkl"
        self._s3.upload_fileobj(io.BytesIO(encode(checkpoint)), self.bucket, key)
        self._s3.put_object(Bucket=self.bucket, Key=f"{self.prefix}/latest", Body=key.encode())
        return key

    def load_latest(self) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            pointer = self._s3.get_object(Bucket=self.bucket, Key=f"{self.prefix}/latest")["Body"].read().decode()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        blob = self._s3.get_object(Bucket=self.bucket, Key=pointer)["Body"].read()
        checkpoint = decode(blob, f"s3://{self.bucket}/{pointer}")
        checkpoint["reference"] = pointer
        return checkpoint
