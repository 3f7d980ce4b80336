"""How a batch's outputs and its input offsets become durable together: the delivery modes.

- :class:`AtLeastOnce`: a batch's offsets are committed only once the broker has acknowledged
  every prediction and dead letter it caused. Batches are pipelined: the loop goes on consuming
  while up to ``max_in_flight`` batches await acknowledgement, and acknowledged batches are
  committed in order. A crash replays everything after the last commit: no loss, possible
  duplicates.
- :class:`ExactlyOnce`: outputs and offsets of each batch are committed in one Kafka transaction
  (consume-transform-produce). A crash aborts the open transaction; ``read_committed`` readers
  never see its outputs, and the batch is replayed: no loss, no duplicates.
"""

from __future__ import annotations

import logging
import time
from collections import deque

from confluent_kafka import KafkaException

from helicon.runtime.bridge.sink import DeliveryFailed, DeliveryGroup, ShutdownTimeout, Sink
from helicon.runtime.bridge.source import Offsets, Source, to_partitions

logger = logging.getLogger(__name__)


class AtLeastOnce:
    """Commit a batch's offsets after every output of it (and of every batch before it) is acknowledged."""

    def __init__(self, source: Source, sink: Sink, max_in_flight: int = 8) -> None:
        self._source, self._sink = source, sink
        self._max_in_flight = max_in_flight
        self._in_flight: deque[tuple[DeliveryGroup, Offsets]] = deque()
        self._group: DeliveryGroup | None = None
        source.before_revoke = self.drain

    def begin(self) -> None:
        self._group = DeliveryGroup()
        self._sink.group = self._group

    def complete(self, ends: Offsets, deadline: float | None = None) -> None:
        """Queue the batch; commit what is acknowledged; block only when too many batches are waiting."""
        assert self._group is not None
        self._sink.group = None
        self._in_flight.append((self._group, ends))
        self._group = None
        self._sink.producer.poll(0)
        while len(self._in_flight) > self._max_in_flight and self._in_flight[0][0].pending > 0:
            self._sink.producer.poll(0.05)
            if deadline is not None and time.monotonic() > deadline:
                raise ShutdownTimeout("outputs unacknowledged at the shutdown bound")
        self.tick()

    def tick(self) -> None:
        """Commit (asynchronously) the offsets of the leading batches whose outputs are all acknowledged."""
        self._sink.producer.poll(0)
        acknowledged: Offsets = {}
        while self._in_flight and self._in_flight[0][0].pending == 0:
            group, ends = self._in_flight.popleft()
            if group.failures:
                raise DeliveryFailed(f"{len(group.failures)} outputs refused by the broker, first: {group.failures[0]}")
            acknowledged.update(ends)
        if acknowledged:
            self._source.commit(acknowledged, asynchronous=True)

    def drain(self, deadline: float | None = None) -> None:
        """Wait for every output, then commit synchronously (at shutdown and before partitions are revoked)."""
        self._sink.wait_for_acks(deadline)
        acknowledged: Offsets = {}
        while self._in_flight:
            group, ends = self._in_flight.popleft()
            if group.failures:
                raise DeliveryFailed(f"{len(group.failures)} outputs refused by the broker, first: {group.failures[0]}")
            acknowledged.update(ends)
        if acknowledged:
            try:
                self._source.commit(acknowledged)
            except KafkaException as error:
                # The outputs are out; a lost commit only means they are produced again on replay.
                logger.warning("commit failed; those events will be replayed", extra={"error": str(error)})

    def abandon(self, starts: Offsets) -> None:
        """Forget the open batch and read it again from its first offsets."""
        self._sink.group = None
        self._group = None
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

    def tick(self) -> None:
        """Nothing pending between batches: each transaction is committed before the next batch."""

    def drain(self, deadline: float | None = None) -> None:
        """Nothing to wait for: every committed transaction's outputs are acknowledged."""

    def abandon(self, starts: Offsets) -> None:
        """Abort the open transaction (its outputs are never visible) and read the batch again."""
        if self._open:
            self._sink.producer.abort_transaction(self._timeout_s)
            self._open = False
        self._source.rewind(starts)
