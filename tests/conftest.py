"""Session fixtures: the local platform, started once through the same code as `helicon local up`."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from helicon.infra.local import LocalPlatform, LocalPlatformConfig, PlatformStatus


@pytest.fixture(scope="session")
def local_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformStatus]:
    """A real Kafka broker, MLflow server and S3 endpoint on free loopback ports, for the whole session."""
    state_dir = tmp_path_factory.mktemp("helicon-state")
    platform = LocalPlatform(LocalPlatformConfig(state_dir=state_dir, kafka_port=0, mlflow_port=0, s3_port=0))
    status = platform.up()
    try:
        yield status
    finally:
        # Destroy Kafka clients the tests dropped while the broker still answers; otherwise their
        # background threads log refused connections until the interpreter exits.
        gc.collect()
        platform.down()


@pytest.fixture(scope="session")
def platform_env(local_platform: PlatformStatus) -> dict[str, str]:
    """Client environment (Kafka, MLflow, S3) pointing at the session's platform."""
    return local_platform.client_environment()


@pytest.fixture()
def mlflow_tracking(local_platform: PlatformStatus, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point MLflow's client at the session's tracking server for one test."""
    import mlflow

    uri = local_platform.mlflow.endpoint or ""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    return uri
