"""The drift monitor: data drift per feature (river ADWIN/PageHinkley/KSWIN), concept drift on the
joined error stream (river DDM/EDDM/HDDM), fresh-data windows, alerts, sinks and checkpoints."""

from helicon.runtime.drift.alerts import DriftAlert
from helicon.runtime.drift.config import ConfigError, DriftConfig, load_config
from helicon.runtime.drift.detection import Detection
from helicon.runtime.drift.monitor import DriftMonitor
from helicon.runtime.drift.window import FreshDataWindow, Position

__all__ = ["ConfigError", "Detection", "DriftAlert", "DriftConfig", "DriftMonitor", "FreshDataWindow", "Position",
           "load_config"]
