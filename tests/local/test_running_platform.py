"""The running local platform, as users and outside clients see it."""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import subprocess
import uuid

import psutil
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from helicon.infra.local import PlatformStatus
from helicon.infra.local.services.s3 import DEFAULT_BUCKET, s3_client
from tests.helpers import run_cli


def test_status_json_reports_every_service_healthy(local_platform: PlatformStatus) -> None:
    completed = run_cli(["local", "status", "--state-dir", str(local_platform.state_dir), "--json"])
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert set(report) == {"kafka", "mlflow", "s3"}
    assert re.fullmatch(r"127\.0\.0\.1:\d+", report["kafka"]["bootstrap"])
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", report["mlflow"]["url"])
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", report["s3"]["endpoint"])
    assert all(report[name]["healthy"] is True for name in report)
    assert report["kafka"]["log"].endswith("kafka/kafka.log")


def test_up_twice_is_a_no_op(local_platform: PlatformStatus) -> None:
    before = {service.name: service.pid for service in local_platform.services}
    completed = run_cli(["local", "up", "--state-dir", str(local_platform.state_dir)])
    assert completed.returncode == 0, completed.stderr
    assert "already running" in completed.stderr
    after = json.loads(run_cli(["local", "status", "--state-dir", str(local_platform.state_dir), "--json"]).stdout)
    assert {name: after[name]["pid"] for name in after} == before


def test_kcat_produces_to_and_consumes_from_the_broker(local_platform: PlatformStatus) -> None:
    kcat = shutil.which("kcat")
    assert kcat, "kcat is not installed: `make test` installs it (apt-get install kcat)"
    topic = f"kcat-{uuid.uuid4().hex[:8]}"
    lines = [f"line-{index}" for index in range(5)]
    subprocess.run([kcat, "-b", local_platform.kafka.endpoint, "-t", topic, "-P", "-p", "0"],
                   input="\n".join(lines) + "\n", text=True, check=True, timeout=60)
    consumed = subprocess.run([kcat, "-b", local_platform.kafka.endpoint, "-t", topic, "-C", "-e", "-q", "-p", "0"],
                              capture_output=True, text=True, check=True, timeout=60)
    assert consumed.stdout.split() == lines


def test_topics_are_auto_created_with_three_partitions(local_platform: PlatformStatus) -> None:
    topic = f"auto-{uuid.uuid4().hex[:8]}"
    producer = Producer({"bootstrap.servers": local_platform.kafka.endpoint})
    producer.produce(topic, value=b"first use creates the topic")
    assert producer.flush(30) == 0
    metadata = AdminClient({"bootstrap.servers": local_platform.kafka.endpoint}).list_topics(topic, timeout=10)
    assert len(metadata.topics[topic].partitions) == 3


def test_every_service_listens_on_loopback_only(local_platform: PlatformStatus) -> None:
    for service in local_platform.services:
        family = psutil.Process(service.pid)
        processes = [family, *family.children(recursive=True)]
        listening = [conn.laddr.ip for process in processes for conn in process.net_connections(kind="inet")
                     if conn.status == psutil.CONN_LISTEN]
        assert listening, f"{service.name} listens nowhere"
        assert all(_is_loopback(address) for address in listening), f"{service.name} listens on {listening}"


def test_mlflow_registry_keeps_models_and_aliases(local_platform: PlatformStatus) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=local_platform.mlflow.endpoint, registry_uri=local_platform.mlflow.endpoint)
    name = f"registry-check-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name, description="registry round trip")
    assert client.get_registered_model(name).description == "registry round trip"


def test_s3_endpoint_has_the_default_bucket_and_keeps_objects(local_platform: PlatformStatus) -> None:
    client = s3_client(local_platform.s3.endpoint or "")
    key = f"checks/{uuid.uuid4().hex}.txt"
    client.put_object(Bucket=DEFAULT_BUCKET, Key=key, Body=b"stored through boto3")
    assert client.get_object(Bucket=DEFAULT_BUCKET, Key=key)["Body"].read() == b"stored through boto3"


def _is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return (getattr(ip, "ipv4_mapped", None) or ip).is_loopback
