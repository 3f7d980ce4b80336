"""The shared /healthz, /readyz, /metrics server and the HELICON_METRICS_PORT convention."""

from __future__ import annotations

import time

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
