"""The documented example program works, and the component reference pages are current and complete."""

from __future__ import annotations

import runpy
from pathlib import Path

from helicon.components import _docs
from helicon.infra.policy.rules import violations
from helicon.stacks.render import manifests, run_program, unwrap_secrets
from helicon.stacks.validate import validate_all

ROOT = Path(__file__).parents[2]


def test_the_example_program_yields_valid_policy_clean_manifests() -> None:
    program = ROOT / "examples" / "platform-team" / "__main__.py"
    assert len(program.read_text().splitlines()) <= 25
    registrations = run_program(lambda: runpy.run_path(str(program)) and None, stack="prod", project="acme-ml-platform",
                                config={"acme-ml-platform:mlflowDb": "postgresql://u:p@db/m",
                                        "acme-ml-platform:s3KeyId": "a", "acme-ml-platform:s3Key": "b"})
    objects = manifests(registrations)
    assert {o["metadata"]["name"] for o in objects if o["kind"] == "Deployment"} == {
        "acme-fraud-bridge", "acme-fraud-drift", "acme-churn-bridge", "acme-mlflow"}
    assert validate_all(objects) == []
    assert [v for r in registrations if r.custom for v in violations(r.type_token, unwrap_secrets(r.inputs), "prod")] == []


def test_reference_pages_are_generated_from_the_current_args(tmp_path: Path) -> None:
    _docs.write(tmp_path)
    for generated in sorted(tmp_path.glob("*.md")):
        committed = ROOT / "docs" / "components" / generated.name
        assert committed.is_file() and committed.read_text() == generated.read_text(), \
            f"{committed} is stale: python -m helicon.components._docs docs/components"


def test_every_argument_field_and_output_has_a_docstring() -> None:
    undocumented = []
    for component, schema in _docs.COMPONENTS.values():
        for table in [schema, *_docs.nested_schemas(schema)]:
            undocumented += [f"{table.__name__}.{f.name}" for f in _docs.field_docs(table) if not f.doc]
        undocumented += [f"{component.__name__}.{f.name}" for f in _docs.output_docs(component) if not f.doc]
    assert undocumented == []


def test_every_component_can_be_hosted_for_other_pulumi_languages() -> None:
    # The schema Pulumi's component provider host would infer (TypedDict args, enums, Input[...]).
    from pulumi.provider.experimental.analyzer import Analyzer

    for component, _ in _docs.COMPONENTS.values():
        definition = Analyzer("helicon").analyze_component(component)
        assert definition.name == component.__name__
        required = {name for name, prop in definition.inputs.items() if not prop.optional}
        assert required, component.__name__
    kafka = Analyzer("helicon").analyze_component(_docs.COMPONENTS["kafka-cluster"][0])
    assert {"namespace", "controllers", "brokers", "listener"} <= set(kafka.inputs)
    assert "bootstrapServers" in kafka.outputs
