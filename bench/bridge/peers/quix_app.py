"""The same job as a Quix Streams application (run from .venv-bench): per-message predict with the MLflow model."""

from __future__ import annotations

import sys
import time

import mlflow.pyfunc
import pandas as pd
from quixstreams import Application


def main(bootstrap: str, source: str, sink: str, group: str, model_uri: str) -> None:
    model = mlflow.pyfunc.load_model(model_uri)
    columns = model.metadata.get_input_schema().input_names()
    app = Application(broker_address=bootstrap, consumer_group=group, auto_offset_reset="earliest",
                      processing_guarantee="at-least-once", loglevel="WARNING")
    input_topic = app.topic(source, value_deserializer="json")
    output_topic = app.topic(sink, value_serializer="json")

    def score(event: dict) -> dict:
        started = time.perf_counter()
        prediction = model.predict(pd.DataFrame([event["features"]], columns=columns)).tolist()[0]
        return {"id": event["id"], "ts": int(time.time() * 1000), "prediction": prediction,
                "latency_ms": (time.perf_counter() - started) * 1000}

    app.dataframe(input_topic).apply(score).to_topic(output_topic)
    app.run()


if __name__ == "__main__":
    main(*sys.argv[1:6])
