"""The bridge's HTTP endpoints: ``/healthz`` (alive), ``/readyz`` (serving) and ``/metrics``.

The server is the runtime's shared one (:mod:`helicon.runtime.endpoints`); this name is kept for
existing imports.
"""

from __future__ import annotations

from helicon.runtime.endpoints import ServiceEndpoints as HealthServer

__all__ = ["HealthServer"]
