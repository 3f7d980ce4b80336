"""How a batch's outputs and its input offsets become durable together: the delivery modes.

- :class:`AtLeastOnce`: outputs are acknowledged by the broker first, then offsets committed. A
  crash in between replays the batch: no loss, possible duplicates.
- :class:`ExactlyOnce`: outputs and offsets are committed in one Kafka transaction
  (consume-transform-produce). A crash aborts the open transaction; ``read_committed`` readers
  never see its outputs, and the batch is replayed: no loss, no duplicates.
"""

from __future__ import annotations

import logging
import time

from confluent_kafka import KafkaException

from helicon.runtime.bridge.sink import Sink
from helicon.runtime.bridge.source import Offsets, Source, to_partitions

logger = logging.getLogger(__name__)


class AtLeastOnce:
    """Commit offsets only after every prediction and dead letter of the batch is acknowledged."""

    def __init__(self, source: Source, sink: Sink) -> None:
        self._source, self._sink = source, sink

    def begin(self) -> None:
        """Nothing to open: outputs are produced as they come."""

    def complete(self, ends: Offsets, deadline: float | None = None) -> None:
        self._sink.wait_for_acks(deadline)
        self._source.commit(ends)

    def abandon(self, starts: Offsets) -> None:
        """The batch's outputs were not all delivered: read it again from its first offsets."""
        self._source.rewind(starts)


class ExactlyOnce:
    """Outputs, dead letters and input offsets of a batch in one Kafka transaction."""

    def __init__(self, source: Source, sink: Sink, timeout_s: float = 30.0) -> None:
        self._source, self._sink = source, sink
        self._timeout_s = timeout_s
        # Fences any older instance with the same transactional.id and aborts its open transaction.
        self._sink.producer.init_transactions(timeout_s)
        self._open = False

    def begin(self) -> None:
        self._sink.producer.begin_transaction()
        self._open = True

    def complete(self, ends: Offsets, deadline: float | None = None) -> None:
        timeout = self._timeout_s if deadline is None else max(1.0, deadline - time.monotonic())
        producer = self._sink.producer
        producer.send_offsets_to_transaction(to_partitions(ends), self._source.consumer.consumer_group_metadata(), timeout)
        producer.commit_transaction(timeout)
        self._open = False

    def abandon(self, starts: Offsets) -> None:
        """Abort the open transaction (its outputs are never visible) and read the batch again."""
        if self._open:
            try:
                self._sink.producer.abort_transaction(self._timeout_s)
            except KafkaException as error:
                logger.error("abort failed", extra={"error": str(error)})
                raise
            self._open = False
        self._source.rewind(starts)
