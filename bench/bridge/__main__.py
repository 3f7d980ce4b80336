"""Benchmark of the inference bridge against the peers a user would pick instead (not a test).

    .venv/bin/python -m bench.bridge [--backlog 5000] [--rate 200] [--seconds 5] [--batch-sizes 1,32,256]

Starts a local platform on free ports, registers the first-slice logistic regression, then for each
contestant (each on its own topics, the same events):
  1. starts it and waits until a warm-up event comes out the other side;
  2. throughput: produces a backlog of ``--backlog`` events at once (pre-encoded); events/s =
     outputs / (last output's time − first event's send time);
  3. latency: produces ``--rate`` events/s for ``--seconds``; end-to-end latency = when the output
     was made (the prediction's ``ts``, or the message CreateTime where the output carries none)
     − the event's send time, p50/p99.
Writes ``bench/results/bridge.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform as host
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Consumer, Producer

from helicon.infra.local import LocalPlatform, LocalPlatformConfig
from helicon.runtime.demo import first_slice

REPO = Path(__file__).resolve().parents[2]
BENCH_PYTHON = REPO / ".venv-bench" / "bin" / "python"
PEERS = Path(__file__).resolve().parent / "peers"


@dataclass
class Result:
    name: str
    detail: str
    events_per_s: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    note: str = ""


@dataclass
class Contestant:
    name: str
    detail: str
    start: Callable[[str, str, str, Path], subprocess.Popen[bytes]]
    encode: Callable[[str, dict], tuple[bytes, list[tuple[str, bytes]]]]
    # When the output was made: the message's CreateTime, or the "ts" its value carries (Quix
    # Streams copies the input's timestamp onto its output, so CreateTime would say 0 ms).
    clock: str = "value_ts"


def contract_event(event_id: str, row: dict) -> tuple[bytes, list[tuple[str, bytes]]]:
    return json.dumps({"id": event_id, "ts": int(time.time() * 1000), "features": row}).encode(), []


def oip_event(model_name: str) -> Callable[[str, dict], tuple[bytes, list[tuple[str, bytes]]]]:
    def encode(_event_id: str, row: dict) -> tuple[bytes, list[tuple[str, bytes]]]:
        request = {"parameters": {"content_type": "pd"},
                   "inputs": [{"name": name, "shape": [1, 1], "datatype": "FP64", "data": [value]} for name, value in row.items()]}
        return json.dumps(request).encode(), [("mlserver-model", model_name.encode())]
    return encode


def send(bootstrap: str, topic: str, rows: list[dict], encode: Callable, rate: float | None = None) -> dict[str, float]:
    """Produce one event per row (encoded beforehand, so the sender is not the bottleneck); returns send time (ms) by id."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 1})
    encoded = []
    for row in rows:
        event_id = uuid.uuid4().hex
        value, headers = encode(event_id, row)
        encoded.append((event_id, value, headers))
    sent: dict[str, float] = {}
    started = time.monotonic()
    for index, (event_id, value, headers) in enumerate(encoded):
        if rate is not None:
            delay = started + index / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        sent[event_id] = time.time() * 1000
        producer.produce(topic, key=event_id.encode(), value=value, headers=headers)
        producer.poll(0)
    producer.flush(60)
    return sent


class Reader:
    """Reads the output topic from the start, remembering each event id's output timestamp."""

    def __init__(self, bootstrap: str, topic: str, clock: str) -> None:
        self.clock = clock
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}",
                                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
        self.consumer.subscribe([topic])
        self.seen: dict[str, float] = {}

    def wait_for(self, ids: set[str], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not ids <= self.seen.keys() and time.monotonic() < deadline:
            for message in self.consumer.consume(1000, 0.2):
                if message.error() is None and message.key() is not None:
                    made = float(message.timestamp()[1]) if self.clock == "create_time" else float(json.loads(message.value())["ts"])
                    self.seen.setdefault(message.key().decode(), made)
        return ids <= self.seen.keys()

    def close(self) -> None:
        self.consumer.close()


def measure(contestant: Contestant, bootstrap: str, rows: list[dict], backlog: int, rate: float, seconds: float,
            workdir: Path) -> Result:
    tag = uuid.uuid4().hex[:6]
    source, sink = f"bench-{tag}.in", f"bench-{tag}.out"
    result = Result(contestant.name, contestant.detail)
    create_topics(bootstrap, [source, sink])
    reader = Reader(bootstrap, sink, contestant.clock)
    process = contestant.start(source, sink, f"bench-{tag}", workdir / f"{contestant.name.replace(' ', '-')}-{tag}.log")
    try:
        # Warm-up events until one comes out: a consumer that starts at "latest" misses events sent
        # before it is assigned its partitions (MLServer's Kafka transport does).
        deadline = time.monotonic() + 180
        warm: set[str] = set()
        while not (warm & reader.seen.keys()):
            if time.monotonic() > deadline or process.poll() is not None:
                result.note = "no output within 180 s of start" if process.poll() is None else f"exited with {process.returncode}"
                return result
            warm |= set(send(bootstrap, source, rows[:1], contestant.encode))
            reader.wait_for(warm, timeout=2)
        burst = [rows[index % len(rows)] for index in range(backlog)]
        sent = send(bootstrap, source, burst, contestant.encode)
        budget = max(120.0, backlog / 20)
        complete = reader.wait_for(set(sent), timeout=budget)
        answered = [reader.seen[event_id] for event_id in sent if event_id in reader.seen]
        if answered:
            # From the first send, not the first output: a batch's outputs share one time, so a
            # first-to-last-output window would leave out the whole first batch.
            result.events_per_s = len(answered) / max(0.001, (max(answered) - min(sent.values())) / 1000)
        if not complete:
            result.note = f"{len(answered)}/{backlog} of the backlog answered within {budget:.0f} s"
        paced = send(bootstrap, source, [rows[index % len(rows)] for index in range(int(rate * seconds))],
                     contestant.encode, rate=rate)
        reader.wait_for(set(paced), timeout=120)
        delays = sorted(reader.seen[event_id] - sent_at for event_id, sent_at in paced.items() if event_id in reader.seen)
        if delays:
            result.p50_ms = statistics.median(delays)
            result.p99_ms = delays[min(len(delays) - 1, int(0.99 * len(delays)))]
        if len(delays) < len(paced):
            result.note = (result.note + "; " if result.note else "") + f"{len(paced) - len(delays)} paced events unanswered"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(40)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        reader.close()
    return result


def create_topics(bootstrap: str, topics: list[str]) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(topic, 3, 1) for topic in topics])
    for future in futures.values():
        future.result(30)


