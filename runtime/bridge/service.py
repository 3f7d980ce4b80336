"""The bridge's scoring loop: consume a micro-batch, decode, predict, produce, then commit.

At-least-once: offsets are committed only after the broker has acknowledged every prediction and
dead letter the batch caused. An event that cannot be decoded goes to the dead-letter topic with
its reason in the headers; it never stops the loop.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer
from pydantic import BaseModel, Field, ValidationError

from helicon.runtime.bridge.model import RegistryModel
from helicon.runtime.contracts import FeatureEvent, encode_prediction

logger = logging.getLogger(__name__)


class BridgeSettings(BaseModel):
    """Where the bridge reads, writes and which model it asks."""

    bootstrap: str = Field(description="Kafka bootstrap servers, HOST:PORT[,HOST:PORT].")
    input_topic: str = Field(description="Topic of feature events.")
    output_topic: str = Field(description="Topic the predictions go to.")
    dlq_topic: str = Field(description="Topic for events that cannot be scored.")
    group: str = Field(description="Consumer group id.")
    model_uri: str = Field(description="models:/NAME@ALIAS or models:/NAME/VERSION.")
    batch_size: int = Field(default=256, ge=1, description="Largest micro-batch.")
    max_wait_ms: int = Field(default=20, ge=0, description="Longest wait for a micro-batch to fill.")


class Bridge:
    """Scores feature events with one model until :meth:`stop` is called."""

    def __init__(self, settings: BridgeSettings, model: RegistryModel | None = None) -> None:
        self.settings = settings
        self.model = model or RegistryModel(settings.model_uri)
        self._stopping = threading.Event()
        self._consumer = Consumer({
            "bootstrap.servers": settings.bootstrap,
            "group.id": settings.group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        })
        self._producer = Producer({
            "bootstrap.servers": settings.bootstrap,
            "enable.idempotence": True,
            "linger.ms": 2,
        })
        self.scored = 0
        self.dead_lettered = 0

    def stop(self) -> None:
        """Finish the current batch, commit, and return from :meth:`run`."""
        self._stopping.set()

    def run(self) -> None:
        """The scoring loop; returns after :meth:`stop`, with every consumed event committed."""
        self._consumer.subscribe([self.settings.input_topic])
        logger.info("bridge consuming %s with %s v%s", self.settings.input_topic, self.model.ref.name, self.model.ref.version)
        try:
            while not self._stopping.is_set():
                messages = self._consumer.consume(self.settings.batch_size, self.settings.max_wait_ms / 1000)
                if messages:
                    self._process(messages)
        finally:
            self._producer.flush(30)
            self._consumer.close()

    def _process(self, messages: list[Message]) -> None:
        events: list[tuple[Message, FeatureEvent]] = []
        for message in messages:
            if message.error() is not None:
                if message.error().code() != KafkaError._PARTITION_EOF:
                    logger.warning("consumer error: %s", message.error())
                continue
            try:
                events.append((message, FeatureEvent.model_validate_json(message.value() or b"")))
            except ValidationError as error:
                self._dead_letter(message, "decode", error.__class__.__name__, _first_error(error))
        if events:
            self._score(events)
        if self._producer.flush(60) > 0:
            raise KafkaException(KafkaError(KafkaError._MSG_TIMED_OUT, "predictions not acknowledged; not committing"))
        self._consumer.commit(asynchronous=False)

    def _score(self, events: list[tuple[Message, FeatureEvent]]) -> None:
        started = time.perf_counter()
        try:
            predictions = self.model.predict([event.features for _, event in events])
        except Exception as error:  # noqa: BLE001 - one bad event must not sink its batch
            if len(events) == 1:
                reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
                self._dead_letter(events[0][0], "predict", error.__class__.__name__, reason)
            else:
                for single in events:
                    self._score([single])
            return
        latency_ms = (time.perf_counter() - started) * 1000 / len(events)
        for (_message, event), prediction in zip(events, predictions):
            self._producer.produce(self.settings.output_topic, key=event.id.encode(),
                                   value=encode_prediction(event.id, self.model.ref, prediction, latency_ms))
        self.scored += len(events)

    def _dead_letter(self, message: Message, stage: str, error_class: str, reason: str) -> None:
        headers: list[tuple[str, Any]] = [
            ("helicon.stage", stage), ("helicon.error_class", error_class), ("helicon.reason", reason[:1000]),
            ("helicon.topic", message.topic()), ("helicon.partition", str(message.partition())),
            ("helicon.offset", str(message.offset())),
        ]
        self._producer.produce(self.settings.dlq_topic, key=message.key(), value=message.value(), headers=headers)
        self.dead_lettered += 1
        logger.warning("dead-lettered %s[%s]@%s: %s", message.topic(), message.partition(), message.offset(), reason)


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"]) or "value"
    return f"{location}: {first['msg']}"
