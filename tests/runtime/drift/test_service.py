"""`helicon run drift` as a process on the real broker: join through the service, DLQ, alerts,
one trigger per drift, MLflow monitoring run, and continuity after SIGKILL."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml
from confluent_kafka import Consumer, Producer

from helicon.infra.local import PlatformStatus
from helicon.runtime.drift.checkpoint import open_checkpoint_store
from helicon.runtime.drift.signing import HEADER, verify
from tests.runtime.drift.receiver import Receiver, receiver

pytestmark = pytest.mark.platform

SECRET = "hmac-key-for-tests"
TTL_MS = 60_000


def read_topic(bootstrap: str, topic: str, until, timeout: float = 120.0) -> list:  # noqa: ANN001
    """Messages of ``topic`` from the start, read until ``until(messages)`` holds or time runs out."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    messages: list = []
    deadline = time.monotonic() + timeout
    try:
        while not until(messages) and time.monotonic() < deadline:
            messages += [m for m in consumer.consume(500, 0.5) if m.error() is None]
        # a little longer, so that a duplicate that was about to arrive is seen too
        end = time.monotonic() + 2
        while time.monotonic() < end:
            messages += [m for m in consumer.consume(500, 0.5) if m.error() is None]
    finally:
        consumer.close()
    return messages


def alerts_where(messages: list, **match: object) -> list[dict]:
    values = [json.loads(m.value()) for m in messages]
    return [v for v in values if all(v.get(k) == want for k, want in match.items())]