def popen(command: list[str], log_file: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log_file.open("ab") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env},
                                start_new_session=True, cwd=REPO)


def contestants(bootstrap: str, tracking_uri: str, model: first_slice.TrainedModel, batch_sizes: list[int],
                workdir: Path) -> list[Contestant]:
    env = {"MLFLOW_TRACKING_URI": tracking_uri}
    registry_uri = f"models:/{model.name}@champion"
    chosen: list[Contestant] = [Contestant(
        "raw passthrough", "confluent-kafka consume→produce, no decode, no model, auto-commit, no ack wait (the ceiling)",
        lambda src, dst, group, log: popen([sys.executable, str(PEERS / "passthrough.py"), bootstrap, src, dst, group], log, env),
        contract_event, clock="create_time")]
    for size in batch_sizes:
        def start(src: str, dst: str, group: str, log: Path, size: int = size) -> subprocess.Popen[bytes]:
            config = workdir / f"bridge-{group}.yaml"
            config.write_text(json.dumps({"bootstrap": bootstrap, "input_topic": src, "output_topic": dst,
                                          "dlq_topic": f"{dst}.dlq", "group": group, "model_uri": registry_uri,
                                          "batch_size": size, "max_wait_ms": 20, "http_port": None}))
            return popen([sys.executable, "-m", "helicon.runtime.cli.main", "run", "bridge", "--config", str(config)], log, env)
        chosen.append(Contestant(f"helicon bridge, batch {size}", "at-least-once, max wait 20 ms, MLflow pyfunc in-process",
                                 start, contract_event))

    def start_exactly_once(src: str, dst: str, group: str, log: Path) -> subprocess.Popen[bytes]:
        config = workdir / f"bridge-{group}.yaml"
        config.write_text(json.dumps({"bootstrap": bootstrap, "input_topic": src, "output_topic": dst,
                                      "dlq_topic": f"{dst}.dlq", "group": group, "model_uri": registry_uri,
                                      "batch_size": max(batch_sizes), "max_wait_ms": 20, "http_port": None,
                                      "delivery": "exactly-once"}))
        return popen([sys.executable, "-m", "helicon.runtime.cli.main", "run", "bridge", "--config", str(config)], log, env)
    chosen.append(Contestant(f"helicon bridge, batch {max(batch_sizes)}, exactly-once",
                             "Kafka transactions; reader is read_uncommitted, so latency excludes the commit wait",
                             start_exactly_once, contract_event))
    chosen.append(Contestant(
        "naive per-message bridge", "poll one, predict one, produce, flush, commit (confluent-kafka + MLflow pyfunc)",
        lambda src, dst, group, log: popen([sys.executable, str(PEERS / "naive.py"), bootstrap, src, dst, group, registry_uri], log, env),
        contract_event))

    def start_mlserver(src: str, dst: str, group: str, log: Path) -> subprocess.Popen[bytes]:
        from tests.bridge.mlserver import start_mlserver as serve

        server = serve(model.name, model.version, tracking_uri, workdir / group,
                       kafka={"servers": bootstrap, "input": src, "output": dst})
        return server.process
    chosen.append(Contestant("MLServer Kafka transport", "MLServer 1.7.1 + mlserver-mlflow, kafka_enabled, one OIP request per message",
                             start_mlserver, oip_event(model.name), clock="create_time"))
    if BENCH_PYTHON.exists():
        chosen.append(Contestant(
            "Quix Streams app", "quixstreams, per-message apply() with the MLflow pyfunc, at-least-once",
            lambda src, dst, group, log: popen([str(BENCH_PYTHON), str(PEERS / "quix_app.py"), bootstrap, src, dst, group, registry_uri], log, env),
            contract_event))
    return chosen


