"""The demo's traffic: feature events at a steady rate, and each event's label after a delay.

One thread sends both, from a plain confluent-kafka producer, the way an application would: the
features of event ``i`` at ``start + i / rate`` to ``P.features``, and its true label
``feedback_delay_s`` later to ``P.feedback`` (``{"id", "label", "ts"}``).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque

from helicon.runtime.contracts import PipelineTopics, now_ms
from helicon.runtime.demo.scenario import Scenario
from helicon.runtime.kafka_client import client_config


class Traffic(threading.Thread):
    """Sends the scenario's stream; :attr:`sent` and :attr:`labelled` count what was produced."""

    def __init__(self, bootstrap: str, topics: PipelineTopics, scenario: Scenario, run_id: str) -> None:
        super().__init__(name="helicon-demo-traffic", daemon=True)
        self.bootstrap = bootstrap
        self.topics = topics
        self.scenario = scenario
        self.run_id = run_id
        self.sent = 0
        self.labelled = 0
        self.error: BaseException | None = None
        self._stop_event = threading.Event()

    def stop(self) -> None:
        """Stop sending (what was produced is flushed)."""
        self._stop_event.set()

    @property
    def finished(self) -> bool:
        return not self.is_alive()

    def run(self) -> None:
        from confluent_kafka import Producer

        producer = Producer(client_config({"bootstrap.servers": self.bootstrap, "enable.idempotence": True, "linger.ms": 5}))
        pending: deque[tuple[float, bytes, bytes]] = deque()
        rate, delay = self.scenario.rate, self.scenario.feedback_delay_s
        started = time.monotonic()
        try:
            for event in self.scenario.stream:
                due = started + event.index / rate
                self._send_labels(producer, pending, until=due)
                if self._stop_event.is_set():
                    return
                event_id = self.scenario.event_id(self.run_id, event.index)
                key = event_id.encode()
                value = {"id": event_id, "ts": now_ms(), "features": event.features}
                producer.produce(self.topics.features, key=key, value=json.dumps(value).encode())
                self.sent += 1
                pending.append((time.monotonic() + delay, key, json.dumps({"id": event_id, "label": event.label}).encode()))
                producer.poll(0)
            self._send_labels(producer, pending, until=float("inf"))
        except BaseException as error:  # noqa: BLE001 - reported by the orchestrator, which stops the demo
            self.error = error
        finally:
            producer.flush(30)

    def _send_labels(self, producer: object, pending: deque[tuple[float, bytes, bytes]], until: float) -> None:
        """Produce every label that falls due before ``until``, sleeping until each is due."""
        while not self._stop_event.is_set():
            next_label = pending[0][0] if pending else float("inf")
            wake = min(next_label, until)
            if wake == float("inf"):
                return
            pause = wake - time.monotonic()
            if pause > 0 and self._stop_event.wait(pause):
                return
            if next_label > until:
                return
            _due, key, body = pending.popleft()
            value = json.loads(body)
            value["ts"] = now_ms()
            producer.produce(self.topics.feedback, key=key, value=json.dumps(value).encode())  # type: ignore[attr-defined]
            self.labelled += 1
            producer.poll(0)  # type: ignore[attr-defined]
