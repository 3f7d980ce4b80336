"""A naive per-message bridge: poll one event, predict it alone, produce, wait for the ack, commit it."""

from __future__ import annotations

import json
import signal
import sys
import time

import mlflow.pyfunc
import pandas as pd
from confluent_kafka import Consumer, Producer


def main(bootstrap: str, source: str, sink: str, group: str, model_uri: str) -> None:
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    model = mlflow.pyfunc.load_model(model_uri)
    columns = model.metadata.get_input_schema().input_names()
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    producer = Producer({"bootstrap.servers": bootstrap})
    consumer.subscribe([source])
    while not stopping:
        message = consumer.poll(0.1)
        if message is None or message.error() is not None:
            continue
        event = json.loads(message.value())
        started = time.perf_counter()
        prediction = model.predict(pd.DataFrame([event["features"]], columns=columns)).tolist()[0]
        value = {"id": event["id"], "ts": int(time.time() * 1000), "prediction": prediction,
                 "latency_ms": (time.perf_counter() - started) * 1000}
        producer.produce(sink, key=message.key(), value=json.dumps(value).encode())
        producer.flush()
        consumer.commit(message=message, asynchronous=False)
    consumer.close()


if __name__ == "__main__":
    main(*sys.argv[1:6])
