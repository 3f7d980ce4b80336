"""The promotion's feedback reader: every partition of the feedback topic, from when the bridge started.

Each replica reads *all* partitions (``assign``, not a group subscription) from the offsets of its
own start time, so that it sees the label of every event it scored wherever the label was
produced; nothing is committed (group ``<bridge group>-promotion`` only names the client). The
labels of events scored before a restart are not wanted: the predictions they would join were kept
in the previous process's memory.
"""

from __future__ import annotations

import logging
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from pydantic import ValidationError

from helicon.runtime.contracts import FeedbackEvent, now_ms
from helicon.runtime.kafka_client import client_config

logger = logging.getLogger(__name__)


class FeedbackSource:
    """Non-blocking reads of ``topic``; assigns itself once the topic exists."""

    def __init__(self, bootstrap: str, group: str, topic: str, retry_s: float = 2.0) -> None:
        self.topic = topic
        self.started_ms = now_ms()
        self.invalid = 0
        self._retry_s = retry_s
        self._next_try = 0.0
        self._assigned = False
        self._consumer = Consumer(client_config({
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": False,
        }))

    @property
    def assigned(self) -> bool:
        return self._assigned

    def poll(self, max_messages: int = 1000) -> list[FeedbackEvent]:
        """The labels that arrived since the last call (possibly none); never waits for more."""
        if not self._assigned and not self._assign():
            return []
        labels = []
        for message in self._consumer.consume(max_messages, 0):
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    logger.warning("feedback consumer error", extra={"error": str(error)})
                continue
            try:
                labels.append(FeedbackEvent.model_validate_json(message.value() or b""))
            except ValidationError as problem:
                # Not dead-lettered here: the feedback topic's own consumers (the drift monitor) do that.
                self.invalid += 1
                first = problem.errors()[0]
                logger.warning("invalid feedback ignored", extra={
                    "topic": message.topic(), "partition": message.partition(), "offset": message.offset(),
                    "reason": f"{'.'.join(str(part) for part in first['loc']) or 'value'}: {first['msg']}"})
        return labels

    def _assign(self) -> bool:
        if time.monotonic() < self._next_try:
            return False
        self._next_try = time.monotonic() + self._retry_s
        try:
            metadata = self._consumer.list_topics(self.topic, timeout=2)
            topic = metadata.topics.get(self.topic)
            if topic is None or topic.error is not None or not topic.partitions:
                return False
            wanted = [TopicPartition(self.topic, partition, self.started_ms) for partition in topic.partitions]
            offsets = self._consumer.offsets_for_times(wanted, timeout=5)
        except KafkaException as error:
            logger.warning("feedback topic not readable yet", extra={"topic": self.topic, "error": str(error)})
            return False
        # offset -1: no message at or after the start time yet, so read from the end.
        self._consumer.assign([TopicPartition(self.topic, tp.partition, tp.offset if tp.offset >= 0 else -1)
                               for tp in offsets])
        self._assigned = True
        logger.info("feedback assigned", extra={"topic": self.topic, "partitions": len(offsets)})
        return True

    def close(self) -> None:
        self._consumer.close()
