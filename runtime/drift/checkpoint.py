"""Checkpoints of the monitor's state: detectors, join, gates, outbox and the offsets they cover.

Two stores, chosen by the checkpoint location (:func:`open_checkpoint_store`):

- a **file path** — :class:`FileCheckpointStore`: one file replaced atomically (write, fsync,
  rename), for a pod with a persistent volume;
- ``s3://BUCKET/PREFIX`` — :class:`S3CheckpointStore`: each checkpoint is a new object
  ``PREFIX/checkpoint-<generation>.pkl``, then the pointer object ``PREFIX/latest`` is switched to
  it (and the previous checkpoint object deleted), for a pod whose volume may be lost. boto3 reads
  ``AWS_ENDPOINT_URL_S3`` (or ``AWS_ENDPOINT_URL``) and the credentials from the environment, as
  ``drift export-window`` and the online learner do.

Either way a SIGKILL leaves the previous or the new checkpoint, never half of one: the file is
renamed only once complete; the S3 pointer moves only after the new object is stored, and a
checkpoint object is checked against the SHA-256 its pointer names before it is unpickled.

The detectors are river objects and are stored with :mod:`pickle`; the checkpoint is the
service's own state and must live where only the service writes (a volume of its pod, a bucket
prefix of its own, shared only by the replicas of one group), never be taken from an untrusted place.
The service keeps its state in parts (:meth:`child`: one per partition number, one per replica).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import tempfile
import time
from pathlib import Path
from typing import Any, Protocol

FORMAT = "helicon.drift.checkpoint/2"  # 2: state per partition (PartitionState)


class CheckpointStore(Protocol):
    """Where the drift service keeps its state."""

    #: where, for logs and errors (a path or an s3:// URI)
    location: str

    def save(self, state: dict[str, Any]) -> None: ...

    def load(self) -> dict[str, Any] | None: ...

    def child(self, name: str) -> "CheckpointStore": ...


def open_checkpoint_store(location: str | Path) -> CheckpointStore:
    """``s3://BUCKET/PREFIX`` → :class:`S3CheckpointStore`; anything else is a file path."""
    text = str(location)
    if text.startswith("s3://"):
        bucket, _, prefix = text[len("s3://"):].partition("/")
        prefix = prefix.strip("/")
        if not bucket or not prefix:
            raise ValueError(f"checkpoint {text!r}: s3://BUCKET/PREFIX needs a bucket and a prefix")
        return S3CheckpointStore(bucket, prefix)
    if "://" in text:
        raise ValueError(f"checkpoint {text!r}: expected a file path or s3://BUCKET/PREFIX")
    return FileCheckpointStore(Path(text))


def _encode(state: dict[str, Any]) -> bytes:
    return pickle.dumps({"format": FORMAT, "state": state}, protocol=pickle.HIGHEST_PROTOCOL)


def _decode(blob: bytes, where: str) -> dict[str, Any]:
    stored = pickle.loads(blob)  # noqa: S301 - our own state; see the module docstring
    if not isinstance(stored, dict) or stored.get("format") != FORMAT:
        raise ValueError(f"{where} is not a drift checkpoint ({FORMAT}); move it away to start afresh")
    return stored["state"]


class FileCheckpointStore:
    """Save and load the state dictionary at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.location = str(self.path)

    def child(self, name: str) -> "FileCheckpointStore":
        """The store of one part of the state: the file ``<path>.<name>`` next to this one."""
        return FileCheckpointStore(self.path.with_name(f"{self.path.name}.{name}"))

    def save(self, state: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = _encode(state)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(payload)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def load(self) -> dict[str, Any] | None:
        """The last saved state, or None when there is none yet."""
        if not self.path.exists():
            return None
        return _decode(self.path.read_bytes(), str(self.path))


class S3CheckpointStore:
    """Checkpoints as objects under ``s3://bucket/prefix``, the newest named by the ``latest`` pointer.

    The pointer is a small JSON object ``{"format", "key", "sha256", "bytes", "saved_ms"}``.
    """

    def __init__(self, bucket: str, prefix: str, client: Any = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("s3")
        self.bucket, self.prefix = bucket, prefix
        self.location = f"s3://{bucket}/{prefix}"
        self.pointer_key = f"{prefix}/latest"
        self._s3 = client
        self._generation = time.time_ns()
        #: the checkpoint object the pointer names (deleted once a newer one is in place)
        self._current: str | None = None

    def child(self, name: str) -> "S3CheckpointStore":
        """The store of one part of the state: the prefix ``<prefix>/<name>``."""
        return S3CheckpointStore(self.bucket, f"{self.prefix}/{name}", self._s3)

    def save(self, state: dict[str, Any]) -> None:
        payload = _encode(state)
        self._generation = max(self._generation + 1, time.time_ns())
        key = f"{self.prefix}/checkpoint-{self._generation:020d}.pkl"
        digest = hashlib.sha256(payload).hexdigest()
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=payload)
        pointer = {"format": FORMAT, "key": key, "sha256": digest, "bytes": len(payload),
                   "saved_ms": int(time.time() * 1000)}
        self._s3.put_object(Bucket=self.bucket, Key=self.pointer_key, Body=json.dumps(pointer).encode(),
                            ContentType="application/json")
        previous, self._current = self._current, key
        if previous is not None and previous != key:
            self._s3.delete_object(Bucket=self.bucket, Key=previous)

    def load(self) -> dict[str, Any] | None:
        """The state the pointer names, or None when there is none yet; stray objects of an
        interrupted save are deleted."""
        from botocore.exceptions import ClientError

        try:
            raw = self._s3.get_object(Bucket=self.bucket, Key=self.pointer_key)["Body"].read()
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code == "NoSuchBucket":
                raise ValueError(f"checkpoint {self.location}: bucket {self.bucket!r} does not exist") from None
            if code in ("NoSuchKey", "404"):
                self._delete_strays(keep=None)  # a first save interrupted before its pointer
                return None
            raise
        try:
            pointer = json.loads(raw)
            key, digest = pointer["key"], pointer["sha256"]
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"{self.location}/latest is not a drift checkpoint pointer; move it away to start afresh") from None
        blob = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        if hashlib.sha256(blob).hexdigest() != digest:
            raise ValueError(f"s3://{self.bucket}/{key}: content does not match the SHA-256 in {self.pointer_key}")
        state = _decode(blob, f"s3://{self.bucket}/{key}")
        self._current = key
        self._delete_strays(keep=key)
        return state

    def _delete_strays(self, keep: str | None) -> None:
        pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=f"{self.prefix}/checkpoint-")
        for page in pages:
            for item in page.get("Contents", []):
                if item["Key"] != keep:
                    self._s3.delete_object(Bucket=self.bucket, Key=item["Key"])
