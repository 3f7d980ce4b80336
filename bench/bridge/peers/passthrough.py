"""The ceiling: a raw confluent-kafka consume → produce passthrough.

No decode, no model, no delivery guarantee (auto-commit, never waits for acknowledgements): the
fastest a Python process can move these events from one topic to another on this broker.
"""

from __future__ import annotations

import signal
import sys

from confluent_kafka import Consumer, Producer


def main(bootstrap: str, source: str, sink: str, group: str) -> None:
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                         "enable.auto.commit": True})
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    consumer.subscribe([source])
    while not stopping:
        for message in consumer.consume(500, 0.02):
            if message.error() is None:
                while True:
                    try:
                        producer.produce(sink, key=message.key(), value=message.value())
                        break
                    except BufferError:
                        producer.poll(0.01)
        producer.poll(0)
    producer.flush()
    consumer.close()


if __name__ == "__main__":
    main(*sys.argv[1:5])
