"""The drift monitor's Prometheus metrics, in a registry of its own (no global state).

- ``helicon_drift_events_total{topic}``: messages consumed, per input topic
- ``helicon_drift_alerts_total{kind,detector}``: alerts published (kind = warning|drift)
- ``helicon_drift_dead_letters_total{error_class}``: undecodable events sent to the DLQ
- ``helicon_drift_checkpoint_age_seconds``: time since the last checkpoint was written
- ``helicon_drift_consumer_lag{topic,partition}``: messages behind the end of each input partition
"""

from __future__ import annotations

import json
import time

from prometheus_client import CollectorRegistry, Counter, Gauge


class DriftMetrics:
    """Counters and gauges of one drift service."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events = Counter("helicon_drift_events", "Messages consumed, per input topic.", ["topic"],
                              registry=self.registry)
        self.alerts = Counter("helicon_drift_alerts", "Alerts published, by kind and detector.", ["kind", "detector"],
                              registry=self.registry)
        self.dead_letters = Counter("helicon_drift_dead_letters", "Undecodable events sent to the DLQ.", ["error_class"],
                                    registry=self.registry)
        self.consumer_lag = Gauge("helicon_drift_consumer_lag", "Messages behind the end of each input partition.",
                                  ["topic", "partition"], registry=self.registry)
        self._last_checkpoint = time.monotonic()
        self.checkpoint_age = Gauge("helicon_drift_checkpoint_age_seconds", "Seconds since the last checkpoint.",
                                    registry=self.registry)
        self.checkpoint_age.set_function(lambda: time.monotonic() - self._last_checkpoint)

    def checkpointed(self) -> None:
        """A checkpoint was just written."""
        self._last_checkpoint = time.monotonic()

    def stats(self, stats_json: str) -> None:
        """librdkafka's ``stats_cb``: per-partition consumer lag."""
        for topic, topic_stats in json.loads(stats_json).get("topics", {}).items():
            for partition, partition_stats in topic_stats.get("partitions", {}).items():
                lag = partition_stats.get("consumer_lag", -1)
                if int(partition) >= 0 and lag >= 0:
                    self.consumer_lag.labels(topic, partition).set(lag)
