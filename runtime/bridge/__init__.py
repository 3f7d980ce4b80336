"""The inference bridge: feature events in from Kafka, model predictions out to Kafka."""

from helicon.runtime.bridge.service import Bridge
from helicon.runtime.bridge.settings import (
    BridgeSettings,
    CanarySettings,
    Delivery,
    PromotionSettings,
    SettingsError,
    load_settings,
)

__all__ = ["Bridge", "BridgeSettings", "CanarySettings", "Delivery", "PromotionSettings", "SettingsError",
           "load_settings"]
