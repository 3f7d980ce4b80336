"""The bridge in-process on the real broker and registry: hot swap, canary, shadow, failing models."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import defaultdict

import mlflow.pyfunc
import pandas as pd
from confluent_kafka import Producer

from helicon.runtime.bridge import BridgeSettings
from helicon.runtime.bridge.router import CanaryRouter
from helicon.runtime.contracts import PipelineTopics, now_ms
from helicon.runtime.demo import first_slice
from tests.bridge.conftest import Platform, predictions, produce_events, read_topic, running, wait_for


def _settings(platform: Platform, topics: PipelineTopics, model: str, **extra: object) -> BridgeSettings:
    settings: dict[str, object] = {
        "bootstrap": platform.bootstrap, "input_topic": topics.features, "output_topic": topics.predictions,
        "dlq_topic": topics.dlq, "group": f"{topics.features}-bridge", "model_uri": model, "http_port": None,
        "batch_size": 50, "max_wait_ms": 20, "log_format": "text"}
    return BridgeSettings(**{**settings, **extra})


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame.from_records(rows, columns=list(first_slice.FEATURE_NAMES))


def test_alias_moved_mid_stream_new_version_answers_from_a_point_on_nothing_lost(
    platform: Platform, topics: PipelineTopics,
) -> None:
    name = f"bridge-swap-{uuid.uuid4().hex[:6]}"
    first = first_slice.train_and_register(platform.tracking_uri, name, seed=7)
    rows = first.holdout
    sent: list[tuple[str, int, dict]] = []
    stop_sending = threading.Event()

    def send() -> None:
        producer = Producer({"bootstrap.servers": platform.bootstrap, "enable.idempotence": True})
        sequence = 0
        while not stop_sending.is_set():
            event_id, row = f"{sequence:06d}-{uuid.uuid4().hex[:6]}", rows[sequence % len(rows)]
            partition = sequence % 3
            producer.produce(topics.features, key=event_id.encode(), partition=partition,
                             value=json.dumps({"id": event_id, "ts": now_ms(), "features": row}).encode())
            sent.append((event_id, partition, row))
            sequence += 1
            producer.poll(0)
            time.sleep(0.004)
        assert producer.flush(30) == 0

    with running(_settings(platform, topics, f"models:/{name}@champion", alias_poll_s=0.3, batch_size=20)) as bridge:
        sender = threading.Thread(target=send)
        sender.start()
        try:
            assert wait_for(lambda: bridge.scored > 200, timeout=60)
            second = first_slice.train_and_register(platform.tracking_uri, name, seed=8)
            assert second.version != first.version
            assert wait_for(lambda: bridge.slots["champion"].backend.ref.version == second.version, timeout=60)
            scored_at_swap = bridge.scored
            assert wait_for(lambda: bridge.scored > scored_at_swap + 200, timeout=60)
        finally:
            stop_sending.set()
            sender.join(30)
        assert wait_for(lambda: bridge.scored == len(sent), timeout=60)
        swaps = bridge.metrics.model_swaps.labels("champion")._value.get()

    out = {p["id"]: p for p in predictions(read_topic(platform.bootstrap, topics.predictions, len(sent), settle=1.0))}
    assert len(out) == len(sent) and set(out) == {event_id for event_id, _, _ in sent}
    assert swaps == 1
    by_partition: dict[int, list[str]] = defaultdict(list)
    for event_id, partition, _ in sent:
        by_partition[partition].append(out[event_id]["model"]["version"])
    for partition, versions in by_partition.items():
        switch = versions.index(second.version)
        assert switch > 0, f"partition {partition}: the new version answered from the very start"
        assert set(versions[:switch]) == {first.version} and set(versions[switch:]) == {second.version}, partition
    for estimator, version in ((first.estimator, first.version), (second.estimator, second.version)):
        answered = [(event_id, row) for event_id, _, row in sent if out[event_id]["model"]["version"] == version]
        expected = estimator.predict(_frame([row for _, row in answered])).tolist()
        assert [out[event_id]["prediction"] for event_id, _ in answered] == expected


def test_canary_share_within_tolerance_sticky_by_key_and_shadow_scores_everything(
    platform: Platform, champion: first_slice.TrainedModel, topics: PipelineTopics,
) -> None:
    challenger = first_slice.train_and_register(platform.tracking_uri, f"bridge-challenger-{uuid.uuid4().hex[:6]}", seed=11)
    rows = [champion.holdout[index % len(champion.holdout)] for index in range(1500)]
    canary = {"model": f"models:/{challenger.name}@champion", "share": 0.3}
    with running(_settings(platform, topics, f"models:/{champion.name}@champion", canary=canary)) as bridge:
        ids = produce_events(platform.bootstrap, topics.features, rows)
        assert wait_for(lambda: bridge.scored == len(ids), timeout=90)
    out = {p["id"]: p for p in predictions(read_topic(platform.bootstrap, topics.predictions, len(ids), settle=1.0))}
    assert set(out) == set(ids)
    router = CanaryRouter(0.3)
    by_challenger = [event_id for event_id in ids if out[event_id]["model"]["name"] == challenger.name]
    assert by_challenger == [event_id for event_id in ids if router.to_challenger(event_id.encode())]
    assert abs(len(by_challenger) / len(ids) - 0.3) < 0.05
    for model in (champion, challenger):
        answered = [(event_id, row) for event_id, row in zip(ids, rows) if out[event_id]["model"]["name"] == model.name]
        assert [out[event_id]["prediction"] for event_id, _ in answered] == model.estimator.predict(_frame([r for _, r in answered])).tolist()

    shadow_topics = PipelineTopics.for_pipeline(f"bridge-shadow-{uuid.uuid4().hex[:8]}")
    shadow = {"model": f"models:/{challenger.name}@champion", "topic": f"{shadow_topics.predictions}-shadow"}
    with running(_settings(platform, shadow_topics, f"models:/{champion.name}@champion", shadow=shadow)) as bridge:
        ids = produce_events(platform.bootstrap, shadow_topics.features, rows[:300])
        assert wait_for(lambda: bridge.scored == len(ids), timeout=90)
    main = predictions(read_topic(platform.bootstrap, shadow_topics.predictions, len(ids), settle=1.0))
    shadowed = predictions(read_topic(platform.bootstrap, shadow["topic"], len(ids), settle=1.0))
    assert sorted(p["id"] for p in main) == sorted(ids) and {p["model"]["name"] for p in main} == {champion.name}
    assert sorted(p["id"] for p in shadowed) == sorted(ids) and {p["model"]["name"] for p in shadowed} == {challenger.name}


class FlakyModel(mlflow.pyfunc.PythonModel):
    """Fails its first two calls (a model warming up), and always on a row with f0 == 999 (a poison row)."""

    def __init__(self) -> None:
        self.calls = 0

    def predict(self, context, model_input: pd.DataFrame, params=None):  # noqa: ANN001, ANN201
        self.calls += 1
        if self.calls <= 2:
            raise ConnectionError("model warming up")
        if (model_input["f0"] == 999.0).any():
            raise ValueError("f0=999 is a poison value")
        return (model_input["f0"] > 0).astype(int)


def test_model_errors_are_retried_with_backoff_then_dead_lettered(platform: Platform, topics: PipelineTopics) -> None:
    from mlflow.models import infer_signature

    name = f"bridge-flaky-{uuid.uuid4().hex[:6]}"
    example = pd.DataFrame([{feature: 0.5 for feature in first_slice.FEATURE_NAMES}])
    mlflow.set_experiment("helicon-bridge-tests")
    with mlflow.start_run():
        mlflow.pyfunc.log_model(name="model", python_model=FlakyModel(), registered_model_name=name, pip_requirements=[],
                                signature=infer_signature(example, pd.Series([1])))
    rows = [{feature: (999.0 if index in (17, 64) and feature == "f0" else float(index % 5) - 2)
             for feature in first_slice.FEATURE_NAMES} for index in range(120)]
    with running(_settings(platform, topics, f"models:/{name}/1", predict_attempts=3, retry_backoff_ms=20)) as bridge:
        ids = produce_events(platform.bootstrap, topics.features, rows)
        assert wait_for(lambda: bridge.scored + bridge.dead_lettered == len(ids), timeout=90)
        retries = bridge.metrics.predict_retries.labels("champion")._value.get()
    out = predictions(read_topic(platform.bootstrap, topics.predictions, len(ids) - 2, settle=1.0))
    dead = read_topic(platform.bootstrap, topics.dlq, 2, settle=1.0)
    poisoned = {ids[17], ids[64]}
    assert sorted(p["id"] for p in out) == sorted(set(ids) - poisoned)
    assert all(p["prediction"] == int(row["f0"] > 0) for p, row in zip(sorted(out, key=lambda p: p["id"]), [r for i, r in sorted(zip(ids, rows)) if i not in poisoned]))
    assert {json.loads(message.value())["id"] for message in dead} == poisoned
    for message in dead:
        headers = {key: value.decode() for key, value in message.headers()}
        assert headers["helicon.stage"] == "predict" and headers["helicon.error_class"] == "ValueError"
        assert "poison" in headers["helicon.reason"] and f"{name}/1" in headers["helicon.reason"]
    assert retries >= 2


def test_a_frozen_broker_blocks_the_bridge_and_nothing_is_lost(
    platform: Platform, champion: first_slice.TrainedModel, topics: PipelineTopics, local_platform,  # noqa: ANN001
) -> None:
    import os
    import signal

    broker_pid = local_platform.kafka.pid
    assert broker_pid is not None
    rows = [champion.holdout[index % len(champion.holdout)] for index in range(3000)]
    with running(_settings(platform, topics, f"models:/{champion.name}@champion", batch_size=10)) as bridge:
        ids = produce_events(platform.bootstrap, topics.features, rows)
        assert wait_for(lambda: bridge.scored > 0, timeout=60, interval=0.01)
        # The broker stops answering (SIGSTOP) while the bridge is mid-stream, then comes back.
        os.kill(broker_pid, signal.SIGSTOP)
        try:
            scored_when_frozen = bridge.scored
            time.sleep(4)
        finally:
            os.kill(broker_pid, signal.SIGCONT)
        assert scored_when_frozen < len(ids), "the stream was over before the broker froze"
        assert wait_for(lambda: bridge.scored == len(ids), timeout=120)
    out = predictions(read_topic(platform.bootstrap, topics.predictions, len(ids), settle=1.0))
    assert {p["id"] for p in out} == set(ids)
