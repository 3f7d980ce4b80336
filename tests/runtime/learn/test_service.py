"""The learner service on the real broker, MLflow and S3 of the session's local platform."""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import requests
from confluent_kafka import Consumer, Producer

from helicon.infra.local.ports import pick_free_port
from helicon.runtime.learn.service import Learner, LearnerSettings

pytestmark = pytest.mark.platform


def linear_events(n: int, seed: int = 0) -> list[tuple[str, dict[str, float], int]]:
    rng = random.Random(seed)
    events = []
    for index in range(n):
        row = {f"x{j}": rng.gauss(0, 1) for j in range(4)}
        events.append((f"e{index:05d}", row, int(row["x0"] + row["x1"] - row["x2"] > 0)))
    return events


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Topics:
    def __init__(self) -> None:
        prefix = f"learn-{uuid.uuid4().hex[:8]}"
        self.features, self.feedback = f"{prefix}.features", f"{prefix}.feedback"
        self.predictions, self.dlq = f"{prefix}.predictions", f"{prefix}.dlq"


@pytest.fixture()
def topics(platform_env: dict[str, str]) -> Topics:
    """Fresh topics, created up front as a platform provisions them (3 partitions each)."""
    from confluent_kafka.admin import AdminClient, NewTopic

    created = Topics()
    admin = AdminClient({"bootstrap.servers": platform_env["KAFKA_BOOTSTRAP_SERVERS"]})
    names = [created.features, created.feedback, created.predictions, created.dlq]
    for future in admin.create_topics([NewTopic(name, num_partitions=3, replication_factor=1) for name in names]).values():
        future.result(30)
    return created


@pytest.fixture()
def learners() -> Iterator[list[tuple[Learner, threading.Thread]]]:
    """Learners started by a test; stopped even when the test fails."""
    started: list[tuple[Learner, threading.Thread]] = []
    yield started
    for learner, thread in started:
        learner.stop()
        thread.join(60)


def settings(bootstrap: str, topics: Topics, **extra: object) -> LearnerSettings:
    return LearnerSettings(bootstrap=bootstrap, features_topic=topics.features, feedback_topic=topics.feedback,
                           predictions_topic=topics.predictions, dlq_topic=topics.dlq, group=f"g-{topics.features}",
                           max_wait_ms=20, **extra)  # type: ignore[arg-type]


def running(learner: Learner, learners: list[tuple[Learner, threading.Thread]]) -> threading.Thread:
    thread = threading.Thread(target=learner.run, daemon=True)
    thread.start()
    learners.append((learner, thread))
    return thread


def produce(producer: Producer, topic: str, rows: Iterator[tuple[str, dict]]) -> None:
    for key, value in rows:
        producer.produce(topic, key=key.encode(), value=json.dumps(value).encode())
    assert producer.flush(30) == 0


def read_all(bootstrap: str, topic: str, expected: int, timeout_s: float = 60) -> list[tuple[dict, list]]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    found: list[tuple[dict, list]] = []
    deadline = time.monotonic() + timeout_s
    while len(found) < expected and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            found.append((json.loads(message.value()), message.headers() or []))
    consumer.close()
    return found


