"""The request bodies of retrain triggers: GitHub Actions, GitLab pipelines, or any URL.

- **github** — ``POST https://api.github.com/repos/OWNER/REPO/actions/workflows/WORKFLOW/dispatches``
  (`workflow_dispatch`): ``{"ref", "inputs": {...}}``; inputs are strings, so the window travels as
  JSON text in ``helicon_window``. The workflow declares the inputs listed in docs/drift.md.
- **gitlab** — ``POST https://GITLAB/api/v4/projects/ID/trigger/pipeline``:
  ``{"token", "ref", "variables": {"HELICON_ALERT_ID", "HELICON_WINDOW", ...}}``.
- **generic** — the alert object itself.

>>> body, headers = trigger_request("github", {"id": "k1", "pipeline": "p", "kind": "drift",
...     "detector_id": "adwin:x", "feature": "x", "window": {"events": 3}}, ref="main")
>>> body["ref"], body["inputs"]["helicon_window"], headers["X-GitHub-Api-Version"]
('main', '{"events":3}', '2022-11-28')
"""

from __future__ import annotations

import json
from typing import Any


def trigger_request(kind: str, alert: dict[str, Any], ref: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The JSON body and headers of one trigger, without credentials (added when sending: the
    token as ``Authorization: Bearer`` for github/generic, as the body's ``token`` for gitlab)."""
    window = json.dumps(alert.get("window"), separators=(",", ":"), sort_keys=True)
    if kind == "github":
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        inputs = {"helicon_alert_id": alert["id"], "helicon_pipeline": str(alert.get("pipeline")),
                  "helicon_detector": str(alert.get("detector_id")), "helicon_window": window}
        return {"ref": ref, "inputs": inputs}, headers
    if kind == "gitlab":
        variables = {"HELICON_ALERT_ID": alert["id"], "HELICON_PIPELINE": str(alert.get("pipeline")),
                     "HELICON_DETECTOR": str(alert.get("detector_id")), "HELICON_WINDOW": window}
        return {"ref": ref, "variables": variables}, {}
    return alert, {}


def slack_message(alert: dict[str, Any], summary: str) -> dict[str, Any]:
    """A Slack-compatible incoming-webhook body: ``text`` for chat, the alert under ``helicon``."""
    return {"text": summary, "helicon": alert}
