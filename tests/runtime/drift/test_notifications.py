"""Webhooks and retrain triggers received by a real local HTTP server: signature, retries,
idempotency key, and exactly one trigger per drift."""

from __future__ import annotations

import time

import pytest

from helicon.runtime.drift.config import DriftConfig
from helicon.runtime.drift.delivery import Delivery, Dispatcher
from helicon.runtime.drift.monitor import DriftMonitor
from helicon.runtime.drift.signing import HEADER, verify
from helicon.runtime.drift.sinks import Notifier
from helicon.runtime.drift.synthetic import feature_stream
from helicon.runtime.drift.window import Position
from tests.runtime.drift.receiver import Receiver, receiver

SECRET = "s3cret-hmac-key"
ENVIRON = {"CI_TOKEN": "token-123", "HMAC_KEY": SECRET}


def _wait_for(condition, timeout: float = 30.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)


def _config(server: Receiver, kind: str = "generic") -> DriftConfig:
    return DriftConfig.model_validate({
        "drift": {"webhooks": [{"url": f"{server.url}/slack"}],
                  "triggers": [{"kind": kind, "url": f"{server.url}/ci", "token_env": "CI_TOKEN", "secret_env": "HMAC_KEY"}]},
        "delivery": {"retries": 3, "backoff_s": 0.01, "cooldown_s": 3600},
    })


def _drive(monitor: DriftMonitor, notifier: Notifier, dispatcher: Dispatcher, rows: list[dict], start_ts: int = 0) -> list:
    alerts = []
    for index, row in enumerate(rows):
        for alert in monitor.observe_features(row["features"], Position("p.features", index % 3, index, start_ts + index * 1000)):
            alerts.append(alert)
            for delivery in notifier.plan(alert, now_ms=0):
                dispatcher.deliver(delivery)
    return alerts


def test_one_drift_across_features_fires_one_signed_trigger_and_one_webhook_per_detector() -> None:
    with receiver() as server:
        config = _config(server)
        monitor, notifier = DriftMonitor(config, "p"), Notifier(config, ENVIRON)
        dispatcher = Dispatcher(3, 0.01, 5, environ=ENVIRON)
        # A 2σ change in 3 of 4 features at once: one drift of the data, seen by three detectors.
        alerts = _drive(monitor, notifier, dispatcher, feature_stream(4_000, 4, (2_000,), 2.0, seed=4, drifting=3))
        dispatcher.close()
    drifted = {alert.detection.feature for alert in alerts}
    assert drifted == {"f00", "f01", "f02"}
    triggers, hooks = server.on("/ci"), server.on("/slack")
    assert len(triggers) == 1, [t.json["detector_id"] for t in triggers]
    assert len(hooks) == len({a.detection.detector_id for a in alerts})
    trigger = triggers[0]
    assert verify(SECRET.encode(), trigger.body, trigger.headers[HEADER])
    assert not verify(b"wrong key", trigger.body, trigger.headers[HEADER])
    assert trigger.headers["Authorization"] == "Bearer token-123"
    assert trigger.headers["Idempotency-Key"] == trigger.json["id"] == alerts[0].key
    window = trigger.json["window"]
    assert window["ranges"] and window["ts_from_ms"] <= window["ts_to_ms"]
    # Detectors are per partition: the window names the partition whose detector fired, and its offsets.
    detected = trigger.json["detected_at"]
    assert [(r["topic"], r["partition"]) for r in window["ranges"]] == [("p.features", detected["partition"])]
    assert window["ranges"][0]["last_offset"] == detected["offset"]
    assert "text" in hooks[0].json and hooks[0].json["helicon"]["kind"] == "drift"


