"""``helicon drift export-window``: materialise an alert's fresh-data window as Parquet.

Reads exactly the offset ranges the alert names (per topic and partition, inclusive) from Kafka
and writes one row per message: ``_topic``, ``_partition``, ``_offset``, ``_timestamp_ms``, the
value's top-level fields, and each feature flattened as ``features.<name>``. The destination is a
local path or ``s3://bucket/key`` (boto3; ``AWS_ENDPOINT_URL_S3`` and the usual AWS variables
choose the endpoint and credentials).
"""

from __future__ import annotations

import io
import json
import time
import uuid
from pathlib import Path
from typing import Any

from helicon.runtime.drift.window import FreshDataWindow


class ExportError(RuntimeError):
    """The window could not be read or written; the message says which range or destination."""


def read_window(bootstrap: str, window: FreshDataWindow, timeout_s: float = 60.0) -> list[dict[str, Any]]:
    """The messages of ``window``'s offset ranges, decoded and flattened, in (topic, partition, offset) order."""
    from confluent_kafka import Consumer, TopicPartition

    from helicon.runtime.kafka_client import client_config

    if not window.ranges:
        raise ExportError("the window names no offset ranges (was it produced by an offline replay?)")
    consumer = Consumer(client_config({"bootstrap.servers": bootstrap, "group.id": f"helicon-export-{uuid.uuid4().hex}",
                                       "enable.auto.commit": False, "auto.offset.reset": "earliest"}))
    wanted = {(r.topic, r.partition): r for r in window.ranges}
    consumer.assign([TopicPartition(r.topic, r.partition, r.first_offset) for r in window.ranges])
    rows: list[dict[str, Any]] = []
    done: set[tuple[str, int]] = set()
    deadline = time.monotonic() + timeout_s
    try:
        while len(done) < len(wanted):
            if time.monotonic() > deadline:
                missing = ", ".join(f"{t}[{p}]" for t, p in wanted.keys() - done)
                raise ExportError(f"timed out reading {missing} from {bootstrap}")
            for message in consumer.consume(500, 0.5):
                if message.error() is not None:
                    continue
                key = (message.topic(), message.partition())
                bounds = wanted.get(key)
                if bounds is None or key in done or message.offset() > bounds.last_offset:
                    if bounds is not None:
                        done.add(key)
                    continue
                rows.append(_flatten(message))
                if message.offset() >= bounds.last_offset:
                    done.add(key)
    finally:
        consumer.close()
    rows.sort(key=lambda row: (row["_topic"], row["_partition"], row["_offset"]))
    return rows


def write_parquet(rows: list[dict[str, Any]], destination: str) -> str:
    """Write ``rows`` to a local path or ``s3://bucket/key``; returns where it went."""
    import pandas as pd

    frame = pd.DataFrame.from_records(rows)
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    if destination.startswith("s3://"):
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, _, key = destination[len("s3://"):].partition("/")
        if not bucket or not key:
            raise ExportError(f"--output {destination}: expected s3://BUCKET/KEY")
        try:
            boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())
        except (BotoCoreError, ClientError) as error:
            raise ExportError(f"cannot write {destination}: {error}") from None
        return destination
    path = Path(destination)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return str(path)


def window_from_alert(alert: dict[str, Any]) -> FreshDataWindow:
    """The window of an alert object (or a bare window object)."""
    return FreshDataWindow.from_json(alert.get("window", alert))


def find_alert(bootstrap: str, alerts_topic: str, alert_id: str, timeout_s: float = 30.0) -> dict[str, Any]:
    """The alert with ``alert_id`` on ``alerts_topic`` (read from the beginning)."""
    from confluent_kafka import Consumer

    from helicon.runtime.kafka_client import client_config

    consumer = Consumer(client_config({"bootstrap.servers": bootstrap, "group.id": f"helicon-export-{uuid.uuid4().hex}",
                                       "enable.auto.commit": False, "auto.offset.reset": "earliest",
                                       "enable.partition.eof": True}))
    consumer.subscribe([alerts_topic])
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            for message in consumer.consume(500, 0.5):
                if message.error() is not None:
                    continue
                try:
                    value = json.loads(message.value())
                except ValueError:
                    continue
                if isinstance(value, dict) and value.get("id") == alert_id:
                    return value
    finally:
        consumer.close()
    raise ExportError(f"no alert with id {alert_id} on {alerts_topic} (read for {timeout_s:.0f}s)")


def _flatten(message: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"_topic": message.topic(), "_partition": message.partition(), "_offset": message.offset(),
                           "_timestamp_ms": message.timestamp()[1]}
    try:
        value = json.loads(message.value())
    except (TypeError, ValueError):
        row["_raw"] = message.value()
        return row
    if not isinstance(value, dict):
        row["value"] = json.dumps(value)
        return row
    for key, item in value.items():
        if key == "features" and isinstance(item, dict):
            row.update({f"features.{name}": feature for name, feature in item.items()})
        elif isinstance(item, (dict, list)):
            row[key] = json.dumps(item, sort_keys=True)
        else:
            row[key] = item
    return row
