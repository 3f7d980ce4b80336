"""Checkpoint stores: a local file, and S3 on the session's real S3 endpoint (moto server).

The S3 store writes a new object, then switches the ``latest`` pointer; a save cut short leaves
the previous checkpoint readable, and a damaged object is refused rather than unpickled.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helicon.infra.local import PlatformStatus
from helicon.runtime.drift.checkpoint import FileCheckpointStore, S3CheckpointStore, open_checkpoint_store
from helicon.runtime.drift.config import ConfigError
from helicon.runtime.drift.settings import load_settings

pytestmark = pytest.mark.platform


@pytest.fixture()
def s3(local_platform: PlatformStatus, platform_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A boto3 client on the session's S3 endpoint, with the environment the service would have."""
    import boto3

    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, platform_env[name])
    monkeypatch.setenv("AWS_DEFAULT_REGION", platform_env.get("AWS_DEFAULT_REGION", "us-east-1"))
    yield boto3.client("s3")


def _keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    return sorted(item["Key"] for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))


def test_open_checkpoint_store_chooses_by_location(s3: Any, platform_env: dict[str, str], tmp_path: Path) -> None:
    assert isinstance(open_checkpoint_store(tmp_path / "c.pkl"), FileCheckpointStore)
    store = open_checkpoint_store(f"s3://{platform_env['HELICON_S3_BUCKET']}/drift/p1/")
    assert isinstance(store, S3CheckpointStore) and store.location == f"s3://{platform_env['HELICON_S3_BUCKET']}/drift/p1"
    with pytest.raises(ValueError, match="needs a bucket and a prefix"):
        open_checkpoint_store("s3://bucket-only")
    with pytest.raises(ValueError, match="expected a file path or s3://"):
        open_checkpoint_store("gs://bucket/prefix")


def test_a_bad_checkpoint_location_is_refused_naming_the_field() -> None:
    with pytest.raises(ConfigError, match="checkpoint_path: .*s3://BUCKET/PREFIX"):
        load_settings(None, {"bootstrap": "127.0.0.1:9092", "checkpoint_path": "s3://bucket"})


def test_s3_store_round_trip_keeps_one_checkpoint_object(s3: Any, platform_env: dict[str, str]) -> None:
    bucket, prefix = platform_env["HELICON_S3_BUCKET"], f"drift-tests/{uuid.uuid4().hex}"
    store = open_checkpoint_store(f"s3://{bucket}/{prefix}")
    assert store.load() is None
    for generation in range(3):
        store.save({"offsets": {("t", 0): generation}, "blob": b"x" * 1000})
    assert store.load() == {"offsets": {("t", 0): 2}, "blob": b"x" * 1000}
    # One checkpoint object (older ones deleted once the pointer moved on) and the pointer.
    keys = _keys(s3, bucket, prefix)
    assert len(keys) == 2 and keys[1] == f"{prefix}/latest" and keys[0].startswith(f"{prefix}/checkpoint-")
    pointer = json.loads(s3.get_object(Bucket=bucket, Key=f"{prefix}/latest")["Body"].read())
    assert pointer["key"] == keys[0] and len(pointer["sha256"]) == 64
    # A new process (a new store object) finds the same state.
    assert open_checkpoint_store(f"s3://{bucket}/{prefix}").load() == {"offsets": {("t", 0): 2}, "blob": b"x" * 1000}
    # Parts of the state (the service's partitions) live under their own prefix, independently.
    store.child("partition-1").save({"partition": 1})
    assert store.child("partition-1").location == f"s3://{bucket}/{prefix}/partition-1"
    assert open_checkpoint_store(f"s3://{bucket}/{prefix}").child("partition-1").load() == {"partition": 1}
    assert store.load() == {"offsets": {("t", 0): 2}, "blob": b"x" * 1000}


def test_a_save_cut_short_leaves_the_previous_checkpoint(s3: Any, platform_env: dict[str, str]) -> None:
    bucket, prefix = platform_env["HELICON_S3_BUCKET"], f"drift-tests/{uuid.uuid4().hex}"
    store = open_checkpoint_store(f"s3://{bucket}/{prefix}")
    store.save({"generation": 1})
    # Killed between writing the new object and switching the pointer: a half-written object
    # (what a torn upload would leave if S3 allowed it) that no pointer names.
    s3.put_object(Bucket=bucket, Key=f"{prefix}/checkpoint-99999999999999999999.pkl", Body=b"\x80\x05torn")
    restarted = open_checkpoint_store(f"s3://{bucket}/{prefix}")
    assert restarted.load() == {"generation": 1}
    assert len(_keys(s3, bucket, f"{prefix}/checkpoint-")) == 1  # the stray is gone
    restarted.save({"generation": 2})
    assert open_checkpoint_store(f"s3://{bucket}/{prefix}").load() == {"generation": 2}


def test_a_damaged_checkpoint_object_is_refused_not_unpickled(s3: Any, platform_env: dict[str, str]) -> None:
    bucket, prefix = platform_env["HELICON_S3_BUCKET"], f"drift-tests/{uuid.uuid4().hex}"
    store = open_checkpoint_store(f"s3://{bucket}/{prefix}")
    store.save({"generation": 1})
    key = json.loads(s3.get_object(Bucket=bucket, Key=f"{prefix}/latest")["Body"].read())["key"]
    s3.put_object(Bucket=bucket, Key=key, Body=b"not the checkpoint")
    with pytest.raises(ValueError, match="does not match the SHA-256"):
        open_checkpoint_store(f"s3://{bucket}/{prefix}").load()


def test_a_missing_bucket_is_named(s3: Any) -> None:
    with pytest.raises(ValueError, match="bucket 'no-such-bucket-here' does not exist"):
        open_checkpoint_store("s3://no-such-bucket-here/drift").load()


def test_file_store_round_trip(tmp_path: Path) -> None:
    store = FileCheckpointStore(tmp_path / "deep" / "checkpoint.pkl")
    assert store.load() is None
    store.save({"a": 1})
    store.save({"a": 2})
    assert FileCheckpointStore(tmp_path / "deep" / "checkpoint.pkl").load() == {"a": 2}
    assert [p.name for p in (tmp_path / "deep").iterdir()] == ["checkpoint.pkl"]
    store.child("partition-3").save({"p": 3})
    assert FileCheckpointStore(tmp_path / "deep" / "checkpoint.pkl").child("partition-3").load() == {"p": 3}
    assert sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["checkpoint.pkl", "checkpoint.pkl.partition-3"]
