"""Cooldown and de-duplication: one drift fires one trigger.

A detection passes the gate for a sink if its idempotency key was never admitted before and the
sink's scope is not cooling down. Retrain triggers are scoped per pipeline (one retraining covers
every feature that moved together); webhooks per detector. Time is the event time of the
detection when known, so a replay throttles exactly like the live run; the gate's state is part of
the checkpoint.

>>> gate = CooldownGate(cooldown_ms=60_000)
>>> gate.admit("k1", scope="p", now_ms=0), gate.admit("k1", scope="p", now_ms=1), gate.admit("k2", scope="p", now_ms=10)
(True, False, False)
>>> gate.admit("k3", scope="p", now_ms=60_001), gate.suppressed
(True, 2)
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field


@dataclass
class CooldownGate:
    """Admit each idempotency key once, and at most one per scope within ``cooldown_ms``."""

    cooldown_ms: int
    max_keys: int = 10_000
    suppressed: int = 0
    _keys: OrderedDict[str, int] = field(default_factory=OrderedDict)
    _last_by_scope: dict[str, int] = field(default_factory=dict)

    def admit(self, key: str, scope: str, now_ms: int) -> bool:
        """True if this detection should be sent; records it when so."""
        if key in self._keys:
            self.suppressed += 1
            return False
        last = self._last_by_scope.get(scope)
        if last is not None and now_ms - last < self.cooldown_ms:
            self.suppressed += 1
            return False
        self._keys[key] = now_ms
        while len(self._keys) > self.max_keys:
            self._keys.popitem(last=False)
        self._last_by_scope[scope] = now_ms
        return True