class DriftProcess:
    def __init__(self, bootstrap: str, pipeline: str, workdir: Path, server: Receiver, mlflow_uri: str | None = None,
                 checkpoint: str | None = None, env: dict[str, str] | None = None, instance: int = 0) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.bootstrap, self.pipeline, self.workdir = bootstrap, pipeline, workdir
        self.checkpoint = checkpoint or str(workdir / "checkpoint.pkl")
        self.env = env or {}
        self.config = workdir / "drift.yaml"
        self.config.write_text(yaml.safe_dump({
            "service": {"checkpoint_interval_s": 0.5, "instance_id": f"{pipeline}-{instance}", "join_ttl_ms": TTL_MS, "statistics_interval_s": 1},
            "monitor": {
                "drift": {"webhooks": [{"url": f"{server.url}/slack"}],
                          "triggers": [{"kind": "generic", "url": f"{server.url}/ci", "secret_env": "DRIFT_HMAC_KEY"}]},
                "delivery": {"retries": 3, "backoff_s": 0.05, "cooldown_s": 3600},
            },
        }))
        self.mlflow_uri = mlflow_uri
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        arguments = [sys.executable, "-m", "helicon.runtime.cli.main", "run", "drift", "--config", str(self.config),
                     "--bootstrap", self.bootstrap, "--pipeline", self.pipeline, "--group", f"{self.pipeline}-drift",
                     "--checkpoint", str(self.checkpoint)]
        env = {**os.environ, **self.env, "DRIFT_HMAC_KEY": SECRET}
        env.pop("MLFLOW_TRACKING_URI", None)
        if self.mlflow_uri:
            arguments += ["--mlflow", self.mlflow_uri]
        log = (self.workdir / f"drift-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(arguments, stdout=log, stderr=subprocess.STDOUT, env=env)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return -9

    def logs(self) -> str:
        return "\n".join(path.read_text() for path in sorted(self.workdir.glob("drift-*.log")))


def partition_checkpoints(location: str, partitions: int = 3) -> dict[int, dict]:
    """The service's checkpoint of each partition number, as saved."""
    store = open_checkpoint_store(location)
    return {partition: store.child(f"partition-{partition}").load() for partition in range(partitions)}


def wait_until_consumed(bootstrap: str, group: str, topics: list[str], timeout: float = 120.0) -> None:
    """Until the group's committed offsets reach the end of every partition of ``topics``."""
    from confluent_kafka import TopicPartition

    client = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            partitions = [TopicPartition(topic, p) for topic in topics for p in range(3)]
            committed = client.committed(partitions, timeout=10)
            ends = [client.get_watermark_offsets(tp, timeout=10)[1] for tp in partitions]
            if all(tp.offset >= end for tp, end in zip(committed, ends)):
                return
            time.sleep(0.3)
    finally:
        client.close()
    raise AssertionError(f"{group} did not consume {topics} within {timeout}s")


def produce(bootstrap: str, records: list[tuple[str, str, dict | bytes]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    for topic, key, value in records:
        payload = value if isinstance(value, bytes) else json.dumps(value).encode()
        producer.produce(topic, key=key.encode(), value=payload)
        producer.poll(0)
    assert producer.flush(30) == 0


def feature_records(pipeline: str, start: int, n: int, level_at, seed: int, step_ms: int = 1_000) -> list:  # noqa: ANN001
    rng = random.Random(seed)
    return [(f"{pipeline}.features", f"f{i}", {"id": f"f{i}", "ts": i * step_ms,
                                                  "features": {"x": rng.gauss(level_at(i), 1.0), "y": rng.gauss(0, 1)}})
            for i in range(start, start + n)]


def test_service_joins_out_of_order_late_and_duplicate_feedback_and_alerts_once(
    local_platform: PlatformStatus, tmp_path: Path, mlflow_tracking: str,
) -> None:
    bootstrap = local_platform.kafka.endpoint or ""
    pipeline = f"drift-{uuid.uuid4().hex[:8]}"
    rng = random.Random(11)
    # Event times 1 ms apart: the whole stream spans far less than the join's TTL, however the
    # three topics' partitions interleave while the service catches up.
    # 3 partitions × 3000 joined examples; the error rate moves 0.1 → 0.4 at the middle, after
    # each partition's DDM has passed its warm start (1000).
    n = 9_000
    predictions, feedback = [], []
    for i in range(n):
        prediction = rng.randrange(2)
        wrong = rng.random() < (0.1 if i < 4_500 else 0.4)
        predictions.append((f"{pipeline}.predictions", f"e{i}", {"id": f"e{i}", "ts": i, "prediction": prediction,
                                                                 "model": {"name": f"{pipeline}-model", "version": "3"}}))
        feedback.append((f"{pipeline}.feedback", f"e{i}", {"id": f"e{i}", "ts": i + 500, "label": 1 - prediction if wrong else prediction}))
    # Labels out of order in blocks, a tenth of them before their prediction, 5% duplicated on each side.
    records: list = []
    for block in range(0, n, 100):
        labels = feedback[block:block + 100]
        rng.shuffle(labels)
        early, later = labels[:10], labels[10:]
        records += early + predictions[block:block + 100] + later
    duplicates_p = rng.sample(predictions, n // 20)
    duplicates_f = rng.sample(feedback, n // 20)
    never = [(f"{pipeline}.predictions", f"never{i}", {"id": f"never{i}", "ts": i, "prediction": 0}) for i in range(20)]
    late = [(f"{pipeline}.feedback", f"never{i}", {"id": f"never{i}", "ts": n + 2 * TTL_MS, "label": 0}) for i in range(20)]
    malformed = [(f"{pipeline}.features", "bad1", b"{not json"), (f"{pipeline}.feedback", "bad2", {"id": "x", "ts": 1})]
    with receiver() as server:
        service = DriftProcess(bootstrap, pipeline, tmp_path, server, mlflow_tracking)
        service.start()
        try:
            produce(bootstrap, never + feature_records(pipeline, 0, 4_000, lambda i: 0.0 if i < 2_000 else 2.0, seed=3)
                    + records + duplicates_p + duplicates_f + malformed)
            # Once all that is consumed, a label far later in event time moves the join's clock past
            # the never-labelled predictions' TTL; then their late labels arrive.
            wait_until_consumed(bootstrap, f"{pipeline}-drift", [f"{pipeline}.predictions", f"{pipeline}.feedback"])
            produce(bootstrap, [(f"{pipeline}.feedback", "tick", {"id": "tick", "ts": n + TTL_MS + 1_000, "label": 0})])
            wait_until_consumed(bootstrap, f"{pipeline}-drift", [f"{pipeline}.feedback"])
            produce(bootstrap, late)
            wait_until_consumed(bootstrap, f"{pipeline}-drift", [f"{pipeline}.feedback"])
            alerts = read_topic(bootstrap, f"{pipeline}.alerts",
                                lambda ms: {("adwin", "x"), ("ddm", None)} <= {(a["detector"], a["feature"]) for a in alerts_where(ms, kind="drift")})
            dead = read_topic(bootstrap, f"{pipeline}.dlq", lambda ms: len(ms) >= 2, timeout=30)
            deadline = time.monotonic() + 30
            while len(server.on("/ci")) < 1 and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(1)
        finally:
            exit_code = service.stop()
    assert exit_code == 0, service.logs()

    drifts = alerts_where(alerts, kind="drift")
    data = [a for a in drifts if a["feature"] == "x"]
    concept = [a for a in drifts if a["detector"] == "ddm"]
    # One detector per partition (3): each sees the change once, soon after it (event i has ts i s).
    assert sorted(a["detected_at"]["partition"] for a in data) == [0, 1, 2], [(a["index"], a["detected_at"]) for a in drifts]
    assert not [a for a in drifts if a["feature"] == "y"]
    assert all(2_000_000 <= a["detected_at"]["ts_ms"] <= 2_600_000 for a in data), [a["detected_at"] for a in data]
    for alert in data:
        (window_range,) = alert["window"]["ranges"]
        assert (window_range["topic"], window_range["partition"]) == (f"{pipeline}.features", alert["detected_at"]["partition"])
        assert alert["window"]["ts_to_ms"] == alert["detected_at"]["ts_ms"] and alert["window"]["ts_from_ms"] <= 2_000_000
    assert 1 <= len(concept) <= 3 and all(a["detected_at"]["ts_ms"] >= 4_500 for a in concept), concept
    assert concept[0]["model"] == {"name": f"{pipeline}-model", "version": "3"}
    assert len({a["id"] for a in alerts_where(alerts)}) == len(alerts), "an alert was published twice"

    # The join, as checkpointed by the service: every pair once, duplicates, late and never-labelled counted.
    states = partition_checkpoints(service.checkpoint)
    stats = {name: sum(getattr(state["state"].join.stats, name) for state in states.values())
             for name in ("joined", "duplicate_predictions", "duplicate_feedback", "never_labelled", "late_feedback", "orphan_feedback")}
    assert stats["joined"] == n
    assert (stats["duplicate_predictions"], stats["duplicate_feedback"]) == (n // 20, n // 20)
    assert stats["never_labelled"] == 20 and stats["late_feedback"] == 20 and stats["orphan_feedback"] == 0
    assert all(state["outbox"] == [] for state in states.values())

    assert len(dead) == 2
    reasons = {m.key(): dict(m.headers()) for m in dead}
    assert reasons[b"bad1"][b"helicon.stage" if False else "helicon.stage"] == b"drift-decode"
    assert b"label" in reasons[b"bad2"]["helicon.reason"] and reasons[b"bad2"]["helicon.topic"].decode() == f"{pipeline}.feedback"

    # One drift of the pipeline, one retrain: data and concept drift fall in one cooldown.
    (trigger,) = server.on("/ci")
    assert verify(SECRET.encode(), trigger.body, trigger.headers[HEADER])
    assert trigger.headers["Idempotency-Key"] == trigger.json["id"] in {a["id"] for a in drifts}
    assert len(server.on("/slack")) == 2   # one per drifting detector

    # The report, drawn from the topics and their alerts.
    from tests.helpers import run_cli

    completed = run_cli(["drift", "report", "--bootstrap", bootstrap, "--alerts", f"{pipeline}.alerts",
                         "--features", f"{pipeline}.features", "--predictions", f"{pipeline}.predictions",
                         "--feedback", f"{pipeline}.feedback", "--out", str(tmp_path / "report")])
    assert completed.returncode == 0, completed.stderr
    assert sorted(p.name for p in (tmp_path / "report").glob("*.png")) == ["error-rate.png", "feature-x.png", "feature-y.png"]
    page = (tmp_path / "report" / "report.html").read_text()
    assert f"{len(alerts)} detections" in page and page.count("data:image/png;base64,") == 3

    from mlflow.tracking import MlflowClient

    client = MlflowClient(mlflow_tracking)
    experiment = client.get_experiment_by_name("helicon-drift")
    (run,) = client.search_runs([experiment.experiment_id], f"tags.`helicon.pipeline` = '{pipeline}'")
    assert run.data.tags["helicon.model.name"] == f"{pipeline}-model" and run.data.tags["helicon.model.version"] == "3"
    assert run.data.metrics["alerts_drift"] == len(drifts)
    artifacts = [f.path for f in client.list_artifacts(run.info.run_id, "alerts")]
    assert len(artifacts) == len(drifts) + len(alerts_where(alerts, kind="warning"))
    # Detector statistics and join counters, logged every statistics_interval_s (1 s here).
    assert {"join/joined", "feature/x/p0/mean", "feature/x/p0/width"} <= run.data.metrics.keys()


@pytest.mark.parametrize("store", ["file", "s3"])
def test_restart_after_sigkill_neither_repeats_nor_misses_a_drift(
    local_platform: PlatformStatus, platform_env: dict[str, str], tmp_path: Path, store: str,
) -> None:
    bootstrap = local_platform.kafka.endpoint or ""
    pipeline = f"drift-{uuid.uuid4().hex[:8]}"
    bucket, prefix = platform_env["HELICON_S3_BUCKET"], f"drift-checkpoints/{pipeline}"
    checkpoint = f"s3://{bucket}/{prefix}" if store == "s3" else None
    # Events 2 s apart: the second change (6000 s of event time later) is past the 3600 s cooldown.
    level = lambda i: 0.0 if i < 2_000 else (2.0 if i < 5_000 else -1.0)  # noqa: E731
    with receiver() as server:
        service = DriftProcess(bootstrap, pipeline, tmp_path, server, checkpoint=checkpoint, env=platform_env)
        service.start()
        try:
            produce(bootstrap, feature_records(pipeline, 0, 3_000, level, seed=5, step_ms=2_000))
            read_topic(bootstrap, f"{pipeline}.alerts", lambda ms: len(alerts_where(ms, feature="x")) >= 3)
            # More events, then SIGKILL while they are being consumed: some after the last checkpoint.
            produce(bootstrap, feature_records(pipeline, 3_000, 1_000, level, seed=6, step_ms=2_000))
            service.kill()
            produce(bootstrap, feature_records(pipeline, 4_000, 2_000, level, seed=7, step_ms=2_000))
            service.start()
            alerts = read_topic(bootstrap, f"{pipeline}.alerts", lambda ms: len(alerts_where(ms, feature="x")) >= 6)
            deadline = time.monotonic() + 30
            while len(server.on("/ci")) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            exit_code = service.stop()
    assert exit_code == 0, service.logs()
    on_x = alerts_where(alerts, feature="x")
    # Each partition's detector alerts each change exactly once: nothing repeated, nothing missed.
    changes = {"first": (4_000_000, 4_900_000), "second": (10_000_000, 10_900_000)}
    for name, (low, high) in changes.items():
        seen = sorted(a["detected_at"]["partition"] for a in on_x if low <= a["detected_at"]["ts_ms"] <= high)
        assert seen == [0, 1, 2], (name, [a["detected_at"] for a in on_x])
    assert len(on_x) == 6 and len({a["id"] for a in on_x}) == 6
    assert alerts_where(alerts, feature="y") == []
    keys = [request.headers["Idempotency-Key"] for request in server.on("/ci")]
    assert len(keys) == 2 and set(keys) <= {a["id"] for a in on_x}
    assert f"restored checkpoint {service.checkpoint}" in service.logs()
    if store == "s3":  # the state is on S3 alone: the pointer and the one checkpoint object it names
        import boto3

        s3 = boto3.client("s3", endpoint_url=platform_env["AWS_ENDPOINT_URL_S3"], region_name="us-east-1",
                          aws_access_key_id=platform_env["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=platform_env["AWS_SECRET_ACCESS_KEY"])
        keys = sorted(item["Key"] for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"])
        parts = ["partition-0", "partition-1", "partition-2", f"replica-{pipeline}-0"]
        # Per part: the pointer and the one checkpoint object it names.
        assert [key.split("/")[-2] for key in keys] == [part for part in parts for _ in range(2)], keys
        assert all(key.endswith("/latest") for key in keys[1::2]), keys
        assert list(tmp_path.glob("checkpoint.pkl*")) == []


def test_a_partition_moving_to_another_replica_carries_its_detectors_and_join(
    local_platform: PlatformStatus, tmp_path: Path,
) -> None:
    bootstrap = local_platform.kafka.endpoint or ""
    pipeline = f"drift-{uuid.uuid4().hex[:8]}"
    group = f"{pipeline}-drift"
    topics = [f"{pipeline}.features", f"{pipeline}.predictions", f"{pipeline}.feedback"]
    level = lambda i: 0.0 if i < 3_000 else 2.0  # noqa: E731
    # 300 predictions; a third labelled before the second replica joins, the rest after.
    predictions = [(topics[1], f"e{i}", {"id": f"e{i}", "ts": i, "prediction": i % 2}) for i in range(300)]
    feedback = [(topics[2], f"e{i}", {"id": f"e{i}", "ts": 400 + i, "label": i % 2}) for i in range(300)]
    with receiver() as server:
        first = DriftProcess(bootstrap, pipeline, tmp_path / "first", server, instance=0)
        second = DriftProcess(bootstrap, pipeline, tmp_path / "second", server, checkpoint=first.checkpoint, instance=1)
        try:
            produce(bootstrap, feature_records(pipeline, 0, 1_500, level, seed=21) + predictions + feedback[:100])
            first.start()
            wait_until_consumed(bootstrap, group, topics)
            # The second replica joins: the group rebalances, the first checkpoints what it gives up.
            second.start()
            deadline = time.monotonic() + 120
            while "restored checkpoint" not in second.logs() and time.monotonic() < deadline:
                time.sleep(0.3)
            assert "restored checkpoint" in second.logs(), second.logs()
            produce(bootstrap, feature_records(pipeline, 1_500, 3_000, level, seed=22) + feedback[100:])
            alerts = read_topic(bootstrap, f"{pipeline}.alerts", lambda ms: len(alerts_where(ms, feature="x")) >= 3)
            wait_until_consumed(bootstrap, group, topics)
        finally:
            exit_codes = (first.stop(), second.stop())
    assert exit_codes == (0, 0), first.logs() + second.logs()
    on_x = alerts_where(alerts, feature="x")
    assert sorted(a["detected_at"]["partition"] for a in on_x) == [0, 1, 2], [a["detected_at"] for a in on_x]
    assert alerts_where(alerts, feature="y") == []
    for alert in on_x:
        # The detector saw its partition from offset 0, whichever replica held it: its stream index
        # is the offset (a fresh detector on the new replica would count from the rebalance).
        assert alert["index"] == alert["detected_at"]["offset"], alert
        assert 3_000_000 <= alert["detected_at"]["ts_ms"] <= 3_300_000, alert
    moved = [line for line in second.logs().splitlines() if "restored checkpoint" in line]
    assert moved and all(" 0 feature events" not in line for line in moved), moved
    assert "revoked partitions" in first.logs()
    # The join moved too: every label found its prediction, whichever replica held it.
    states = partition_checkpoints(first.checkpoint)
    joined = sum(state["state"].join.stats.joined for state in states.values())
    orphans = sum(state["state"].join.stats.orphan_feedback + state["state"].join.stats.never_labelled
                  for state in states.values())
    pending = sum(state["state"].join.pending_predictions + state["state"].join.pending_feedback for state in states.values())
    assert (joined, orphans, pending) == (300, 0, 0)
