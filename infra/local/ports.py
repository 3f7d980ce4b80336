"""Loopback ports: finding free ones and waiting for a server to listen."""

from __future__ import annotations

import random
import socket
from pathlib import Path

LOOPBACK = "127.0.0.1"
ANY = "0.0.0.0"
_LOWEST = 15000


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def is_port_free(port: int, host: str = LOOPBACK) -> bool:
    """Whether a server could bind ``host:port`` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def pick_free_port(host: str = LOOPBACK, avoid: set[int] | None = None) -> int:
    """A port free on ``host`` and on all interfaces now, other than those in ``avoid``.

    Chosen below the kernel's ephemeral range: a port the kernel hands out (bind to 0) can be taken by
    another process's outgoing connection before our server binds it, which on a machine full of Kafka
    clients happens; a port below the range is only taken by a server that picks it on purpose.
    """
    avoid = avoid or set()
    low, _ = _ephemeral_range()
    candidates = list(range(_LOWEST, low)) if low > _LOWEST + 1000 else []
    random.shuffle(candidates)
    for port in candidates[:500]:
        if port not in avoid and is_port_free(port, host) and is_port_free(port, ANY):
            return port
    while True:  # no room below the ephemeral range: ask the kernel
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
        if port not in avoid:
            return port


def is_listening(port: int, host: str = LOOPBACK, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
