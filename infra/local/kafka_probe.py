"""Whether a Kafka broker really works: produce a record and read it back."""

from __future__ import annotations

import logging
import time
import uuid

HEALTHCHECK_TOPIC = "helicon-healthcheck"

# librdkafka reports every refused connection while a broker starts; a probe expects those.
_SILENT_LOGGER = logging.getLogger("helicon.kafka_probe.librdkafka")
_SILENT_LOGGER.addHandler(logging.NullHandler())
_SILENT_LOGGER.propagate = False


def kafka_round_trip(bootstrap: str, timeout: float = 10.0, topic: str = HEALTHCHECK_TOPIC) -> bool:
    """Produce one unique record to ``topic`` and consume it back by its offset.

    Returns False (never raises) when the broker cannot do both within ``timeout`` seconds. The
    topic is auto-created by the broker on first use.
    """
    from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

    deadline = time.monotonic() + timeout
    token = uuid.uuid4().hex.encode()
    delivered: list[TopicPartition] = []

    def on_delivery(error, message) -> None:  # noqa: ANN001 - confluent-kafka's callback shape
        if error is None:
            delivered.append(TopicPartition(message.topic(), message.partition(), message.offset()))

    quiet = {"logger": _SILENT_LOGGER}
    # Idempotence makes the probe wait for the coordinator too, so later clients do not see it loading.
    producer = Producer({"bootstrap.servers": bootstrap, "message.timeout.ms": int(timeout * 1000), "enable.idempotence": True,
                         "socket.connection.setup.timeout.ms": 2000, **quiet})
    try:
        producer.produce(topic, value=token, on_delivery=on_delivery)
        producer.flush(max(0.1, deadline - time.monotonic()))
    except (KafkaException, BufferError):
        return False
    if not delivered:
        return False

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "helicon-healthcheck",
                         "enable.auto.commit": False, **quiet})
    try:
        consumer.assign(delivered)
        while time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is not None and message.error() is None and message.value() == token:
                return True
        return False
    except KafkaException:
        return False
    finally:
        consumer.close()

