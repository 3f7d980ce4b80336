"""The bridge's Prometheus metrics, in a registry of its own (no global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


class BridgeMetrics:
    """Events in/out, dead letters, batch size, latencies, lag and the serving model version."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events_in = Counter("helicon_bridge_events_in", "Events consumed from the input topic.", registry=self.registry)
        self.predictions_out = Counter("helicon_bridge_predictions_out", "Predictions produced, by role and model.",
                                       ["role", "model", "version"], registry=self.registry)
        self.dead_letters = Counter("helicon_bridge_dead_letters", "Events sent to the DLQ, by stage and error class.",
                                    ["stage", "error_class"], registry=self.registry)
        self.predict_retries = Counter("helicon_bridge_predict_retries", "Retries of a failed model call.",
                                       ["role"], registry=self.registry)
        self.batch_size = Histogram("helicon_bridge_batch_size", "Events per consumed micro-batch.",
                                    buckets=_BATCH_BUCKETS, registry=self.registry)
        self.predict_latency = Histogram("helicon_bridge_predict_latency_seconds", "Model call time per batch.",
                                         ["role"], buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.end_to_end_latency = Histogram("helicon_bridge_end_to_end_latency_seconds",
                                            "From the event's ts to its prediction being produced.",
                                            buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.consumer_lag = Gauge("helicon_bridge_consumer_lag", "Messages behind the end of each input partition.",
                                  ["topic", "partition"], registry=self.registry)
        self.model_info = Gauge("helicon_bridge_model_info", "1 for each model version being served, by role.",
                                ["role", "model", "version"], registry=self.registry)
        self.model_swaps = Counter("helicon_bridge_model_swaps", "Hot swaps after an alias moved.", ["role"],
                                   registry=self.registry)
        self.promotions = Counter("helicon_bridge_promotions", "Challengers this bridge promoted to champion.",
                                  registry=self.registry)
        self.joined_error = Gauge("helicon_bridge_joined_error",
                                  "Error rate over the role's last `window` joined events, since the challenger appeared.",
                                  ["role"], registry=self.registry)
        self.joined_events = Gauge("helicon_bridge_joined_events",
                                   "Predictions joined to their label, by role, since the challenger appeared.",
                                   ["role"], registry=self.registry)

    def serving(self, role: str, model: str, version: str) -> None:
        """Record that ``role`` is now served by ``model`` ``version`` (and no other)."""
        self.not_serving(role)
        self.model_info.labels(role, model, version).set(1)

    def not_serving(self, role: str) -> None:
        """Record that no model serves ``role`` (the canary stopped)."""
        for sample in list(self.model_info.collect()[0].samples):
            if sample.labels.get("role") == role:
                self.model_info.remove(role, sample.labels["model"], sample.labels["version"])

    def lag(self, topic: str, partition: int, lag: int) -> None:
        self.consumer_lag.labels(topic, str(partition)).set(lag)
