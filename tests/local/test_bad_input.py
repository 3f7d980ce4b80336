"""`helicon local up` on a broken machine: one line naming cause and fix, non-zero exit, no leftovers."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

from helicon.infra.local.java import find_java
from helicon.infra.local.kafka_jars import KafkaJarCache
from helicon.infra.local.processes import owned_processes
from tests.helpers import run_cli


def _up(state_dir: Path, *extra: str, env: dict[str, str] | None = None):  # noqa: ANN202
    return run_cli(["local", "up", "--state-dir", str(state_dir), "--kafka-port", "0", "--mlflow-port", "0",
                    "--s3-port", "0", *extra], env=env)


def _assert_one_line_error(completed, *expected: str, after_progress: bool = False) -> None:  # noqa: ANN001
    """Exit status non-zero; the error is one line (the only line, unless progress came first)."""
    assert completed.returncode != 0
    lines = completed.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], completed.stderr
    if not after_progress:
        assert lines == errors, completed.stderr
    for text in expected:
        assert text in errors[0], errors[0]


@pytest.fixture()
def java_home() -> Path:
    return find_java().resolve().parent.parent


def test_a_taken_port_is_named_with_the_flag_that_fixes_it(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        completed = run_cli(["local", "up", "--state-dir", str(tmp_path), "--kafka-port", str(port),
                             "--kafka-controller-port", "0", "--mlflow-port", "0", "--s3-port", "0"])
    _assert_one_line_error(completed, f"port {port}", "already in use", "--kafka-port")
    assert owned_processes(tmp_path) == []


def test_missing_java_is_reported_before_anything_starts(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "JAVA_HOME"}
    env["PATH"] = str(tmp_path / "empty-bin")
    completed = _up(tmp_path / "state", env=env)
    _assert_one_line_error(completed, "Java not found", "JAVA_HOME")
    assert owned_processes(tmp_path / "state") == []


def test_missing_maven_with_an_empty_cache_says_how_to_get_the_jars(tmp_path: Path, java_home: Path) -> None:
    env = {**os.environ, "JAVA_HOME": str(java_home), "PATH": str(tmp_path / "empty-bin"),
           "HELICON_CACHE_DIR": str(tmp_path / "empty-cache")}
    completed = _up(tmp_path / "state", env=env)
    _assert_one_line_error(completed, "Maven not found", "helicon local fetch")


def test_a_corrupt_jar_cache_is_caught_before_the_broker_runs(tmp_path: Path) -> None:
    real_cache = KafkaJarCache.default()
    real_cache.ensure()
    copy = KafkaJarCache(tmp_path / "cache", real_cache.version)
    shutil.copytree(real_cache.directory, copy.directory)
    damaged = sorted(copy.libs.glob("kafka-clients-*.jar"))[0]
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])
    completed = _up(tmp_path / "state", env={**os.environ, "HELICON_CACHE_DIR": str(copy.root)})
    _assert_one_line_error(completed, "corrupt", damaged.name, "helicon local fetch --force")
    assert owned_processes(tmp_path / "state") == []


def test_a_service_failing_mid_start_leaves_no_process_behind(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    (state_dir / "mlflow").mkdir(parents=True)
    (state_dir / "mlflow" / "mlflow.db").write_bytes(b"this is not an SQLite database" * 100)
    completed = _up(state_dir)
    _assert_one_line_error(completed, "mlflow exited during start-up", "mlflow.log", after_progress=True)
    assert "kafka is ready" in completed.stderr  # so the broker was up, and was stopped again
    assert owned_processes(state_dir) == []
    status = run_cli(["local", "status", "--state-dir", str(state_dir), "--json"])
    assert status.returncode == 1


def test_generated_cluster_ids_are_never_taken_for_an_option() -> None:
    from helicon.infra.local.services.kafka import _kafka_cluster_id

    ids = [_kafka_cluster_id() for _ in range(5_000)]
    assert all(len(cluster_id) == 22 and not cluster_id.startswith("-") for cluster_id in ids)
    assert len(set(ids)) == len(ids)
