"""The policy pack the Pulumi CLI runs: ``pulumi preview --policy-pack <this directory>``.

Each policy takes config ``environment`` (dev, staging, prod; default prod, the strictest), e.g.
``--policy-pack-config cfg.json`` with ``{"helicon-tls-listeners-outside-dev": {"environment": "dev"}}``.
"""

from pulumi_policy import EnforcementLevel, PolicyPack

from helicon.infra.policy.pack import policies

PolicyPack(name="helicon", enforcement_level=EnforcementLevel.MANDATORY, policies=policies())
