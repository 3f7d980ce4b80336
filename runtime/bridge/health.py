"""The bridge's HTTP endpoints: ``/healthz`` (alive), ``/readyz`` (serving) and ``/metrics``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


class HealthServer:
    """Serves the endpoints on a daemon thread; ``port=0`` picks a free port (see :attr:`port`).

    ``alive`` is true while the scoring loop has turned within ``stall_s``; ``ready`` is supplied
    by the bridge (models loaded, consumer assigned, not stopping).
    """

    def __init__(self, host: str, port: int, registry: CollectorRegistry, ready: Callable[[], bool],
                 stall_s: float = 120.0) -> None:
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
                    server._answer(self, server._ready(), b"ready\n", b"not ready\n")
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
                """Requests are not logged: probes would drown the bridge's own log."""

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self.port: int = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="bridge-http", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def beat(self) -> None:
        """The scoring loop is turning."""
        self._heartbeat = time.monotonic()

    def alive(self) -> bool:
        return time.monotonic() - self._heartbeat < self._stall_s

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
