"""The CrossGuard policies built from :mod:`helicon.infra.policy.rules` (``__main__`` serves them)."""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel, PolicyConfigSchema, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy,
)

from helicon.infra.policy.rules import RULES, Rule

#: Per-policy config: ``{"helicon-<rule>": {"environment": "dev"}}`` via ``--policy-pack-config``.
CONFIG_SCHEMA = PolicyConfigSchema(properties={"environment": {"type": "string", "enum": ["dev", "staging", "prod"]}})


def policies() -> list[ResourceValidationPolicy]:
    """One mandatory ResourceValidationPolicy per rule, named ``helicon-<rule>``."""
    return [_policy(name, description, rule) for name, (description, rule) in RULES.items()]


def _policy(name: str, description: str, rule: Rule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        # Without config the strictest environment applies.
        environment = (args.get_config() or {}).get("environment", "prod")
        for message in rule(args.resource_type, args.props, environment):
            report_violation(message, None)

    return ResourceValidationPolicy(name=f"helicon-{name}", description=description, validate=validate,
                                    enforcement_level=EnforcementLevel.MANDATORY, config_schema=CONFIG_SCHEMA)