def test_a_second_drift_after_the_cooldown_fires_a_second_trigger() -> None:
    with receiver() as server:
        config = _config(server).model_copy(update={"delivery": _config(server).delivery.model_copy(update={"cooldown_s": 60})})
        monitor, notifier = DriftMonitor(config, "p"), Notifier(config, ENVIRON)
        dispatcher = Dispatcher(3, 0.01, 5, environ=ENVIRON)
        # Events 1 s apart: the second change comes 3000 s after the first, past the 60 s cooldown.
        alerts = _drive(monitor, notifier, dispatcher, feature_stream(6_000, 1, (2_000, 5_000), 2.0, seed=2))
        dispatcher.close()
    # Two changes, each seen by the detector of each of the 3 partitions; one trigger per change.
    assert len([a for a in alerts if a.detection.kind == "drift"]) == 6
    keys = [t.headers["Idempotency-Key"] for t in server.on("/ci")]
    assert len(keys) == 2 and len(set(keys)) == 2


def test_replayed_detection_with_the_same_key_is_not_sent_twice() -> None:
    with receiver() as server:
        config = _config(server)
        dispatcher = Dispatcher(3, 0.01, 5, environ=ENVIRON)
        rows = feature_stream(3_000, 1, (1_500,), 2.0, seed=9)
        first = _drive(DriftMonitor(config, "p"), notifier := Notifier(config, ENVIRON), dispatcher, rows)
        second = _drive(DriftMonitor(config, "p"), notifier, dispatcher, rows)   # same events again
        dispatcher.close()
    assert [a.key for a in first] == [a.key for a in second] and first
    assert len(server.on("/ci")) == 1


@pytest.mark.parametrize("kind", ["github", "gitlab"])
def test_ci_payload_shapes(kind: str) -> None:
    with receiver() as server:
        config = _config(server, kind)
        dispatcher = Dispatcher(3, 0.01, 5, environ=ENVIRON)
        _drive(DriftMonitor(config, "p"), Notifier(config, ENVIRON), dispatcher, feature_stream(3_000, 1, (1_500,), 2.0, seed=1))
        dispatcher.close()
    (trigger,) = server.on("/ci")
    body = trigger.json
    assert verify(SECRET.encode(), trigger.body, trigger.headers[HEADER])
    if kind == "github":
        assert body["ref"] == "main" and trigger.headers["Authorization"] == "Bearer token-123"
        assert all(isinstance(value, str) for value in body["inputs"].values())
        assert '"ranges"' in body["inputs"]["helicon_window"]
    else:
        assert body["token"] == "token-123" and body["ref"] == "main"
        assert set(body["variables"]) >= {"HELICON_ALERT_ID", "HELICON_WINDOW"}


def test_server_errors_are_retried_with_backoff_and_delivered_once() -> None:
    with receiver() as server:
        server.failures["/ci"] = [503, 500]
        dispatcher = Dispatcher(retries=3, backoff_s=0.01, timeout_s=5, environ=ENVIRON)
        dispatcher.deliver(Delivery("trigger:generic", f"{server.url}/ci", {"id": "k"}, "k", secret_env="HMAC_KEY"))
        dispatcher.close()
    attempts = server.on("/ci")
    assert len(attempts) == 3 and {a.headers["Idempotency-Key"] for a in attempts} == {"k"}
    assert (dispatcher.delivered, dispatcher.failed) == (1, 0)


def test_an_unreachable_endpoint_is_retried_reported_and_never_blocks() -> None:
    dispatcher = Dispatcher(retries=2, backoff_s=0.2, timeout_s=1)
    started = time.monotonic()
    for index in range(3):
        dispatcher.deliver(Delivery("webhook", "http://127.0.0.1:9/hook", {"n": index}, f"k{index}"))
    queued_in = time.monotonic() - started
    _wait_for(lambda: dispatcher.failed == 3)
    dispatcher.close()
    assert dispatcher.failed == 3 and dispatcher.delivered == 0
    assert queued_in < 0.5, "queuing a delivery must not wait for the endpoint"


def test_missing_credentials_name_the_field() -> None:
    from helicon.runtime.drift.config import ConfigError

    config = DriftConfig.model_validate({"drift": {"triggers": [{"url": "http://127.0.0.1:1/ci", "secret_env": "NOPE_KEY"}]}})
    with pytest.raises(ConfigError, match=r"drift.triggers.0.secret_env: environment variable NOPE_KEY is not set"):
        Notifier(config, {}).check_environment()
