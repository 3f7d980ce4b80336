"""The bridge's sink: predictions and dead letters out through one producer, acknowledged before commit."""

from __future__ import annotations

import logging
import time
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from helicon.runtime.kafka_client import client_config

logger = logging.getLogger(__name__)


class DeliveryFailed(RuntimeError):
    """The broker refused at least one output of the batch; its offsets must not be committed."""


class ShutdownTimeout(RuntimeError):
    """Outputs were still unacknowledged when the shutdown bound ran out."""


class DeliveryGroup:
    """The outputs of one batch: how many the broker has yet to acknowledge, and any it refused."""

    def __init__(self) -> None:
        self.pending = 0
        self.failures: list[str] = []

    def delivered(self, error: KafkaError | None, message: Message) -> None:
        self.pending -= 1
        if error is not None:
            self.failures.append(f"{message.topic()}: {error}")


class Sink:
    """An idempotent producer (transactional when ``transactional_id`` is given).

    ``message.timeout.ms=0`` makes librdkafka retry an unavailable broker forever: the bridge blocks
    instead of losing or skipping output.
    """

    def __init__(self, bootstrap: str, dlq_topic: str, transactional_id: str | None = None) -> None:
        self.dlq_topic = dlq_topic
        self._failures: list[str] = []
        self.group: DeliveryGroup | None = None
        config: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "linger.ms": 5,
            "message.timeout.ms": 0,
            "compression.type": "lz4",
        }
        if transactional_id is not None:
            config["transactional.id"] = transactional_id
            config["transaction.timeout.ms"] = 60_000
        self.producer = Producer(client_config(config))

    def produce(self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, Any]] | None = None) -> None:
        """Queue one message; a local queue that is full is drained by serving delivery reports."""
        group = self.group
        callback = group.delivered if group is not None else self._delivered
        while True:
            try:
                self.producer.produce(topic, key=key, value=value, headers=headers, on_delivery=callback)
                if group is not None:
                    group.pending += 1
                return
            except BufferError:
                self.producer.poll(0.1)

    def dead_letter(self, message: Message, stage: str, error_class: str, reason: str) -> None:
        """The original bytes and key to the DLQ, with headers naming stage, error, reason and origin."""
        headers: list[tuple[str, Any]] = [
            ("helicon.stage", stage), ("helicon.error_class", error_class), ("helicon.reason", reason[:1000]),
            ("helicon.topic", message.topic()), ("helicon.partition", str(message.partition())),
            ("helicon.offset", str(message.offset())),
        ]
        self.produce(self.dlq_topic, key=message.key(), value=message.value() or b"", headers=headers)
        logger.warning("dead-lettered", extra={"topic": message.topic(), "partition": message.partition(),
                                                "offset": message.offset(), "stage": stage,
                                                "error_class": error_class, "reason": reason[:300]})

    def wait_for_acks(self, deadline: float | None = None) -> None:
        """Block until the broker acknowledged everything queued; raise if any output was refused."""
        while self.producer.flush(1.0) > 0:
            if deadline is not None and time.monotonic() > deadline:
                raise ShutdownTimeout(f"{len(self.producer)} outputs unacknowledged at the shutdown bound")
        self._raise_failures()

    def _raise_failures(self) -> None:
        if self._failures:
            failures, self._failures = self._failures, []
            raise DeliveryFailed(f"{len(failures)} outputs refused by the broker, first: {failures[0]}")

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._failures.append(f"{message.topic()}: {error}")
