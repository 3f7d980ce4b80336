"""HMAC signatures on outgoing webhook and trigger requests, and how a receiver checks them.

Header ``X-Helicon-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>`` — the
timestamp is inside the MAC so a captured request cannot be replayed later than ``tolerance_s``.

>>> header = sign(b"key", b'{"a":1}', timestamp=1_700_000_000)
>>> header
't=1700000000,v1=a438e398bfafc57e4396bb7fc2304422f0f768e965d073ca313cb52e22e6ad03'
>>> verify(b"key", b'{"a":1}', header, now=1_700_000_010)
True
>>> verify(b"key", b'{"a":2}', header, now=1_700_000_010)
False
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "X-Helicon-Signature"


def sign(secret: bytes, body: bytes, timestamp: int | None = None) -> str:
    """The signature header value for ``body``."""
    ts = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret, f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={digest}"


def verify(secret: bytes, body: bytes, header: str, tolerance_s: int = 300, now: int | None = None) -> bool:
    """True if ``header`` is a valid signature of ``body`` made within ``tolerance_s`` of ``now``."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        ts = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    current = int(time.time()) if now is None else now
    if abs(current - ts) > tolerance_s:
        return False
    expected = hmac.new(secret, f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given)
