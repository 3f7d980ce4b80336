"""bench/learn: examples/s of HBP and of the learner service, side by side with their peers.

Run:  .venv/bin/python bench/learn/run.py            (writes bench/results/learn.md)

1. HBP 20 × 100 predict+learn, batch size 1, on the CPU: the fused implementation (one pass down
   for all heads, written out without autograd, runtime/learn/hbp_fast.py) next to the
   straightforward one (autograd, one backward pass per head, runtime/learn/hbp_reference.py), on
   the same Syn8-style stream, one after the other in this process.
2. The learner service (`helicon run learn`'s Learner, real Kafka of a local platform started on
   free ports) next to river's in-process `evaluate.progressive_val_score`, on the same stream and
   model; and HBP in the service next to HBP in-process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import torch

from helicon.runtime.learn.prequential import evaluate
from helicon.runtime.learn.spec import build_model
from helicon.runtime.learn.synthetic import paper_stream

RIVER_SPEC = "river:preprocessing.StandardScaler|linear_model.LogisticRegression"


def hbp_rate(implementation: str, rows: list, warmup: int = 50) -> tuple[float, float]:
    """(examples per wall-clock second, examples per CPU second of this process)."""
    model = build_model(f"hbp:layers=20,units=100,implementation={implementation}", task="classification")
    for features, label in rows[:warmup]:
        model.predict_one(features)
        model.learn_one(features, label)
    started, cpu_started = time.perf_counter(), time.process_time()
    for features, label in rows[warmup:]:
        model.predict_one(features)
        model.learn_one(features, label)
    count = len(rows) - warmup
    return count / (time.perf_counter() - started), count / (time.process_time() - cpu_started)


def river_progressive_rate(rows: list) -> tuple[float, float]:
    from river import evaluate as river_evaluate
    from river import metrics

    model = build_model(RIVER_SPEC)
    metric = metrics.Accuracy()
    started = time.perf_counter()
    river_evaluate.progressive_val_score(iter(rows), model, metric)
    return len(rows) / (time.perf_counter() - started), metric.get()


def in_process_rate(spec: str, rows: list) -> tuple[float, float]:
    started = time.perf_counter()
    result = evaluate(build_model(spec, task="classification"), rows)
    return len(rows) / (time.perf_counter() - started), result["accuracy"]


def service_rate(bootstrap: str, spec: str, rows: list) -> tuple[float, float]:
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    from helicon.runtime.learn.service import Learner, LearnerSettings

    prefix = f"bench-{uuid.uuid4().hex[:6]}"
    names = {kind: f"{prefix}.{kind}" for kind in ("features", "feedback", "predictions", "dlq")}
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(name, 3, 1) for name in names.values()]).values():
        future.result(30)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for index, (features, label) in enumerate(rows):
        key = f"e{index}"
        producer.produce(names["features"], key=key, value=json.dumps({"id": key, "ts": index, "features": features}))
        producer.produce(names["feedback"], key=key, value=json.dumps({"id": key, "label": label, "ts": index + 1}))
        if index % 1000 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0
    learner = Learner(LearnerSettings(bootstrap=bootstrap, features_topic=names["features"],
                                      feedback_topic=names["feedback"], predictions_topic=names["predictions"],
                                      dlq_topic=names["dlq"], group=f"{prefix}-learner", model=spec, task="classification"))
    thread = threading.Thread(target=learner.run, daemon=True)
    thread.start()
    while learner.counts["predicted"] == 0:
        time.sleep(0.01)
    started = time.perf_counter()
    while learner.counts["learnt"] < len(rows):
        time.sleep(0.01)
    seconds = time.perf_counter() - started
    learner.stop()
    thread.join(60)
    return len(rows) / seconds, learner.prequential.values()["accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2_000, help="examples for the fused HBP and service runs")
    parser.add_argument("--per-head-examples", type=int, default=300, help="examples for the slow per-head run")
    parser.add_argument("--output", type=Path, default=Path(__file__).resolve().parents[1] / "results" / "learn.md")
    arguments = parser.parse_args()
    rows = list(paper_stream("syn8", arguments.examples, seed=0))
    load_before = os.getloadavg()

    fused = hbp_rate("fused", rows)
    per_head = hbp_rate("per_head", rows[:arguments.per_head_examples])
    print(f"HBP fused {fused[0]:.0f} ex/s ({fused[1]:.0f} per CPU-s), per-head {per_head[0]:.0f} ex/s ({per_head[1]:.0f} per CPU-s)",
          file=sys.stderr)

    from helicon.infra.local import LocalPlatform, LocalPlatformConfig

    with tempfile.TemporaryDirectory() as state:
        platform_ = LocalPlatform(LocalPlatformConfig(state_dir=Path(state), kafka_port=0, mlflow_port=0, s3_port=0))
        status = platform_.up()
        try:
            bootstrap = status.kafka.endpoint or ""
            service_river = service_rate(bootstrap, RIVER_SPEC, rows)
            service_hbp = service_rate(bootstrap, "hbp", rows)
        finally:
            platform_.down()
    river_pvs = river_progressive_rate(rows)
    river_ours = in_process_rate(RIVER_SPEC, rows)
    hbp_ours = in_process_rate("hbp", rows)
    load_after = os.getloadavg()

    river_cell = RIVER_SPEC.replace("|", "\\|")
    lines = [
        "# bench/learn",
        "",
        f"Command: `.venv/bin/python bench/learn/run.py --examples {arguments.examples} --per-head-examples {arguments.per_head_examples}`.",
        f"Machine: {platform.machine()}, nproc {os.cpu_count()}, torch {torch.__version__} (CPU, 1 intra-op thread), "
        f"load average {load_before[0]:.2f} before / {load_after[0]:.2f} after (above 2, other jobs shared the "
        "2 cores: read examples per CPU-second).",
        f"Stream: Syn8-style (50 features, labels from a random 8-layer network), {arguments.examples:,} examples; batch size 1.",
        "",
        "## HBP 20 × 100, predict + learn per example",
        "",
        "| implementation | examples/s (wall clock) | examples per CPU-second |",
        "|---|---|---|",
        f"| fused: one pass down for all heads, no autograd (Helicon) | {fused[0]:,.0f} | {fused[1]:,.0f} |",
        f"| per head: autograd, one backward pass per head ({arguments.per_head_examples} examples) | {per_head[0]:,.0f} | {per_head[1]:,.0f} |",
        f"| speed-up | {fused[0] / per_head[0]:.1f}× | {fused[1] / per_head[1]:.1f}× |",
        "",
        "On a shared machine the wall-clock rate depends on the load; examples per CPU-second (this",
        "process's CPU time, one torch thread) is the figure that is comparable between runs.",
        "",
        "Aim (issue 5): ≥ 1,000 examples/s for 20 × 100 and ≥ 2× the straightforward implementation.",
        "",
        "## The learner service on real Kafka against in-process evaluation",
        "",
        "The service reads features and feedback from Kafka (3 partitions), predicts, produces predictions,",
        "joins and learns; the rate is from its first prediction to its last learnt example.",
        "",
        "| model | where | examples/s (wall clock) | prequential accuracy |",
        "|---|---|---|---|",
        f"| `{river_cell}` | river `evaluate.progressive_val_score`, in process | {river_pvs[0]:,.0f} | {river_pvs[1]:.4f} |",
        f"| `{river_cell}` | Helicon `evaluate` (prequential), in process | {river_ours[0]:,.0f} | {river_ours[1]:.4f} |",
        f"| `{river_cell}` | `helicon run learn` service, real Kafka | {service_river[0]:,.0f} | {service_river[1]:.4f} |",
        f"| `hbp` (20 × 100) | Helicon `evaluate`, in process | {hbp_ours[0]:,.0f} | {hbp_ours[1]:.4f} |",
        f"| `hbp` (20 × 100) | `helicon run learn` service, real Kafka | {service_hbp[0]:,.0f} | {service_hbp[1]:.4f} |",
        "",
        "The service also publishes a prediction with class probabilities per event and keeps the",
        "feedback join. All features and labels are on the topics before it starts, so it may read",
        "a run of features before their labels and predict them with a less-trained model, so its",
        "prequential accuracy can differ from in-process evaluation, where every label comes right",
        "after its prediction.",
        "",
    ]
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text("\n".join(lines))
    print(arguments.output)


if __name__ == "__main__":
    main()
