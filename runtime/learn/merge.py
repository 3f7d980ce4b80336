"""Scale-out: replicas learn on their own partitions and periodically average their HBP states.

The strategy (documented in docs/learning.md):

1. Each replica of a learner (one consumer group) learns on the partitions it is assigned;
   features and feedback are co-partitioned by event id, so every label reaches the replica that
   predicted it.
2. Every ``merge_interval_s`` a replica publishes its state to a *compacted* topic
   (``P.learn-state``), keyed by its replica id, and reads the latest state of every replica.
3. It replaces its parameters by the average of all states, weighted by the examples each learnt
   since the previous merge (model averaging / "federated averaging"): weights, biases and head
   parameters are averaged, α is averaged and renormalised (then floored as usual on the next
   step), input statistics are combined exactly (Chan et al.'s parallel mean and variance).
   Classes are aligned by label first; a class one replica has not seen contributes zero rows.

Because every replica applies the same average of the same latest states, replicas that merge on
the same round hold identical parameters afterwards, and replicas that merge at different times
still contract towards each other. Compaction keeps one record per replica, so a restarted
or new replica reads the current states at once.
"""

from __future__ import annotations

import pickle
import time
import uuid
from typing import Any

import torch

from helicon.runtime.kafka_client import client_config
from helicon.runtime.learn.hbp import HedgeBackprop


def average_states(states: list[dict[str, Any]], weights: list[float]) -> dict[str, Any]:
    """The weighted average of HBP ``state_dict``s with the same architecture (see module doc)."""
    if not states or len(states) != len(weights):
        raise ValueError(f"average_states: {len(states)} states but {len(weights)} weights")
    configs = {(state["config"]["layers"], state["config"]["units"], tuple(state["config"]["head_layers"]),
                state["config"]["task"]) for state in states}
    if len(configs) != 1:
        raise ValueError(f"average_states: replicas disagree on the architecture {sorted(configs)}")
    built = [(state, weight) for state, weight in zip(states, weights) if state["weights"]]
    if not built:
        return states[0]
    total = sum(weight for _, weight in built)
    shares = [weight / total if total > 0 else 1 / len(built) for _, weight in built]
    merged = dict(built[0][0])
    classes: list[Any] = []
    for state, _ in built:
        classes.extend(label for label in state["classes"] if label not in classes)
    merged["classes"] = classes

    def mix(tensors: list[torch.Tensor]) -> torch.Tensor:
        return sum(share * tensor for share, tensor in zip(shares, tensors))  # type: ignore[return-value]

    merged["weights"] = [mix([state["weights"][i] for state, _ in built]) for i in range(len(built[0][0]["weights"]))]
    merged["biases"] = [mix([state["biases"][i] for state, _ in built]) for i in range(len(built[0][0]["biases"]))]
    merged["head_weights"] = mix([_aligned(state, classes, "head_weights") for state, _ in built])
    merged["head_biases"] = mix([_aligned(state, classes, "head_biases") for state, _ in built])
    alpha = mix([state["alpha"] for state, _ in built])
    merged["alpha"] = alpha / alpha.sum()
    merged["head_errors"] = mix([state["head_errors"] for state, _ in built])
    merged["encoder"] = _combine_encoders([state["encoder"] for state, _ in built])
    merged["n_seen"] = sum(state["n_seen"] for state, _ in built)
    return merged


def _aligned(state: dict[str, Any], classes: list[Any], key: str) -> torch.Tensor:
    tensor = state[key]
    if state["config"]["task"] == "regression" or state["classes"] == classes:
        return tensor
    shape = list(tensor.shape)
    shape[-1] = len(classes)
    aligned = torch.zeros(shape)
    for index, label in enumerate(state["classes"]):
        aligned[..., classes.index(label)] = tensor[..., index]
    return aligned


def _combine_encoders(encoders: list[dict[str, Any]]) -> dict[str, Any]:
    merged = dict(encoders[0])
    with_stats = [encoder for encoder in encoders if encoder["mean"] is not None]
    if not with_stats:
        return merged
    count, mean, m2 = with_stats[0]["count"], with_stats[0]["mean"], with_stats[0]["m2"]
    for encoder in with_stats[1:]:
        other = encoder["count"]
        delta = encoder["mean"] - mean
        total = count + other
        mean = mean + delta * other / total
        m2 = m2 + encoder["m2"] + delta ** 2 * count * other / total
        count = total
    merged.update(count=count, mean=mean, m2=m2)
    return merged


