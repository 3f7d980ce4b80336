"""The shared /healthz, /readyz, /metrics server and the HELICON_METRICS_PORT convention."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests
from prometheus_client import CollectorRegistry, Counter

from helicon.runtime.endpoints import EndpointError, ServiceEndpoints, metrics_port_from_env, resolve_port


def test_port_convention() -> None:
    assert metrics_port_from_env({}) is None
    assert metrics_port_from_env({"HELICON_METRICS_PORT": " 9400 "}) == 9400
    assert resolve_port(8081, 8080, {"HELICON_METRICS_PORT": "9400"}) == 8081  # the service's own setting wins
    assert resolve_port(None, 8080, {"HELICON_METRICS_PORT": "9400"}) == 9400
    assert resolve_port(None, 8080, {}) == 8080
    for bad in ("http", "-1", "70000"):
        with pytest.raises(EndpointError, match="HELICON_METRICS_PORT must be a port number"):
            metrics_port_from_env({"HELICON_METRICS_PORT": bad})


def test_endpoints_answer_liveness_readiness_and_metrics() -> None:
    registry = CollectorRegistry()
    Counter("helicon_test_things", "Things.", registry=registry).inc(3)
    state = {"ready": False}

    def ready() -> bool:
        if state["ready"] is None:
            raise RuntimeError("broken readiness check")
        return bool(state["ready"])

    endpoints = ServiceEndpoints("127.0.0.1", 0, registry, ready, stall_s=0.5)
    endpoints.start()
    base = f"http://127.0.0.1:{endpoints.port}"
    try:
        assert requests.get(f"{base}/healthz", timeout=5).status_code == 200
        assert requests.get(f"{base}/readyz", timeout=5).status_code == 503
        state["ready"] = True
        assert requests.get(f"{base}/readyz", timeout=5).status_code == 200
        state["ready"] = None
        assert requests.get(f"{base}/readyz", timeout=5).status_code == 503
        scrape = requests.get(f"{base}/metrics", timeout=5)
        assert scrape.status_code == 200 and "helicon_test_things_total 3.0" in scrape.text
        assert requests.get(f"{base}/nope", timeout=5).status_code == 404
        time.sleep(0.6)  # no beat for longer than stall_s: the loop is wedged
        assert requests.get(f"{base}/healthz", timeout=5).status_code == 503
        endpoints.beat()
        assert requests.get(f"{base}/healthz", timeout=5).status_code == 200
    finally:
        endpoints.stop()


BRIDGE = {"bootstrap": "127.0.0.1:9092", "input_topic": "f", "output_topic": "p", "dlq_topic": "d", "group": "g",
          "model_uri": "models:/m@champion"}


def test_bridge_port_the_shared_variable_and_its_aliases(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from helicon.runtime.bridge.settings import BridgeSettings, SettingsError, load_settings

    for variable in ("HELICON_METRICS_PORT", "HELICON_BRIDGE_HTTP_PORT", "HELICON_BRIDGE_CONFIG_FILE"):
        monkeypatch.delenv(variable, raising=False)
    assert BridgeSettings(**BRIDGE).http_port == 8080
    assert BridgeSettings(**BRIDGE).http_host == "0.0.0.0"  # a kubelet probes the pod's IP
    monkeypatch.setenv("HELICON_METRICS_PORT", "9400")
    assert BridgeSettings(**BRIDGE).http_port == 9400
    config = tmp_path / "bridge.yaml"
    config.write_text("http_port: 9500\n")
    assert load_settings(config_file=config, **BRIDGE).http_port == 9500  # the bridge's own setting wins
    monkeypatch.setenv("HELICON_BRIDGE_HTTP_PORT", "0")  # the demo sets both
    assert BridgeSettings(**BRIDGE).http_port == 0
    assert load_settings(http_port=9600, **BRIDGE).http_port == 9600  # --metrics-port
    monkeypatch.delenv("HELICON_BRIDGE_HTTP_PORT")
    monkeypatch.setenv("HELICON_METRICS_PORT", "metrics")
    with pytest.raises(SettingsError, match="HELICON_METRICS_PORT must be a port number"):
        load_settings(**BRIDGE)


def test_drift_settings_accept_the_workloads_flat_file(tmp_path: Path) -> None:
    from helicon.runtime.drift.config import ConfigError
    from helicon.runtime.drift.settings import load_settings

    flat = tmp_path / "helicon.yaml"
    flat.write_text("batch_size: 100\nmonitor: {default: {detector: adwin, delta: 0.01}}\n")
    settings = load_settings(flat, {"bootstrap": "k:9092", "pipeline": "fraud", "metrics_port": 9400})
    assert (settings.batch_size, settings.dlq_topic, settings.metrics_port) == (100, "fraud.dlq", 9400)
    empty = tmp_path / "empty.yaml"
    empty.write_text("{}\n")  # what the workloads' ConfigMap holds when no settings are given
    assert load_settings(empty, {"bootstrap": "k:9092"}).pipeline == "demo"
    flat.write_text("batch_sise: 100\n")
    with pytest.raises(ConfigError, match="batch_sise"):
        load_settings(flat, {"bootstrap": "k:9092"})


def test_drift_metrics_track_lag_and_checkpoint_age() -> None:
    import json

    from prometheus_client import generate_latest

    from helicon.runtime.drift.metrics import DriftMetrics

    metrics = DriftMetrics()
    metrics.stats(json.dumps({"topics": {"fraud.features": {"partitions": {
        "0": {"consumer_lag": 42}, "1": {"consumer_lag": -1}, "-1": {"consumer_lag": 7}}}}}))
    metrics.alerts.labels("drift", "adwin").inc()
    time.sleep(0.05)
    text = generate_latest(metrics.registry).decode()
    assert 'helicon_drift_consumer_lag{partition="0",topic="fraud.features"} 42.0' in text
    assert 'partition="1"' not in text and 'partition="-1"' not in text
    assert 'helicon_drift_alerts_total{detector="adwin",kind="drift"} 1.0' in text
    age = float(next(line.split()[1] for line in text.splitlines()
                     if line.startswith("helicon_drift_checkpoint_age_seconds ")))
    assert age >= 0.05
    metrics.checkpointed()
    text = generate_latest(metrics.registry).decode()
    assert float(next(line.split()[1] for line in text.splitlines()
                      if line.startswith("helicon_drift_checkpoint_age_seconds "))) < age
