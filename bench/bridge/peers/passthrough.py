"""The ceiling: a raw confluent-kafka consume → produce passthrough (no decode, no model)."""

from __future__ import annotations

import signal
import sys

from confluent_kafka import Consumer, Producer


def main(bootstrap: str, source: str, sink: str, group: str) -> None:
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True})
    consumer.subscribe([source])
    while not stopping:
        messages = [m for m in consumer.consume(500, 0.02) if m.error() is None]
        for message in messages:
            producer.produce(sink, key=message.key(), value=message.value())
        if messages:
            producer.flush()
            consumer.commit(asynchronous=False)
    producer.flush()
    consumer.close()


if __name__ == "__main__":
    main(*sys.argv[1:5])