class StateExchange:
    """Publish this replica's state to a compacted topic and average with the others' latest.

    The encoder statistics each replica publishes are its own; the merged result keeps the
    combined statistics, so input scaling agrees across replicas after a merge.
    """

    def __init__(self, bootstrap: str, topic: str, replica_id: str | None = None) -> None:
        from confluent_kafka import Consumer, Producer

        self.topic = topic
        self.replica_id = replica_id or uuid.uuid4().hex[:12]
        self._bootstrap = bootstrap
        self._producer = Producer(client_config({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                                                 "message.max.bytes": 50_000_000}))
        self._consumer_config = client_config({"bootstrap.servers": bootstrap, "group.id": f"helicon-merge-{self.replica_id}",
                                               "enable.auto.commit": False, "auto.offset.reset": "earliest",
                                               "fetch.message.max.bytes": 50_000_000})
        self._consumer_class = Consumer
        self._learnt_at_last_merge = 0

    def ensure_topic(self, partitions: int = 1) -> None:
        """Create the compacted state topic if it is missing."""
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient(client_config({"bootstrap.servers": self._bootstrap}))
        if self.topic in admin.list_topics(timeout=30).topics:
            return
        futures = admin.create_topics([NewTopic(self.topic, num_partitions=partitions, replication_factor=1,
                                                config={"cleanup.policy": "compact", "max.message.bytes": "50000000"})])
        for future in futures.values():
            try:
                future.result(30)
            except Exception as error:  # noqa: BLE001 - a replica racing us to create it is fine
                if "TOPIC_ALREADY_EXISTS" not in str(error):
                    raise

    def publish(self, model: HedgeBackprop, learnt: int) -> None:
        """Publish the state with the examples learnt since the last merge (the averaging weight)."""
        record = {"replica": self.replica_id, "weight": max(learnt - self._learnt_at_last_merge, 1),
                  "ts_ms": int(time.time() * 1000), "state": model.state_dict()}
        self._producer.produce(self.topic, key=self.replica_id.encode(), value=pickle.dumps(record))
        if self._producer.flush(30) > 0:
            raise RuntimeError(f"state of replica {self.replica_id} not acknowledged by {self.topic}")

    def latest(self, timeout_s: float = 30) -> dict[str, dict[str, Any]]:
        """The latest published record of every replica (read from the start of the topic)."""
        from confluent_kafka import KafkaError, TopicPartition

        consumer = self._consumer_class(self._consumer_config)
        try:
            metadata = consumer.list_topics(self.topic, timeout=timeout_s).topics[self.topic]
            partitions = [TopicPartition(self.topic, partition, 0) for partition in metadata.partitions]
            ends = {p.partition: consumer.get_watermark_offsets(p, timeout=timeout_s)[1] for p in partitions}
            consumer.assign(partitions)
            records: dict[str, dict[str, Any]] = {}
            remaining = {partition for partition, end in ends.items() if end > 0}
            deadline = time.monotonic() + timeout_s
            while remaining and time.monotonic() < deadline:
                message = consumer.poll(0.5)
                if message is None:
                    continue
                if message.error() is not None:
                    if message.error().code() == KafkaError._PARTITION_EOF:
                        remaining.discard(message.partition())
                    continue
                if message.value() is not None:
                    record = pickle.loads(message.value())  # noqa: S301 - states our replicas wrote
                    records[record["replica"]] = record
                if message.offset() + 1 >= ends[message.partition()]:
                    remaining.discard(message.partition())
            return records
        finally:
            consumer.close()

    def merge(self, model: HedgeBackprop, learnt: int) -> HedgeBackprop:
        """One asynchronous round: publish, then average with every replica's latest state."""
        self.publish(model, learnt)
        return self.average_latest(model, learnt)

    def average_latest(self, model: HedgeBackprop, learnt: int) -> HedgeBackprop:
        """The average of every replica's latest published state (this one's included)."""
        records = self.latest()
        if self.replica_id not in records:
            raise RuntimeError(f"replica {self.replica_id} has not published to {self.topic}; call publish first")
        ordered = sorted(records.values(), key=lambda record: record["replica"])
        merged = average_states([record["state"] for record in ordered], [record["weight"] for record in ordered])
        self._learnt_at_last_merge = learnt
        averaged = HedgeBackprop.from_state_dict(merged)
        averaged.n_seen = model.n_seen
        return averaged

    def close(self) -> None:
        self._producer.flush(10)