def test_learner_learns_from_feedback_on_real_kafka(platform_env: dict[str, str], topics: Topics,
                                                    mlflow_tracking: str, learners: list) -> None:
    bootstrap = platform_env["KAFKA_BOOTSTRAP_SERVERS"]
    learner = Learner(settings(bootstrap, topics, model="hbp:layers=3,units=32", metrics_port=0,
                               mlflow_experiment=f"learn-{topics.features}", metrics_interval_s=0.5))
    thread = running(learner, learners)
    producer = Producer({"bootstrap.servers": bootstrap})
    events = linear_events(1_500)
    # Labels arrive after their predictions, chunk by chunk, as feedback does in production.
    for start in range(0, len(events), 100):
        chunk = events[start:start + 100]
        produce(producer, topics.features,
                ((key, {"id": key, "ts": 1_000 + start, "features": row}) for key, row, _ in chunk))
        wait_for(lambda: learner.counts["predicted"] >= start + len(chunk), "predictions")
        produce(producer, topics.feedback, ((key, {"id": key, "label": label, "ts": 2_000 + start}) for key, _, label in chunk))
        wait_for(lambda: learner.counts["learnt"] >= start + len(chunk), "learning")
    # a malformed feedback event goes to the DLQ and does not stop the learner
    producer.produce(topics.feedback, key=b"bad", value=b'{"id": "bad"}')
    producer.flush(10)
    wait_for(lambda: learner.counts["dead_lettered"] >= 1, "the dead letter")

    scrape = requests.get(f"http://127.0.0.1:{learner.metrics_port}/metrics", timeout=10).text
    assert 'helicon_learn_alpha{head="3",model="hbp:layers=3,units=32"}' in scrape
    assert "helicon_learn_prequential" in scrape and "helicon_learn_head_error" in scrape
    learner.stop()
    thread.join(60)
    assert not thread.is_alive()

    predictions = {value["id"]: value for value, _ in read_all(bootstrap, topics.predictions, len(events))}
    assert len(predictions) == len(events)
    correct = [predictions[key]["prediction"] == label for key, _, label in events]
    # the first 100 are predicted before any label; then the error falls as labels accrue
    early, late = sum(correct[100:200]) / 100, sum(correct[-300:]) / 300
    assert late > 0.9 and 1 - late < 0.6 * (1 - early), (early, late)
    assert learner.counts["learnt"] == len(events)
    assert learner.prequential.summary()["n"] == len(events)

    dead = read_all(bootstrap, topics.dlq, 1)
    headers = dict(dead[0][1])
    assert headers["helicon.stage"] == b"learn.decode" and b"label" in headers["helicon.reason"]

    from mlflow import MlflowClient

    history = MlflowClient().get_metric_history(learner.metrics.mlflow_run_id, "prequential_accuracy")
    assert history and history[-1].step == len(events)
    assert abs(history[-1].value - learner.prequential.values()["accuracy"]) < 1e-9


def test_learner_restores_its_checkpoint_and_resumes_after_it(platform_env: dict[str, str], topics: Topics,
                                                              monkeypatch: pytest.MonkeyPatch, learners: list) -> None:
    for name, value in platform_env.items():
        monkeypatch.setenv(name, value)
    bootstrap = platform_env["KAFKA_BOOTSTRAP_SERVERS"]
    store = f"s3://{platform_env['HELICON_S3_BUCKET']}/learners/{topics.features}"
    events = linear_events(300, seed=1)
    producer = Producer({"bootstrap.servers": bootstrap})

    first = Learner(settings(bootstrap, topics, model="hbp:layers=3,units=16", checkpoint=store))
    thread = running(first, learners)
    produce(producer, topics.features, ((key, {"id": key, "ts": 1, "features": row}) for key, row, _ in events[:200]))
    wait_for(lambda: first.counts["predicted"] >= 200, "predictions")
    produce(producer, topics.feedback, ((key, {"id": key, "label": label, "ts": 2}) for key, _, label in events[:150]))
    wait_for(lambda: first.counts["learnt"] >= 150, "learning")
    first.stop()                       # what SIGTERM does: checkpoint, commit, return
    thread.join(60)
    probe = [row for _, row, _ in events[200:]]

    second = Learner(settings(bootstrap, topics, model="hbp:layers=3,units=16", checkpoint=store))
    assert second.restored_from is not None and second.restored_from.startswith(f"learners/{topics.features}/")
    assert second.model.predict_proba_many(probe) == first.model.predict_proba_many(probe)
    assert second.counts["learnt"] == 150 and second.join.pending_predictions == 50
    thread = running(second, learners)
    # the 50 labels still pending in the restored join are learnt; nothing before the checkpoint is replayed
    produce(producer, topics.feedback, ((key, {"id": key, "label": label, "ts": 3}) for key, _, label in events[150:200]))
    wait_for(lambda: second.counts["learnt"] >= 200, "learning after restore")
    second.stop()
    thread.join(60)
    assert second.counts["predicted"] == 200 and second.counts["learnt"] == 200


