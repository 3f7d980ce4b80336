"""Checkpoint round trips through the real MLflow registry and S3 endpoint of the local platform."""

from __future__ import annotations

import uuid

import pytest
from mlflow import MlflowClient

from helicon.runtime.learn.checkpoint import model_state, open_store, restore_model
from helicon.runtime.learn.spec import build_model
from helicon.runtime.learn.synthetic import deep_network_stream

pytestmark = pytest.mark.platform


def test_mlflow_checkpoint_reproduces_predictions_and_learning_exactly(mlflow_tracking: str) -> None:
    rows = list(deep_network_stream(400, features=6, depth=2, width=8, seed=5))
    model = build_model("hbp:layers=4,units=16")
    for features, label in rows[:150]:
        model.learn_one(features, label)
    name = f"learner-{uuid.uuid4().hex[:8]}"
    store = open_store(f"mlflow:{name}")
    assert store.save({"spec": "hbp:layers=4,units=16", "model": model_state(model)}) == "1"
    for features, label in rows[150:300]:
        model.learn_one(features, label)
    assert store.save({"spec": "hbp:layers=4,units=16", "model": model_state(model)}) == "2"

    assert MlflowClient().get_model_version_by_alias(name, "online-latest").version == "2"
    checkpoint = open_store(f"mlflow:{name}@online-latest").load_latest()
    assert checkpoint is not None and checkpoint["reference"] == "2"
    restored = restore_model(checkpoint["model"])
    probe = [features for features, _ in rows[300:]]
    assert restored.predict_proba_many(probe) == model.predict_proba_many(probe)
    assert restored.alpha == model.alpha and restored.n_seen == 300
    # the learning state (weights, α, input statistics) came back too: both go on identically
    for features, label in rows[300:]:
        model.learn_one(features, label)
        restored.learn_one(features, label)
    assert restored.predict_proba_many(probe) == model.predict_proba_many(probe)


def test_missing_alias_means_no_checkpoint(mlflow_tracking: str) -> None:
    assert open_store(f"mlflow:never-{uuid.uuid4().hex[:8]}").load_latest() is None


def test_s3_checkpoint_of_a_river_pipeline(platform_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in platform_env.items():
        monkeypatch.setenv(name, value)
    spec = "river:preprocessing.StandardScaler|linear_model.LogisticRegression"
    model = build_model(spec)
    rows = list(deep_network_stream(300, features=5, depth=1, width=8, seed=2))
    for features, label in rows[:200]:
        model.learn_one(features, label)
    store = open_store(f"s3://{platform_env['HELICON_S3_BUCKET']}/tests/{uuid.uuid4().hex[:8]}")
    assert store.load_latest() is None
    key = store.save({"spec": spec, "model": model_state(model)})
    checkpoint = store.load_latest()
    assert checkpoint is not None and checkpoint["reference"] == key
    restored = restore_model(checkpoint["model"])
    assert [restored.predict_proba_one(x) for x, _ in rows[200:]] == [model.predict_proba_one(x) for x, _ in rows[200:]]


def test_bad_checkpoint_locations_are_named() -> None:
    for bad in ("file:/tmp/x", "s3://bucket-only", "mlflow:"):
        with pytest.raises(ValueError, match="checkpoint"):
            open_store(bad)
