"""Kafka client security from the environment: one convention for every client the runtime creates.

The deployed workloads (``helicon.components.workloads``) set these variables; locally none is needed
(the local broker is ``PLAINTEXT``).

================================  ===========================================================================
``KAFKA_SECURITY_PROTOCOL``       ``PLAINTEXT`` (default), ``SSL``, ``SASL_PLAINTEXT`` or ``SASL_SSL``
``KAFKA_SASL_MECHANISM``          ``SCRAM-SHA-512`` (default), ``SCRAM-SHA-256`` or ``PLAIN``; SASL only
``KAFKA_SASL_USERNAME``           required with ``SASL_*`` (Strimzi: the ``KafkaUser``'s name)
``KAFKA_SASL_PASSWORD``           required with ``SASL_*`` (Strimzi: key ``password`` of the user's Secret)
``KAFKA_SSL_CA_LOCATION``         PEM file of the CA that signed the brokers' certificates; ``SSL``/``SASL_SSL``
                                  only (default: the system's CAs)
================================  ===========================================================================

>>> client_config({"bootstrap.servers": "kafka:9093"}, env={
...     "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"})
... # doctest: +NORMALIZE_WHITESPACE
{'bootstrap.servers': 'kafka:9093', 'security.protocol': 'SASL_PLAINTEXT', 'sasl.mechanism': 'SCRAM-SHA-512',
 'sasl.username': 'u', 'sasl.password': 'p'}
>>> client_config({}, env={"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"})  # doctest: +IGNORE_EXCEPTION_DETAIL
Traceback (most recent call last):
KafkaSecurityError: KAFKA_SASL_USERNAME is required when KAFKA_SECURITY_PROTOCOL is SASL_SSL
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")
DEFAULT_MECHANISM = "SCRAM-SHA-512"
SASL_VARIABLES = ("KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD")


class KafkaSecurityError(ValueError):
    """The Kafka security variables are inconsistent; the message names the variable and the reason."""


def security_config(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The librdkafka ``security.*``/``sasl.*``/``ssl.*`` properties the environment asks for.

    Raises :class:`KafkaSecurityError` naming the variable when a value is unknown, a credential is
    missing, or a variable is set that the protocol would silently ignore.
    """
    env = os.environ if env is None else env
    protocol = (env.get("KAFKA_SECURITY_PROTOCOL") or "PLAINTEXT").strip().upper()
    if protocol not in PROTOCOLS:
        raise KafkaSecurityError(f"KAFKA_SECURITY_PROTOCOL must be one of {', '.join(PROTOCOLS)} "
                                 f"(got {env.get('KAFKA_SECURITY_PROTOCOL')!r})")
    config = {"security.protocol": protocol}
    sasl, tls = protocol.startswith("SASL_"), protocol.endswith("SSL")
    if sasl:
        mechanism = (env.get("KAFKA_SASL_MECHANISM") or DEFAULT_MECHANISM).strip().upper()
        if mechanism not in MECHANISMS:
            raise KafkaSecurityError(f"KAFKA_SASL_MECHANISM must be one of {', '.join(MECHANISMS)} "
                                     f"(got {env.get('KAFKA_SASL_MECHANISM')!r})")
        config["sasl.mechanism"] = mechanism
        for variable, key in (("KAFKA_SASL_USERNAME", "sasl.username"), ("KAFKA_SASL_PASSWORD", "sasl.password")):
            if not env.get(variable):
                raise KafkaSecurityError(f"{variable} is required when KAFKA_SECURITY_PROTOCOL is {protocol}")
            config[key] = env[variable]
    else:
        for variable in SASL_VARIABLES:
            if env.get(variable):
                raise KafkaSecurityError(f"{variable} is set but KAFKA_SECURITY_PROTOCOL is {protocol}, which does "
                                         "not use SASL: set KAFKA_SECURITY_PROTOCOL to SASL_SSL or SASL_PLAINTEXT")
    ca_location = env.get("KAFKA_SSL_CA_LOCATION")
    if ca_location:
        if not tls:
            raise KafkaSecurityError(f"KAFKA_SSL_CA_LOCATION is set but KAFKA_SECURITY_PROTOCOL is {protocol}, which "
                                     "does not use TLS: set KAFKA_SECURITY_PROTOCOL to SSL or SASL_SSL")
        if not Path(ca_location).is_file():
            raise KafkaSecurityError(f"KAFKA_SSL_CA_LOCATION: {ca_location} does not exist or is not a file")
        config["ssl.ca.location"] = ca_location
    return config


def client_config(base: Mapping[str, Any], env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``base`` (a confluent-kafka client config) with the environment's security settings added.

    Every ``Producer``, ``Consumer`` and ``AdminClient`` of the runtime is built from this, so one set
    of variables secures them all.
    """
    return {**base, **security_config(env)}


def describe(env: Mapping[str, str] | None = None) -> str:
    """``PROTOCOL`` or ``PROTOCOL/MECHANISM as USER`` for logs (never the password)."""
    config = security_config(env)
    if "sasl.mechanism" in config:
        return f"{config['security.protocol']}/{config['sasl.mechanism']} as {config['sasl.username']}"
    return config["security.protocol"]
