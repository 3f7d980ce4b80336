"""The policy pack as the Pulumi CLI runs it: a process serving Pulumi's Analyzer gRPC protocol."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from helicon.infra.policy.rules import RULES
from helicon.stacks.render import render_stack, unwrap_secrets


@pytest.fixture(scope="module")
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    # What `pulumi preview --policy-pack DIR` does: run the pack's __main__, read the port it prints.
    process = subprocess.Popen([sys.executable, "-m", "helicon.infra.policy"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    try:
        port = int(process.stdout.readline())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        process.kill()
        process.wait(timeout=30)


def _analyze(stub: analyzer_pb2_grpc.AnalyzerStub, type_token: str, props: dict) -> list[str]:
    properties = struct_pb2.Struct()
    properties.update(props)
    response = stub.Analyze(analyzer_pb2.AnalyzeRequest(
        type=type_token, properties=properties, urn=f"urn:pulumi:test::helicon::{type_token}::x", name="x"))
    return [f"{d.policyName}: {d.message}" for d in response.diagnostics]


def test_the_served_pack_lists_every_rule_as_mandatory(analyzer) -> None:  # noqa: ANN001
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "helicon"
    assert {policy.name for policy in info.policies} == {f"helicon-{name}" for name in RULES}
    assert {policy.enforcementLevel for policy in info.policies} == {analyzer_pb2.MANDATORY}


def test_the_served_pack_passes_prod_and_reports_a_latest_image(analyzer) -> None:  # noqa: ANN001
    deployment = next(r for r in render_stack("prod") if r.type_token == "kubernetes:apps/v1:Deployment")
    props = unwrap_secrets(deployment.inputs)
    assert _analyze(analyzer, deployment.type_token, props) == []
    props["spec"]["template"]["spec"]["containers"][0]["image"] = "ghcr.io/helicon/helicon-runtime:latest"
    diagnostics = _analyze(analyzer, deployment.type_token, props)
    assert len(diagnostics) == 1 and diagnostics[0].startswith("helicon-no-latest-tag:") and ":latest" in diagnostics[0]


def test_policy_config_relaxes_the_listener_rule_for_dev(analyzer) -> None:  # noqa: ANN001
    kafka = next(r for r in render_stack("dev") if r.type_token == "kubernetes:kafka.strimzi.io/v1:Kafka")
    assert any(d.startswith("helicon-tls-listeners-outside-dev:") for d in _analyze(analyzer, kafka.type_token, kafka.inputs))
    config = struct_pb2.Struct()
    config.update({"environment": "dev"})
    analyzer.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig={
        "helicon-tls-listeners-outside-dev": analyzer_pb2.PolicyConfig(
            enforcementLevel=analyzer_pb2.MANDATORY, properties=config)}))
    assert _analyze(analyzer, kafka.type_token, kafka.inputs) == []
