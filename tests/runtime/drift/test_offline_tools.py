"""`helicon drift replay`, `report` and `export-window` as a user runs them."""

from __future__ import annotations

import io
import json
import os
import uuid
from pathlib import Path

import pytest

from helicon.infra.local import PlatformStatus
from helicon.runtime.drift.synthetic import feature_stream, outcome_stream
from tests.helpers import run_cli


def _write_stream(path: Path, flat: bool = False) -> None:
    features = feature_stream(6_000, 2, (3_000,), 2.0, seed=8, drifting=1)
    outcomes = outcome_stream(6_000, (3_000,), 0.1, 0.4, seed=8)
    with path.open("w") as file:
        for index, (row, outcome) in enumerate(zip(features, outcomes)):
            if flat:
                file.write(json.dumps({**row["features"], "label": outcome["label"], "prediction": outcome["prediction"]}) + "\n")
            else:
                file.write(json.dumps({"features": {**row["features"], "colour": "red"}, **{k: outcome[k] for k in ("label", "prediction")}}) + "\n")
            if index == 10:
                file.write("{broken\n")


@pytest.mark.parametrize("flat", [False, True])
def test_replay_prints_one_json_line_per_detection(tmp_path: Path, flat: bool) -> None:
    stream = tmp_path / "stream.jsonl"
    _write_stream(stream, flat)
    completed = run_cli(["drift", "replay", "--input", str(stream)])
    assert completed.returncode == 0, completed.stderr
    assert f"{stream}:12:" in completed.stderr   # the malformed line, named by file:line
    detections = [json.loads(line) for line in completed.stdout.splitlines()]
    assert all({"index", "kind", "detector", "feature"} <= d.keys() for d in detections)
    data = [d for d in detections if d["feature"] is not None]
    assert [(d["kind"], d["detector"], d["feature"]) for d in data] == [("drift", "adwin", "f00")]
    assert 3_000 <= data[0]["index"] <= 3_100
    concept = [d for d in detections if d["detector"] == "ddm" and d["kind"] == "drift"]
    assert concept and 3_000 <= concept[0]["index"] <= 4_000
    assert all(d["kind"] in ("warning", "drift") for d in detections)


def test_replay_takes_the_detector_config(tmp_path: Path) -> None:
    stream = tmp_path / "stream.jsonl"
    _write_stream(stream)
    config = tmp_path / "drift.yaml"
    config.write_text("features:\n  f00: {detector: page_hinkley}\nconcept: {detector: hddm_a}\n")
    completed = run_cli(["drift", "replay", "--input", str(stream), "--config", str(config)])
    assert completed.returncode == 0, completed.stderr
    detectors = {json.loads(line)["detector"] for line in completed.stdout.splitlines()}
    assert "page_hinkley" in detectors and "hddm_a" in detectors and "ddm" not in detectors


def test_replay_rejects_a_bad_config_naming_the_field(tmp_path: Path) -> None:
    stream = tmp_path / "stream.jsonl"
    stream.write_text('{"x": 1}\n')
    config = tmp_path / "drift.yaml"
    config.write_text("default: {delta: 2}\n")
    completed = run_cli(["drift", "replay", "--input", str(stream), "--config", str(config)])
    assert completed.returncode == 2 and "default.delta" in completed.stderr and str(config) in completed.stderr


