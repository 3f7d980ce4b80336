"""Webhook and trigger deliveries: HTTP POST with retries and backoff, off the consuming thread.

Retries are urllib3's ``Retry`` (connection errors, timeouts, 429 and 5xx; waits of
``backoff_s · 2^n``, honouring ``Retry-After``). Requests run on one background thread fed by a
bounded queue, so an unreachable endpoint delays other notifications, never consumption; a
delivery that still fails is logged and counted (``failed``), and a full queue drops and counts.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from helicon.runtime.drift.signing import HEADER, sign

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """One POST to make. Credentials are named by environment variable and read only when sending,
    so a delivery waiting in a checkpoint's outbox holds no secret."""

    sink: str
    url: str
    body: dict[str, Any]
    idempotency_key: str
    headers: dict[str, str] = field(default_factory=dict)
    #: environment variable with the CI token: ``Authorization: Bearer`` (or the body's ``token`` for GitLab)
    token_env: str | None = None
    token_in_body: bool = False
    #: environment variable with the HMAC key for ``X-Helicon-Signature``
    secret_env: str | None = None

    def request(self, environ: Mapping[str, str] | None = None) -> tuple[bytes, dict[str, str]]:
        """The bytes and headers to send, with credentials and signature filled in."""
        environ = os.environ if environ is None else environ
        body = dict(self.body)
        headers = {"Content-Type": "application/json", "Idempotency-Key": self.idempotency_key,
                   "User-Agent": "helicon-drift/1", **self.headers}
        token = environ.get(self.token_env) if self.token_env else None
        if token and self.token_in_body:
            body["token"] = token
        elif token:
            headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(body, separators=(",", ":"), sort_keys=True, default=float).encode()
        secret = environ.get(self.secret_env) if self.secret_env else None
        if secret:
            headers[HEADER] = sign(secret.encode(), data)
        return data, headers


def retrying_session(retries: int, backoff_s: float) -> requests.Session:
    """A session whose POSTs are retried on connection errors, 429 and 5xx, with exponential backoff."""
    retry = Retry(total=retries, connect=retries, read=retries, status=retries, other=0,
                  backoff_factor=backoff_s, status_forcelist=(429, 500, 502, 503, 504),
                  allowed_methods=None, raise_on_status=False, respect_retry_after_header=True)
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class Dispatcher:
    """Runs deliveries and other slow jobs (MLflow logging) on one background thread."""

    def __init__(self, retries: int = 5, backoff_s: float = 0.5, timeout_s: float = 5.0, max_queue: int = 1_000,
                 environ: Mapping[str, str] | None = None) -> None:
        #: where tokens and HMAC keys are looked up when sending (the process environment by default)
        self._environ = os.environ if environ is None else environ
        self._session = retrying_session(retries, backoff_s)
        self._timeout_s = timeout_s
        self._queue: queue.Queue[Callable[[], None] | None] = queue.Queue(maxsize=max_queue)
        self.delivered = 0
        self.failed = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="helicon-drift-dispatch", daemon=True)
        self._thread.start()

    def deliver(self, delivery: Delivery) -> None:
        """Queue one delivery; never blocks."""
        self.submit(lambda: self._post(delivery), what=f"{delivery.sink} {delivery.idempotency_key}")

    def submit(self, job: Callable[[], None], what: str = "job") -> None:
        """Queue any callable; never blocks (a full queue drops it and says so)."""
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            self.dropped += 1
            logger.error("notification queue full; dropped %s", what)

    def close(self, timeout_s: float = 30.0) -> None:
        """Finish queued jobs (up to ``timeout_s``), then stop the thread."""
        try:
            self._queue.put(None, timeout=timeout_s)
        except queue.Full:
            return
        self._thread.join(timeout_s)

    def idle(self) -> bool:
        return self._queue.unfinished_tasks == 0

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                job()
            except Exception:  # noqa: BLE001 - a failing job must not stop later notifications
                logger.exception("notification job failed")
            finally:
                self._queue.task_done()

    def _post(self, delivery: Delivery) -> None:
        data, headers = delivery.request(self._environ)
        try:
            response = self._session.post(delivery.url, data=data, headers=headers, timeout=self._timeout_s)
        except requests.RequestException as error:
            self.failed += 1
            logger.error("%s to %s failed after retries (key %s): %s", delivery.sink, _redact(delivery.url),
                         delivery.idempotency_key, error.__class__.__name__)
            return
        if response.ok:
            self.delivered += 1
            logger.info("%s delivered to %s (key %s, HTTP %s)", delivery.sink, _redact(delivery.url),
                        delivery.idempotency_key, response.status_code)
        else:
            self.failed += 1
            logger.error("%s to %s refused after retries (key %s): HTTP %s", delivery.sink, _redact(delivery.url),
                         delivery.idempotency_key, response.status_code)


def _redact(url: str) -> str:
    # Slack webhook URLs carry their secret in the path: log the host only.
    return url.split("/", 3)[2] if "://" in url else url
