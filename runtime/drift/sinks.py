"""Where an alert goes, per tier: log, Slack-compatible webhooks and retrain triggers.

:meth:`Notifier.plan` decides synchronously (through the cooldown gates, whose state is
checkpointed) which deliveries an alert causes; the service records them in its checkpoint
before they are sent, so a crash never loses one. Sending happens on the
:class:`~helicon.runtime.drift.delivery.Dispatcher` thread.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from helicon.runtime.drift.alerts import DriftAlert
from helicon.runtime.drift.config import ConfigError, DriftConfig, TierSinks
from helicon.runtime.drift.delivery import Delivery
from helicon.runtime.drift.throttle import CooldownGate
from helicon.runtime.drift.trigger_payloads import slack_message, trigger_request

logger = logging.getLogger(__name__)


@dataclass
class Notifier:
    """Turns alerts into deliveries, once per drift (cooldown and de-duplication per sink)."""

    config: DriftConfig
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ, repr=False)
    trigger_gate: CooldownGate = field(init=False)
    webhook_gate: CooldownGate = field(init=False)

    def __post_init__(self) -> None:
        cooldown_ms = int(self.config.delivery.cooldown_s * 1000)
        self.trigger_gate = CooldownGate(cooldown_ms)
        self.webhook_gate = CooldownGate(cooldown_ms)

    def plan(self, alert: DriftAlert, now_ms: int) -> list[Delivery]:
        """The deliveries this alert causes (logs it too, when the tier says so)."""
        tier: TierSinks = self.config.drift if alert.detection.kind == "drift" else self.config.warning
        if tier.log:
            log = logger.warning if alert.detection.kind == "drift" else logger.info
            log("%s", alert.summary())
        when = alert.detected_at.ts_ms if alert.detected_at and alert.detected_at.ts_ms is not None else now_ms
        payload = alert.to_json()
        deliveries: list[Delivery] = []
        if tier.webhooks and self.webhook_gate.admit(alert.key, f"{alert.detection.kind}|{alert.detection.detector_id}", when):
            message = slack_message(payload, alert.summary())
            deliveries += [Delivery("webhook", str(hook.url), message, alert.key) for hook in tier.webhooks]
        if tier.triggers and self.trigger_gate.admit(alert.key, f"{alert.detection.kind}|{alert.pipeline}", when):
            for trigger in tier.triggers:
                body, headers = trigger_request(trigger.kind, payload, trigger.ref)
                deliveries.append(Delivery(f"trigger:{trigger.kind}", str(trigger.url), body, alert.key, headers,
                                           trigger.token_env, trigger.kind == "gitlab", trigger.secret_env))
        return deliveries

    def check_environment(self) -> None:
        """Raise ConfigError naming the field when a token or secret variable is not set."""
        for tier_name in ("warning", "drift"):
            for position, trigger in enumerate(getattr(self.config, tier_name).triggers):
                for field_name in ("token_env", "secret_env"):
                    variable = getattr(trigger, field_name)
                    if variable and not self.environ.get(variable):
                        raise ConfigError(f"{tier_name}.triggers.{position}.{field_name}: environment variable "
                                          f"{variable} is not set (export it, or remove {field_name})")
