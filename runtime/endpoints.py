"""The HTTP endpoints every runtime service serves: ``/healthz``, ``/readyz`` and ``/metrics``.

One convention for the bridge, the drift monitor and the online learner, and what the Kubernetes
workloads (``helicon.components.workloads``) probe: the port comes from ``HELICON_METRICS_PORT``
(the workloads set it; a service's own port setting, where it has one, takes precedence), the
server listens on all interfaces (a kubelet probes the pod's IP), and

- ``GET /healthz`` is 200 while the service's loop has turned within ``stall_s`` (liveness),
- ``GET /readyz`` is 200 when the service says it is ready (consumer assigned, model loaded,
  not stopping), 503 otherwise (readiness),
- ``GET /metrics`` is the service's Prometheus registry.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

METRICS_PORT_VARIABLE = "HELICON_METRICS_PORT"
DEFAULT_HOST = "0.0.0.0"  # noqa: S104 - probes and scrapes come from outside the pod


class EndpointError(ValueError):
    """A port setting is not a port; the message names the variable."""


def metrics_port_from_env(env: Mapping[str, str] | None = None) -> int | None:
    """``HELICON_METRICS_PORT`` as a port number (``0`` picks a free one), or None when unset or empty."""
    env = os.environ if env is None else env
    raw = (env.get(METRICS_PORT_VARIABLE) or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) > 65535:
        raise EndpointError(f"{METRICS_PORT_VARIABLE} must be a port number 0–65535 (got {raw!r})")
    return int(raw)


def resolve_port(specific: int | None, default: int | None, env: Mapping[str, str] | None = None) -> int | None:
    """The service's port: its own setting when given, else ``HELICON_METRICS_PORT``, else ``default``."""
    if specific is not None:
        return specific
    from_env = metrics_port_from_env(env)
    return from_env if from_env is not None else default


class ServiceEndpoints:
    """Serves the endpoints on a daemon thread; ``port=0`` picks a free port (see :attr:`port`).

    ``ready`` is supplied by the service; :meth:`beat` is called by its loop, and ``/healthz`` fails
    once no beat came for ``stall_s`` seconds (a wedged loop gets the container restarted).
    """

    def __init__(self, host: str, port: int, registry: CollectorRegistry, ready: Callable[[], bool],
                 stall_s: float = 120.0, name: str = "helicon-http") -> None:
        self._ready = ready
        self._stall_s = stall_s
        self._heartbeat = time.monotonic()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server protocol
                path = self.path.split("?", 1)[0]
                if path == "/healthz":
                    server._answer(self, server.alive(), b"alive\n", b"stalled\n")
                elif path == "/readyz":
                    server._answer(self, server.ready(), b"ready\n", b"not ready\n")
                elif path == "/metrics":
                    body = generate_latest(registry)
                    self.send_response(200)
                    self.send_header("Content-Type", CONTENT_TYPE_LATEST)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                else:
                    server._answer(self, False, b"", b"not found\n", missing=True)

            def log_message(self, *_args: object) -> None:
                """Requests are not logged: probes would drown the service's own log."""

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self.port: int = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def beat(self) -> None:
        """The service's loop is turning."""
        self._heartbeat = time.monotonic()

    def alive(self) -> bool:
        return time.monotonic() - self._heartbeat < self._stall_s

    def ready(self) -> bool:
        """The service's readiness; a callback that raises counts as not ready."""
        try:
            return bool(self._ready())
        except Exception:  # noqa: BLE001 - a probe must answer, not crash the handler
            return False

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    @staticmethod
    def _answer(handler: BaseHTTPRequestHandler, ok: bool, good: bytes, bad: bytes, missing: bool = False) -> None:
        body = good if ok else bad
        handler.send_response(404 if missing else 200 if ok else 503)
        handler.send_header("Content-Type", "text/plain")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
