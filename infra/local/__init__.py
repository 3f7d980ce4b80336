"""The local platform: Helicon's services as processes on one machine.

>>> from helicon.infra.local import LocalPlatform, LocalPlatformConfig
>>> platform = LocalPlatform(LocalPlatformConfig(state_dir=".helicon"))   # doctest: +SKIP
>>> status = platform.up()                                                 # doctest: +SKIP
>>> status.kafka.endpoint                                                  # doctest: +SKIP
'127.0.0.1:9092'
"""

from helicon.infra.local.errors import LocalPlatformError
from helicon.infra.local.platform import LocalPlatform, LocalPlatformConfig, PlatformStatus, ServiceStatus

__all__ = [
    "LocalPlatform",
    "LocalPlatformConfig",
    "LocalPlatformError",
    "PlatformStatus",
    "ServiceStatus",
]
