"""Canary promotion on the real broker and registry: a challenger registered mid-stream is canaried,
judged on joined feedback, and promoted only if its error is lower."""

from __future__ import annotations

import json
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
import requests
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from mlflow import MlflowClient
from mlflow.models import infer_signature
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from helicon.runtime.bridge import BridgeSettings
from helicon.runtime.contracts import PipelineTopics, now_ms
from tests.bridge.conftest import Platform, predictions, read_topic, running, start_bridge, wait_for, write_config

FEATURES = ("f0", "f1", "f2", "f3")
MIN_JOINED = 100


def _train(seed: int) -> LogisticRegression:
    """Logistic regressions on different synthetic tasks: they disagree on a large share of rows."""
    features, labels = make_classification(n_samples=1000, n_features=len(FEATURES), n_informative=3, n_redundant=1,
                                           random_state=seed)
    return LogisticRegression().fit(pd.DataFrame(features, columns=list(FEATURES)), labels)


def _register(name: str, estimator: LogisticRegression, alias: str | None = None) -> str:
    """A new version of ``name`` (with ``alias`` pointing at it, if given)."""
    example = pd.DataFrame([[0.0] * len(FEATURES)], columns=list(FEATURES))
    mlflow.set_experiment("helicon-bridge-tests")
    with mlflow.start_run():
        # pip_requirements=[]: inferring them imports the model in a subprocess, minutes on a loaded machine.
        info = mlflow.sklearn.log_model(estimator, name="model", registered_model_name=name, pip_requirements=[],
                                        signature=infer_signature(example, estimator.predict(example)))
    version = str(info.registered_model_version)
    if alias is not None:
        MlflowClient().set_registered_model_alias(name, alias, version)
    return version


def _aliases(name: str) -> dict[str, str]:
    return {alias: str(version) for alias, version in MlflowClient().get_registered_model(name).aliases.items()}


def _rows(count: int, seed: int = 3) -> list[dict[str, float]]:
    values = np.random.default_rng(seed).normal(size=(count, len(FEATURES)))
    return [dict(zip(FEATURES, map(float, row))) for row in values]


class Stream:
    """Feature events at a steady pace on one partition; each event's label follows ``lag`` events later."""

    def __init__(self, platform: Platform, topics: PipelineTopics, label_of: Callable[[dict], int],
                 per_second: float = 250, lag: int = 20) -> None:
        self.sent: list[tuple[str, dict]] = []
        self._platform, self._topics, self._label_of = platform, topics, label_of
        self._per_second, self._lag = per_second, lag
        self._rows = _rows(20_000)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stream")

    def __enter__(self) -> "Stream":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(60)

    def wait_sent(self, count: int, timeout: float = 120) -> None:
        assert wait_for(lambda: len(self.sent) >= count, timeout=timeout), f"only {len(self.sent)} sent"

    def _run(self) -> None:
        producer = Producer({"bootstrap.servers": self._platform.bootstrap, "enable.idempotence": True})
        started = time.monotonic()
        index = 0
        while not self._stop.is_set():
            time.sleep(max(0.0, started + index / self._per_second - time.monotonic()))
            event_id, row = f"{index:06d}-{uuid.uuid4().hex[:6]}", self._rows[index]
            producer.produce(self._topics.features, key=event_id.encode(), partition=0,
                             value=json.dumps({"id": event_id, "ts": now_ms(), "features": row}).encode())
            self.sent.append((event_id, row))
            if index >= self._lag:
                self._label(producer, *self.sent[index - self._lag])
            index += 1
            producer.poll(0)
        for event_id, row in self.sent[max(0, index - self._lag):]:
            self._label(producer, event_id, row)
        assert producer.flush(30) == 0

    def _label(self, producer: Producer, event_id: str, row: dict) -> None:
        label = {"id": event_id, "label": self._label_of(row), "ts": now_ms()}
        producer.produce(self._topics.feedback, key=event_id.encode(), value=json.dumps(label).encode())


def _predict_one(estimator: LogisticRegression) -> Callable[[dict], int]:
    return lambda row: int(estimator.predict(pd.DataFrame([row], columns=list(FEATURES)))[0])


