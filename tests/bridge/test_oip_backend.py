"""The Open Inference Protocol v2 backend against a real MLServer serving the same MLflow model."""

from __future__ import annotations

import json
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from helicon.runtime.bridge.backends import OipModel
from helicon.runtime.contracts import PipelineTopics
from helicon.runtime.demo import first_slice
from tests.bridge.conftest import Platform, predictions, produce_events, produce_raw, read_topic, start_bridge, write_config
from tests.bridge.mlserver import MLServerProcess, start_mlserver


@pytest.fixture(scope="module")
def mlserver(platform: Platform, champion: first_slice.TrainedModel,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[MLServerProcess]:
    server = start_mlserver(champion.name, champion.version, platform.tracking_uri, tmp_path_factory.mktemp("mlserver"))
    yield server
    server.stop()


def test_oip_model_reads_metadata_and_agrees_with_the_registry_model(
    mlserver: MLServerProcess, champion: first_slice.TrainedModel,
) -> None:
    model = OipModel(mlserver.oip_uri)
    assert (model.ref.name, model.ref.version) == (champion.name, champion.version)
    assert model.features is not None and model.features.names == first_slice.FEATURE_NAMES
    rows = champion.holdout[:200]
    frame = pd.DataFrame.from_records(rows, columns=list(first_slice.FEATURE_NAMES))
    assert model.predict(rows) == champion.estimator.predict(frame).tolist()
    with pytest.raises(RuntimeError, match=r"infer answered [45]\d\d: \S"):
        model.predict([{"f0": "text", "f1": 1.0, "f2": 1.0, "f3": 1.0}])
    model.close()


def test_bridge_scores_through_mlserver_over_oip(
    platform: Platform, champion: first_slice.TrainedModel, mlserver: MLServerProcess, topics: PipelineTopics,
    tmp_path: Path, processes: list,
) -> None:
    config = write_config(tmp_path / "bridge.yaml", bootstrap=platform.bootstrap, input_topic=topics.features,
                          output_topic=topics.predictions, dlq_topic=topics.dlq, group=f"{topics.features}-bridge",
                          model_uri=mlserver.oip_uri, http_port=None, batch_size=100)
    bridge = start_bridge(platform, config, tmp_path / "bridge.log")
    processes.append(bridge)
    rows = [champion.holdout[index % len(champion.holdout)] for index in range(400)]
    ids = produce_events(platform.bootstrap, topics.features, rows)
    wrong = json.dumps({"id": "w", "features": {"f0": "high", "f1": 1.0, "f2": 1.0, "f3": 1.0}}).encode()
    produce_raw(platform.bootstrap, topics.features, [(b"w", wrong)])
    out = predictions(read_topic(platform.bootstrap, topics.predictions, len(ids)))
    dead = read_topic(platform.bootstrap, topics.dlq, 1)
    bridge.send_signal(signal.SIGTERM)
    assert bridge.wait(60) == 0, (tmp_path / "bridge.log").read_text()
    assert Counter(p["id"] for p in out) == Counter(ids)
    assert {(p["model"]["name"], p["model"]["version"]) for p in out} == {(champion.name, champion.version)}
    frame = pd.DataFrame.from_records(rows, columns=list(first_slice.FEATURE_NAMES))
    assert {p["id"]: p["prediction"] for p in out} == dict(zip(ids, champion.estimator.predict(frame).tolist()))
    assert len(dead) == 1 and dict(dead[0].headers())["helicon.error_class"] == b"WrongFeatureType"
