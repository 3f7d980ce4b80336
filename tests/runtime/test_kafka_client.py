"""The Kafka security convention: every KAFKA_* combination the workloads set, and the mistakes."""

from __future__ import annotations

import doctest
import subprocess
import sys
from pathlib import Path

import pytest

from helicon.runtime import kafka_client
from helicon.runtime.kafka_client import KafkaSecurityError, client_config, describe, security_config

SASL = {"KAFKA_SASL_USERNAME": "helicon-fraud-bridge", "KAFKA_SASL_PASSWORD": "s3cret"}


def test_no_variables_is_plaintext() -> None:
    assert security_config({}) == {"security.protocol": "PLAINTEXT"}
    assert client_config({"bootstrap.servers": "k:9092", "group.id": "g"}, env={}) == {
        "bootstrap.servers": "k:9092", "group.id": "g", "security.protocol": "PLAINTEXT"}


def test_sasl_ssl_as_the_workloads_set_it(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    env = {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
           "KAFKA_SSL_CA_LOCATION": str(ca), **SASL}
    assert security_config(env) == {
        "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "helicon-fraud-bridge",
        "sasl.password": "s3cret", "ssl.ca.location": str(ca)}
    assert describe(env) == "SASL_SSL/SCRAM-SHA-512 as helicon-fraud-bridge"
    assert "s3cret" not in describe(env)


def test_mechanism_defaults_to_scram_sha_512_and_is_case_insensitive() -> None:
    assert security_config({"KAFKA_SECURITY_PROTOCOL": "sasl_plaintext", **SASL})["sasl.mechanism"] == "SCRAM-SHA-512"
    config = security_config({"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": "plain", **SASL})
    assert (config["security.protocol"], config["sasl.mechanism"]) == ("SASL_PLAINTEXT", "PLAIN")


def test_ssl_without_a_ca_uses_the_system_cas() -> None:
    assert security_config({"KAFKA_SECURITY_PROTOCOL": "SSL"}) == {"security.protocol": "SSL"}


@pytest.mark.parametrize(("env", "message"), [
    ({"KAFKA_SECURITY_PROTOCOL": "SASL"}, "KAFKA_SECURITY_PROTOCOL must be one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL (got 'SASL')"),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "KAFKA_SASL_USERNAME is required when KAFKA_SECURITY_PROTOCOL is SASL_SSL"),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_USERNAME": "u"},
     "KAFKA_SASL_PASSWORD is required when KAFKA_SECURITY_PROTOCOL is SASL_SSL"),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": "GSSAPI", **SASL},
     "KAFKA_SASL_MECHANISM must be one of SCRAM-SHA-512, SCRAM-SHA-256, PLAIN (got 'GSSAPI')"),
    (SASL, "KAFKA_SASL_USERNAME is set but KAFKA_SECURITY_PROTOCOL is PLAINTEXT"),
    ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SASL_PASSWORD": "p"}, "KAFKA_SASL_PASSWORD is set but KAFKA_SECURITY_PROTOCOL is SSL"),
    ({"KAFKA_SSL_CA_LOCATION": "/etc/ca.crt"}, "KAFKA_SSL_CA_LOCATION is set but KAFKA_SECURITY_PROTOCOL is PLAINTEXT"),
    ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CA_LOCATION": "/nonexistent/ca.crt"},
     "KAFKA_SSL_CA_LOCATION: /nonexistent/ca.crt does not exist or is not a file"),
])
def test_inconsistent_variables_fail_naming_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(KafkaSecurityError) as raised:
        security_config(env)
    assert message in str(raised.value)


def test_the_module_examples_hold() -> None:
    assert doctest.testmod(kafka_client).failed == 0


@pytest.mark.parametrize("command", [["run", "bridge", "--bootstrap", "127.0.0.1:1", "--input", "a", "--output", "b",
                                      "--dlq", "c", "--group", "g", "--model", "models:/m@champion"],
                                     ["run", "drift", "--bootstrap", "127.0.0.1:1"],
                                     ["run", "learn", "--bootstrap", "127.0.0.1:1", "--model", "hbp"]])
def test_every_service_refuses_to_start_with_inconsistent_security(command: list[str]) -> None:
    env = {"PATH": "/usr/bin:/bin", "KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_USERNAME": "u"}
    result = subprocess.run([sys.executable, "-m", "helicon.runtime.cli.main", *command], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "KAFKA_SASL_PASSWORD is required when KAFKA_SECURITY_PROTOCOL is SASL_SSL" in result.stderr


def test_every_client_the_runtime_creates_goes_through_client_config() -> None:
    """A new Producer/Consumer/AdminClient built from a bare dict would ignore the security variables."""
    runtime = Path(kafka_client.__file__).parent
    offenders = []
    for path in runtime.rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            for client in ("Producer(", "Consumer(", "AdminClient("):
                at = line.find(client)
                if at >= 0 and not line[at - 1].isalnum() and "client_config" not in line \
                        and "_consumer_class(" not in line:
                    offenders.append(f"{path.relative_to(runtime)}:{number}: {line.strip()}")
    assert offenders == []
