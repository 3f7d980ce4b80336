"""Which model answers an event: the champion, or a challenger chosen by a hash of the event's key."""

from __future__ import annotations

import hashlib

_BUCKETS = 10_000


def key_bucket(key: bytes) -> int:
    """A stable bucket in ``[0, 10000)`` for a message key (blake2b, so every replica agrees)."""
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") % _BUCKETS


class CanaryRouter:
    """Sends a fixed share of keys to the challenger; the same key always goes the same way.

    >>> router = CanaryRouter(0.25)
    >>> router.to_challenger(b"event-1") == router.to_challenger(b"event-1")
    True
    >>> CanaryRouter(0.0).to_challenger(b"x"), CanaryRouter(1.0).to_challenger(b"x")
    (False, True)
    """

    def __init__(self, share: float) -> None:
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"canary share must be within 0..1 (got {share})")
        self._threshold = round(share * _BUCKETS)

    def to_challenger(self, key: bytes) -> bool:
        return key_bucket(key) < self._threshold