def _create_topics(platform: Platform, topics: PipelineTopics) -> None:
    admin = AdminClient({"bootstrap.servers": platform.bootstrap})
    for future in admin.create_topics([NewTopic(topics.features, num_partitions=1, replication_factor=1),
                                       NewTopic(topics.feedback, num_partitions=2, replication_factor=1)]).values():
        future.result(30)


def _canary(name: str, topics: PipelineTopics) -> dict:
    return {"model": f"models:/{name}@challenger", "share": 0.5,
            "promotion": {"feedback_topic": topics.feedback, "min_joined": MIN_JOINED, "margin": 0.0, "window": 200}}


def _logged(log_file: Path) -> list[dict]:
    return [json.loads(line) for line in log_file.read_text().splitlines() if line.startswith("{")]


def _first(log_file: Path, message: str) -> dict | None:
    return next((entry for entry in _logged(log_file) if entry["message"] == message), None)


def test_a_better_challenger_registered_mid_stream_is_canaried_then_promoted(
    platform: Platform, topics: PipelineTopics, tmp_path: Path, processes: list,
) -> None:
    name = f"bridge-promote-{uuid.uuid4().hex[:6]}"
    old, new = _train(7), _train(8)
    v1 = _register(name, old, "champion")
    v2 = _register(name, new)
    _create_topics(platform, topics)
    log_file = tmp_path / "bridge.log"
    config = write_config(tmp_path / "bridge.yaml", bootstrap=platform.bootstrap, input_topic=topics.features,
                          output_topic=topics.predictions, dlq_topic=topics.dlq, group=f"{topics.features}-bridge",
                          model_uri=f"models:/{name}@champion", canary=_canary(name, topics), alias_poll_s=0.5,
                          http_port=0, batch_size=32, max_wait_ms=20)
    bridge = start_bridge(platform, config, log_file)
    processes.append(bridge)
    assert wait_for(lambda: _first(log_file, "feedback assigned") is not None, timeout=120), log_file.read_text()
    started = _first(log_file, "bridge started")
    assert started is not None and started["waiting_for"] == ["challenger:challenger"]
    assert _first(log_file, "challenger alias not found; serving the champion only until it appears") is not None

    # The labels are what the new model says: the challenger is right, the champion often wrong.
    clock = time.monotonic()
    with Stream(platform, topics, _predict_one(new)) as stream:
        stream.wait_sent(300)
        registered_at = len(stream.sent)
        MlflowClient().set_registered_model_alias(name, "challenger", v2)   # the retraining job's last step
        print(f"challenger registered after {time.monotonic() - clock:.1f} s, {registered_at} events")
        assert wait_for(lambda: _first(log_file, "canary started") is not None, timeout=120), log_file.read_text()
        print(f"canary started after {time.monotonic() - clock:.1f} s, {len(stream.sent)} events")
        assert wait_for(lambda: _first(log_file, "model promoted") is not None, timeout=120), log_file.read_text()
        promoted_at = len(stream.sent)
        print(f"promoted after {time.monotonic() - clock:.1f} s, {promoted_at} events")
        stream.wait_sent(promoted_at + 300)
        port = started["http_port"]
        metrics = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    sent = stream.sent
    bridge.send_signal(signal.SIGTERM)
    assert bridge.wait(60) == 0, log_file.read_text()

    assert _aliases(name) == {"champion": v2}, "champion moved to the challenger's version, challenger deleted"
    promoted = _first(log_file, "model promoted")
    assert promoted is not None
    assert (promoted["from_version"], promoted["to_version"]) == (v1, v2)
    assert promoted["challenger_error"] < promoted["champion_error"]
    assert promoted["challenger_joined"] >= MIN_JOINED and promoted["champion_joined"] >= MIN_JOINED
    canary = _first(log_file, "canary started")
    assert canary is not None and canary["version"] == v2
    assert "helicon_bridge_promotions_total 1.0" in metrics
    assert 'helicon_bridge_joined_error{role="challenger"}' in metrics
    assert 'helicon_bridge_joined_error{role="champion"}' in metrics

    out = predictions(read_topic(platform.bootstrap, topics.predictions, len(sent), settle=2.0))
    counts = Counter(p["id"] for p in out)
    duplicates = sum(count - 1 for count in counts.values())
    print(f"promotion run: {len(sent)} ids, {duplicates} duplicates")
    assert set(counts) == {event_id for event_id, _ in sent}
    assert duplicates == 0, "one clean process, no rebalance: nothing is replayed"
    answer = {p["id"]: p for p in out}
    answered_by = [(answer[event_id]["model"]["role"], answer[event_id]["model"]["version"]) for event_id, _ in sent]
    assert set(answered_by[:registered_at]) == {("champion", v1)}, "no canary before the alias exists"
    first_canary = answered_by.index(("challenger", v2))
    assert first_canary >= registered_at
    assert set(answered_by[first_canary:promoted_at]) >= {("champion", v1), ("challenger", v2)}
    assert set(answered_by[promoted_at:]) == {("champion", v2)}, "after the promotion the new version answers all"
    for estimator, version in ((old, v1), (new, v2)):
        rows = [(event_id, row) for event_id, row in sent if answer[event_id]["model"]["version"] == version]
        expected = estimator.predict(pd.DataFrame([row for _, row in rows], columns=list(FEATURES))).tolist()
        assert [answer[event_id]["prediction"] for event_id, _ in rows] == expected, version
    assert {p["model"]["name"] for p in out} == {name}


