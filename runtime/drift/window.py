"""The fresh-data window: from a detector's index range to topic/partition/offset and time ranges.

Each monitored stream (feature events; joined examples) keeps a bounded log of where each of its
recent events came from. When a detector says "the post-change data are my last N updates", the
log turns that index range into what a retraining job can read: per partition the first and last
offset, and the event-time range.

>>> log = PositionLog(capacity=10)
>>> for i in range(5):
...     log.append(i, Position("t", i % 2, 100 + i, 1_000 + i))
>>> window = log.window(2, 4)
>>> [(r.partition, r.first_offset, r.last_offset) for r in window.ranges], window.ts_from_ms, window.ts_to_ms
([(0, 102, 104), (1, 103, 103)], 1002, 1004)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import repeat
from typing import Any, NamedTuple


class Position(NamedTuple):
    """Where one event came from: topic, partition, offset (-1 offline) and event time in ms.

    A named tuple rather than a dataclass: one is made per event, and this is the cheap kind.
    """

    topic: str
    partition: int
    offset: int
    ts_ms: int | None


@dataclass(frozen=True)
class OffsetRange:
    """An inclusive range of offsets of one partition."""

    topic: str
    partition: int
    first_offset: int
    last_offset: int


@dataclass(frozen=True)
class FreshDataWindow:
    """The post-change data a retraining job should use."""

    start_index: int
    end_index: int
    ranges: tuple[OffsetRange, ...] = ()
    ts_from_ms: int | None = None
    ts_to_ms: int | None = None
    #: True when the detector's window reached further back than the position log remembers
    clipped: bool = False

    @property
    def events(self) -> int:
        return self.end_index - self.start_index + 1

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["ranges"] = [asdict(r) for r in self.ranges]
        out["events"] = self.events
        return out

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> "FreshDataWindow":
        return cls(value["start_index"], value["end_index"], tuple(OffsetRange(**r) for r in value.get("ranges", [])),
                   value.get("ts_from_ms"), value.get("ts_to_ms"), value.get("clipped", False))


class PositionLog:
    """The positions of the last ``capacity`` events of one stream, by stream index.

    Indexes are contiguous (each appended event is the stream's next). Stored as columns (topic,
    partition, offset, event time) so that a batch is appended without one object per event.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        #: index of the newest event appended (-1: none yet)
        self.end_index = -1
        self._topics: deque[str] = deque(maxlen=capacity)
        self._partitions: deque[int] = deque(maxlen=capacity)
        self._offsets: deque[int] = deque(maxlen=capacity)
        self._ts: deque[int | None] = deque(maxlen=capacity)

    def append(self, index: int, position: Position) -> None:
        """One event's position; ``index`` must be the stream's next."""
        self.extend(index, position.topic, position.partition, (position.offset,), (position.ts_ms,))

    def extend(self, first_index: int, topic: str, partition: int, offsets: Sequence[int],
               ts_ms: Sequence[int | None]) -> None:
        """Consecutive events of one topic partition, from stream index ``first_index``."""
        if first_index != self.end_index + 1:
            raise ValueError(f"position log: expected index {self.end_index + 1}, got {first_index}")
        count = len(offsets)
        if len(ts_ms) != count:
            raise ValueError(f"position log: {count} offsets but {len(ts_ms)} timestamps")
        self._topics.extend(repeat(topic, count))
        self._partitions.extend(repeat(partition, count))
        self._offsets.extend(offsets)
        self._ts.extend(ts_ms)
        self.end_index += count

    def __len__(self) -> int:
        return len(self._offsets)

    def window(self, start_index: int, end_index: int) -> FreshDataWindow:
        """The window of stream indexes ``start_index..end_index`` (inclusive)."""
        size = len(self._offsets)
        oldest = self.end_index - size + 1 if size else end_index + 1
        clipped = start_index < oldest
        ranges: dict[tuple[str, int], list[int]] = {}
        times: list[int] = []
        index = self.end_index
        for topic, partition, offset, ts in zip(reversed(self._topics), reversed(self._partitions),
                                                reversed(self._offsets), reversed(self._ts)):
            if index < start_index:
                break
            if index <= end_index:
                if offset >= 0:
                    bounds = ranges.setdefault((topic, partition), [offset, offset])
                    bounds[0] = min(bounds[0], offset)
                    bounds[1] = max(bounds[1], offset)
                if ts is not None:
                    times.append(ts)
            index -= 1
        offset_ranges = tuple(OffsetRange(topic, partition, first, last)
                              for (topic, partition), (first, last) in sorted(ranges.items()))
        return FreshDataWindow(max(start_index, oldest) if size else start_index, end_index, offset_ranges,
                               min(times) if times else None, max(times) if times else None, clipped)
