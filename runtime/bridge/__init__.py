"""The inference bridge: feature events in from Kafka, model predictions out to Kafka."""

from helicon.runtime.bridge.service import Bridge, BridgeSettings

__all__ = ["Bridge", "BridgeSettings"]