def test_report_writes_figures_and_one_self_contained_page(tmp_path: Path) -> None:
    stream = tmp_path / "stream.jsonl"
    _write_stream(stream)
    completed = run_cli(["drift", "report", "--input", str(stream), "--out", str(tmp_path / "report")])
    assert completed.returncode == 0, completed.stderr
    figures = sorted(path.name for path in (tmp_path / "report").glob("*.png"))
    assert figures == ["error-rate.png", "feature-colour.png", "feature-f00.png", "feature-f01.png"]
    assert all((tmp_path / "report" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for name in figures)
    page = (tmp_path / "report" / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 4 and 'src="http' not in page and "<td>drift</td>" in page


@pytest.mark.platform
def test_export_window_to_s3_and_locally_from_an_alert_on_the_alerts_topic(
    local_platform: PlatformStatus, platform_env: dict[str, str], tmp_path: Path,
) -> None:
    import boto3
    import pandas as pd
    from confluent_kafka import Producer

    bootstrap = local_platform.kafka.endpoint or ""
    pipeline = f"export-{uuid.uuid4().hex[:8]}"
    delivered: list = []
    producer = Producer({"bootstrap.servers": bootstrap})
    for index in range(60):
        value = {"id": f"e{index}", "ts": index, "features": {"x": float(index), "c": "a"}}
        producer.produce(f"{pipeline}.features", key=f"e{index}".encode(), value=json.dumps(value).encode(),
                         partition=index % 2, on_delivery=lambda error, message: delivered.append(message))
    assert producer.flush(30) == 0
    offsets = {(m.partition(), m.offset()): json.loads(m.value())["id"] for m in delivered}
    # A window of offsets 5..14 of partition 0 and 3..7 of partition 1.
    ranges = [{"topic": f"{pipeline}.features", "partition": 0, "first_offset": 5, "last_offset": 14},
              {"topic": f"{pipeline}.features", "partition": 1, "first_offset": 3, "last_offset": 7}]
    alert = {"id": "alert-1", "kind": "drift", "window": {"start_index": 0, "end_index": 14, "ranges": ranges,
                                                          "ts_from_ms": 0, "ts_to_ms": 59, "clipped": False}}
    producer.produce(f"{pipeline}.alerts", key=b"adwin:x", value=json.dumps({**alert, "id": "other"}).encode())
    producer.produce(f"{pipeline}.alerts", key=b"adwin:x", value=json.dumps(alert).encode())
    assert producer.flush(30) == 0

    env = {**os.environ, **platform_env}
    s3_key = f"windows/{pipeline}.parquet"
    completed = run_cli(["drift", "export-window", "--bootstrap", bootstrap, "--alerts", f"{pipeline}.alerts",
                         "--alert-id", "alert-1", "--output", f"s3://{platform_env['HELICON_S3_BUCKET']}/{s3_key}"], env=env)
    assert completed.returncode == 0, completed.stderr
    assert "wrote 15 rows" in completed.stdout

    client = boto3.client("s3", endpoint_url=platform_env["AWS_ENDPOINT_URL_S3"],
                          aws_access_key_id=platform_env["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=platform_env["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1")
    body = client.get_object(Bucket=platform_env["HELICON_S3_BUCKET"], Key=s3_key)["Body"].read()
    frame = pd.read_parquet(io.BytesIO(body))
    expected = sorted((p, o) for p, o in offsets if (p == 0 and 5 <= o <= 14) or (p == 1 and 3 <= o <= 7))
    assert sorted(zip(frame["_partition"], frame["_offset"])) == expected
    assert list(frame["id"]) == [offsets[key] for key in sorted(zip(frame["_partition"], frame["_offset"]))]
    assert frame["features.x"].dtype.kind == "f" and set(frame["features.c"]) == {"a"}

    alert_file = tmp_path / "alert.json"
    alert_file.write_text(json.dumps(alert))
    local = tmp_path / "out" / "window.parquet"
    completed = run_cli(["drift", "export-window", "--bootstrap", bootstrap, "--alert", str(alert_file), "--output", str(local)], env=env)
    assert completed.returncode == 0, completed.stderr
    assert len(pd.read_parquet(local)) == 15


def test_export_window_refuses_ambiguous_arguments(tmp_path: Path) -> None:
    completed = run_cli(["drift", "export-window", "--output", str(tmp_path / "x.parquet")])
    assert completed.returncode == 2 and "exactly one of --alert" in completed.stderr


@pytest.mark.parametrize("content,field", [
    ("monitor:\n  default: {delta: 2}\n", "monitor.default.delta"),
    ("service:\n  checkpoint_interval_s: 0\n", "checkpoint_interval_s"),
    ("service:\n  topics: 1\n", "topics"),
])
def test_run_drift_refuses_a_bad_config_naming_the_field(tmp_path: Path, content: str, field: str) -> None:
    config = tmp_path / "drift.yaml"
    config.write_text(content)
    completed = run_cli(["run", "drift", "--config", str(config), "--bootstrap", "127.0.0.1:1"])
    assert completed.returncode == 2, completed.stderr
    assert f"invalid drift setting in {config}: {field}" in completed.stderr
