"""The bridge's source: a consumer-group member that hands out micro-batches and tracks lag."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from helicon.runtime.kafka_client import client_config

logger = logging.getLogger(__name__)

Offsets = dict[tuple[str, int], int]


class Source:
    """Consumes ``topic`` in ``group`` with auto-commit off; offsets move only when told."""

    def __init__(self, bootstrap: str, group: str, topic: str, read_committed: bool,
                 on_lag: Callable[[str, int, int], None] | None = None, session_timeout_ms: int = 10_000) -> None:
        self.topic = topic
        self.before_revoke: Callable[[], None] | None = None
        self.assigned = False
        self._on_lag = on_lag
        self._consumer = Consumer(client_config({
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": session_timeout_ms,
            "heartbeat.interval.ms": max(500, session_timeout_ms // 5),
            "isolation.level": "read_committed" if read_committed else "read_uncommitted",
            "statistics.interval.ms": 5000,
            "stats_cb": self._stats,
        }))

    def subscribe(self) -> None:
        self._consumer.subscribe([self.topic], on_assign=self._assigned, on_revoke=self._revoked)

    def batch(self, max_size: int, max_wait_s: float) -> list[Message]:
        """Up to ``max_size`` messages, waiting at most ``max_wait_s`` for the batch to fill."""
        messages = self._consumer.consume(max_size, max_wait_s)
        good = []
        for message in messages:
            error = message.error()
            if error is None:
                good.append(message)
            elif error.code() != KafkaError._PARTITION_EOF:
                logger.warning("consumer error", extra={"error": str(error)})
        return good

    @property
    def consumer(self) -> Consumer:
        """The underlying consumer (for transactions: its group metadata)."""
        return self._consumer

    def commit(self, offsets: Offsets, asynchronous: bool = False) -> None:
        """Commit ``offsets`` (next offset to read per topic-partition)."""
        self._consumer.commit(offsets=to_partitions(offsets), asynchronous=asynchronous)

    def rewind(self, starts: Offsets) -> None:
        """Go back to the first offset of a batch whose outputs were not delivered, to read it again."""
        for (topic, partition), offset in starts.items():
            self._consumer.seek(TopicPartition(topic, partition, offset))

    def close(self) -> None:
        self._consumer.close()

    def _assigned(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assigned = True
        logger.info("partitions assigned", extra={"partitions": [f"{tp.topic}[{tp.partition}]" for tp in partitions]})

    def _revoked(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if self.before_revoke is not None:
            self.before_revoke()
        logger.info("partitions revoked", extra={"partitions": [f"{tp.topic}[{tp.partition}]" for tp in partitions]})

    def _stats(self, stats_json: str) -> None:
        if self._on_lag is None:
            return
        stats = json.loads(stats_json)
        for topic, topic_stats in stats.get("topics", {}).items():
            for partition, partition_stats in topic_stats.get("partitions", {}).items():
                lag = partition_stats.get("consumer_lag", -1)
                if int(partition) >= 0 and lag >= 0:
                    self._on_lag(topic, int(partition), lag)


def next_offsets(messages: list[Message]) -> tuple[Offsets, Offsets]:
    """``(starts, ends)``: each topic-partition's first offset in the batch, and the offset after its last."""
    starts: Offsets = {}
    ends: Offsets = {}
    for message in messages:
        where = (message.topic(), message.partition())
        starts.setdefault(where, message.offset())
        ends[where] = message.offset() + 1
    return starts, ends


def to_partitions(offsets: Offsets) -> list[TopicPartition]:
    return [TopicPartition(topic, partition, offset) for (topic, partition), offset in offsets.items()]