def test_a_worse_challenger_is_not_promoted_the_canary_follows_its_alias_and_stops_when_it_is_deleted(
    platform: Platform, topics: PipelineTopics,
) -> None:
    name = f"bridge-keep-{uuid.uuid4().hex[:6]}"
    old, new = _train(7), _train(8)
    v1 = _register(name, old, "champion")
    v2 = _register(name, new)
    v3 = _register(name, _train(9))
    _create_topics(platform, topics)
    settings = BridgeSettings(bootstrap=platform.bootstrap, input_topic=topics.features, output_topic=topics.predictions,
                              dlq_topic=topics.dlq, group=f"{topics.features}-bridge", model_uri=f"models:/{name}@champion",
                              canary=_canary(name, topics), alias_poll_s=0.5, http_port=None, batch_size=32,
                              max_wait_ms=20, log_format="text")
    # The labels are what the champion says: the challenger can only be worse.
    with running(settings) as bridge:
        judge = bridge.judge
        assert judge is not None
        with Stream(platform, topics, _predict_one(old)) as stream:
            stream.wait_sent(200)
            MlflowClient().set_registered_model_alias(name, "challenger", v2)
            assert wait_for(lambda: "challenger" in bridge.slots, timeout=60)
            assert wait_for(lambda: min(w.joined for w in judge.windows.values()) >= 2 * MIN_JOINED, timeout=120), \
                {role: window.joined for role, window in judge.windows.items()}
            assert judge.windows["challenger"].rate > judge.windows["champion"].rate == 0.0
            assert bridge.metrics.promotions._value.get() == 0
            assert _aliases(name) == {"champion": v1, "challenger": v2}
            assert bridge.slots["champion"].backend.ref.version == v1

            MlflowClient().set_registered_model_alias(name, "challenger", v3)   # a newer retrain
            assert wait_for(lambda: bridge.slots["challenger"].backend.ref.version == v3, timeout=60)
            assert wait_for(lambda: judge.challenger == v3, timeout=10), "a new measuring period"
            assert judge.windows["challenger"].joined < MIN_JOINED
            moved_at = len(stream.sent)
            stream.wait_sent(moved_at + 100)

            MlflowClient().delete_registered_model_alias(name, "challenger")
            assert wait_for(lambda: "challenger" not in bridge.slots, timeout=60)
            stopped_at = len(stream.sent)
            stream.wait_sent(stopped_at + 200)
        sent = stream.sent
        assert wait_for(lambda: bridge.scored == len(sent), timeout=60)

    out = predictions(read_topic(platform.bootstrap, topics.predictions, len(sent), settle=2.0))
    assert Counter(p["id"] for p in out) == Counter(event_id for event_id, _ in sent)
    answer = {p["id"]: p["model"] for p in out}
    answered_by = [(answer[event_id]["role"], answer[event_id]["version"]) for event_id, _ in sent]
    assert ("challenger", v2) in answered_by and ("challenger", v2) not in answered_by[moved_at:]
    assert ("challenger", v3) in answered_by[moved_at:stopped_at]
    assert set(answered_by[stopped_at:]) == {("champion", v1)}, "no canary once its alias is gone"
    assert _aliases(name) == {"champion": v1}