def test_run_learn_process_checkpoints_on_sigterm(platform_env: dict[str, str], topics: Topics) -> None:
    import os
    import signal
    import subprocess
    import sys

    from helicon.runtime.learn.checkpoint import open_store, restore_model

    bootstrap = platform_env["KAFKA_BOOTSTRAP_SERVERS"]
    store = f"s3://{platform_env['HELICON_S3_BUCKET']}/learners/{topics.features}-process"
    events = linear_events(60, seed=3)
    producer = Producer({"bootstrap.servers": bootstrap})
    produce(producer, topics.features, ((key, {"id": key, "ts": 1, "features": row}) for key, row, _ in events))
    produce(producer, topics.feedback, ((key, {"id": key, "label": label, "ts": 2}) for key, _, label in events))
    process = subprocess.Popen(
        [sys.executable, "-m", "helicon.runtime.cli.main", "run", "learn", "--bootstrap", bootstrap,
         "--features", topics.features, "--feedback", topics.feedback, "--predictions", topics.predictions,
         "--dlq", topics.dlq, "--group", f"g-{topics.features}", "--model", "mlp:layers=2,units=8",
         "--checkpoint", store, "--checkpoint-interval", "3600"],
        env={**os.environ, **platform_env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        # A new process imports torch and MLflow before its first poll: minutes on a loaded machine.
        assert len(read_all(bootstrap, topics.predictions, len(events), timeout_s=240)) == len(events)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr[-2000:]
    old = {name: os.environ.get(name) for name in platform_env}
    os.environ.update(platform_env)
    try:
        checkpoint = open_store(store).load_latest()
    finally:
        for name, value in old.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    assert checkpoint is not None, stderr[-2000:]
    assert checkpoint["metrics"]["counts"]["predicted"] == len(events)
    assert checkpoint["metrics"]["counts"]["learnt"] == len(events)
    assert restore_model(checkpoint["model"]).n_seen == len(events)
    assert sum(checkpoint["offsets"][f"{topics.features}:{partition}"] for partition in range(3)
               if f"{topics.features}:{partition}" in checkpoint["offsets"]) == len(events)


def test_sigkill_loses_only_what_followed_the_checkpoint_and_replay_relearns_it(
        platform_env: dict[str, str], topics: Topics, monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import signal
    import subprocess
    import sys

    from helicon.runtime.learn.checkpoint import open_store

    for name, value in platform_env.items():
        monkeypatch.setenv(name, value)
    bootstrap = platform_env["KAFKA_BOOTSTRAP_SERVERS"]
    location = f"s3://{platform_env['HELICON_S3_BUCKET']}/learners/{topics.features}-kill"
    store = open_store(location)
    command = [sys.executable, "-m", "helicon.runtime.cli.main", "run", "learn", "--bootstrap", bootstrap,
               "--features", topics.features, "--feedback", topics.feedback, "--predictions", topics.predictions,
               "--dlq", topics.dlq, "--group", f"g-{topics.features}", "--model", "mlp:layers=2,units=8",
               "--checkpoint", location]
    events = linear_events(150, seed=4)
    producer = Producer({"bootstrap.servers": bootstrap})

    def learnt_in_checkpoint() -> int:
        checkpoint = store.load_latest()
        return -1 if checkpoint is None else checkpoint["metrics"]["counts"]["learnt"]

    first = subprocess.Popen([*command, "--checkpoint-interval", "1"], env=dict(os.environ),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        produce(producer, topics.features, ((key, {"id": key, "ts": 1, "features": row}) for key, row, _ in events[:100]))
        produce(producer, topics.feedback, ((key, {"id": key, "label": label, "ts": 2}) for key, _, label in events[:100]))
        wait_for(lambda: learnt_in_checkpoint() == 100, "a checkpoint covering the first 100 examples")
        produce(producer, topics.features, ((key, {"id": key, "ts": 3, "features": row}) for key, row, _ in events[100:]))
        produce(producer, topics.feedback, ((key, {"id": key, "label": label, "ts": 4}) for key, _, label in events[100:]))
        assert len(read_all(bootstrap, topics.predictions, 150)) >= 150   # the last 50 were handled, then:
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)

    import re

    port = pick_free_port()
    second = subprocess.Popen([*command, "--checkpoint-interval", "3600", "--metrics-port", str(port)],
                              env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def learnt_by_second() -> int:
        try:
            text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        except requests.RequestException:
            return -1
        found = re.search(r'helicon_learn_examples_total\{kind="learnt",model="[^"]*"\} ([0-9.e+]+)', text)
        return int(float(found.group(1))) if found else -1

    try:
        # replay from the checkpoint's offsets re-predicts and relearns whatever the kill lost
        wait_for(lambda: learnt_by_second() == 150, "the replay to relearn up to 150")
        second.send_signal(signal.SIGTERM)
        second.wait(120)
    finally:
        if second.poll() is None:
            second.kill()
    assert second.returncode == 0
    assert learnt_in_checkpoint() == 150        # each example learnt exactly once across the kill