def write_table(results: list[Result], args: argparse.Namespace, path: Path, started: float) -> None:
    ceiling = next((r.events_per_s for r in results if r.name == "raw passthrough"), None)
    lines = [
        "# Inference bridge benchmark",
        "",
        f"Command: `.venv/bin/python -m bench.bridge --backlog {args.backlog} --rate {args.rate} --seconds {args.seconds} "
        f"--batch-sizes {','.join(map(str, args.batch_sizes))}` (or `make bench-bridge`).",
        "",
        f"Host: {host.node()}, `nproc` = {os.cpu_count()}, load average before/after: {args.load_before} / "
        f"{', '.join(f'{value:.2f}' for value in os.getloadavg())}; Python {host.python_version()}; run took "
        f"{time.time() - started:.0f} s. One Kafka 4.4 broker (local platform), 3 partitions per topic.",
        "Every contestant runs on the same 2 cores as the broker and the load generator: ratios within one run are "
        "the figures to compare; a load average above 2 before the run means other jobs shared the machine.",
        "",
        f"Throughput: a backlog of {args.backlog} events (pre-encoded) sent at once to the running contestant; "
        "events/s from the first send to the last output. "
        f"Latency: {args.rate:g} events/s for {args.seconds:g} s, time the output was made − send time "
        "(the prediction's `ts`; the message CreateTime for the passthrough and MLServer, whose outputs carry none).",
        "",
        "| contestant | events/s | × ceiling | p50 ms | p99 ms | what it is | note |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for r in results:
        share = f"{r.events_per_s / ceiling:.2f}" if r.events_per_s and ceiling else "–"
        lines.append(f"| {r.name} | {r.events_per_s:,.0f} | {share} | {_ms(r.p50_ms)} | {_ms(r.p99_ms)} | {r.detail} | {r.note} |"
                     if r.events_per_s else f"| {r.name} | – | – | {_ms(r.p50_ms)} | {_ms(r.p99_ms)} | {r.detail} | {r.note} |")
    lines += NOTES
    if not BENCH_PYTHON.exists():
        lines += ["", "Quix Streams was not run: `.venv-bench` is missing (`make bench-bridge` builds it)."]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


NOTES = [
    "",
    "Notes:",
    "- Every contestant scores the same registered MLflow model (the first-slice logistic regression, 4 features) "
    "and runs as its own process; the passthrough and the bridge share confluent-kafka; MLServer 1.7.1 and "
    "mlserver-mlflow 1.7.1 run from `.venv-mlserver`, quixstreams 3.28.1 from `.venv-bench` (pins in `.ci/`).",
    "- MLServer's Kafka transport takes OIP inference requests, not Helicon's contract, so its input is one "
    "OIP request per event (the same features) with the `mlserver-model` header.",
    "- The exactly-once row is read with `read_uncommitted`, so its latency omits the wait for the transaction "
    "commit (up to one batch).",
    "- A p50/p99 far above the others means the contestant could not keep up with the paced rate (queueing).",
]


def _ms(value: float | None) -> str:
    return f"{value:.0f}" if value is not None else "–"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backlog", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--batch-sizes", type=lambda text: [int(part) for part in text.split(",")], default=[1, 32, 256])
    parser.add_argument("--only", default="", help="Comma-separated substrings of contestant names to run.")
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results" / "bridge.md")
    args = parser.parse_args()
    args.load_before = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    started = time.time()
    workdir = Path(tempfile.mkdtemp(prefix="helicon-bench-bridge-"))
    platform = LocalPlatform(LocalPlatformConfig(state_dir=workdir / "state", kafka_port=0, mlflow_port=0, s3_port=0))
    status = platform.up()
    try:
        bootstrap, tracking_uri = status.kafka.endpoint or "", status.mlflow.endpoint or ""
        os.environ["MLFLOW_TRACKING_URI"] = tracking_uri
        model = first_slice.train_and_register(tracking_uri, "bench-bridge-model")
        results = []
        for contestant in contestants(bootstrap, tracking_uri, model, args.batch_sizes, workdir):
            if args.only and not any(part in contestant.name for part in args.only.split(",")):
                continue
            print(f"· {contestant.name} …", flush=True)
            result = measure(contestant, bootstrap, model.holdout, args.backlog, args.rate, args.seconds, workdir)
            print(f"  {result}", flush=True)
            results.append(result)
        write_table(results, args, args.output, started)
        print(args.output.read_text())
        print(f"logs in {workdir}")
    finally:
        platform.down()


if __name__ == "__main__":
    main()
