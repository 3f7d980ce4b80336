"""`helicon demo --short`: the whole streaming-ML loop on the session's real platform, checked from its report."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import psutil
import pytest
from mlflow import MlflowClient

from helicon.infra.local import PlatformStatus
from tests.helpers import run_cli

# The demo runs once for the module (in the first test's setup): on a loaded two-core machine it can take minutes.
pytestmark = pytest.mark.timeout(900)

#: the online learner's accuracy once it had time to adapt to the new concept (the stream has 5 % label noise)
ONLINE_RECOVERED = 0.8
#: the retrained version's accuracy once promoted (trained on the ~70 labels of one drift window)
SERVED_RECOVERED = 0.75


@pytest.fixture(scope="module")
def short_demo(local_platform: PlatformStatus, tmp_path_factory: pytest.TempPathFactory) -> dict:
    report = tmp_path_factory.mktemp("demo") / "report"
    pipeline = f"demo-{uuid.uuid4().hex[:8]}"
    completed = run_cli(["demo", "--short", "--no-live", "--report", str(report), "--pipeline", pipeline,
                         "--state-dir", str(local_platform.state_dir)], timeout=600)
    return {"completed": completed, "report": report, "pipeline": pipeline,
            "summary": json.loads((report / "summary.json").read_text()) if (report / "summary.json").is_file() else None}


def test_exits_0_writes_the_report_and_leaves_no_process(short_demo: dict, local_platform: PlatformStatus) -> None:
    completed, report, summary = short_demo["completed"], short_demo["report"], short_demo["summary"]
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-4000:]
    assert f"Report: {(report / 'index.html').resolve()}" in completed.stdout.replace("\n", "")
    page = (report / "index.html").read_text()
    for figure in ("features.png", "error-rate.png", "accuracy.png", "alpha.png"):
        assert (report / figure).stat().st_size > 5_000, figure
    assert page.count("data:image/png;base64,") == 4 and "src=\"http" not in page
    assert summary["processes"].keys() == {"bridge", "drift", "learn"}
    assert summary["exit_codes"] == {"bridge": 0, "drift": 0, "learn": 0}
    for name, pid in summary["processes"].items():
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, f"{name} left running"
    status = run_cli(["local", "status", "--state-dir", str(local_platform.state_dir), "--json"])
    assert status.returncode == 0, "the demo must leave a platform it did not start running"


def test_drift_is_detected_after_each_change_and_never_before(short_demo: dict) -> None:
    summary = short_demo["summary"]
    points = summary["change_points"]
    assert summary["concept_drifts"], "no concept drift detected"
    assert all(index >= points["abrupt"] for index in summary["concept_drifts"]), summary["concept_drifts"]
    assert min(summary["concept_drifts"]) < points["gradual_start"], "the abrupt change went unnoticed"
    data = summary["data_drifts"]
    assert data and all(d["feature"] == points["drifting_feature"] and d["index"] >= points["feature_drift"] for d in data), data


def test_one_trigger_per_drift_each_signed_and_the_retrained_version_promoted(short_demo: dict, mlflow_tracking: str) -> None:
    summary = short_demo["summary"]
    triggered = [trigger["alert_id"] for trigger in summary["triggers"]]
    assert sorted(triggered) == sorted(summary["drift_alert_ids"])
    assert summary["triggers_rejected"] == 0
    registered = [record["version"] for record in summary["retrains"] if record["version"]]
    assert registered, summary["retrains"]
    for record in summary["retrains"]:
        assert record["rows"] >= 20 and record["first_index"] >= summary["change_points"]["abrupt"] - 50, record
    model = summary["model"]
    assert model["champion_version"] in registered and model["champion_version"] != model["initial_version"]
    assert summary["promotions"] and summary["promotions"][0]["version"] in registered
    client = MlflowClient(mlflow_tracking)
    assert client.get_model_version_by_alias(model["name"], "champion").version == model["champion_version"]


def test_accuracy_recovers_after_the_change(short_demo: dict) -> None:
    accuracy = short_demo["summary"]["accuracy"]
    assert accuracy["online"]["after_abrupt_recovered"] >= ONLINE_RECOVERED, accuracy
    # the served model's error recovers once the retrained version is promoted (up to 500 events, before the next change)
    assert accuracy["served"]["after_first_promotion"] >= SERVED_RECOVERED, accuracy
    assert short_demo["summary"]["joined"]["served"] == short_demo["summary"]["events"]


def test_report_dir_default_and_flags_are_documented() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for flag in ("--short", "--report", "--no-live", "--seed", "--keep-up", "--events", "--pipeline", "--state-dir"):
        assert flag in readme, flag


def test_ctrl_c_mid_stream_stops_every_process_and_exits_130(local_platform: PlatformStatus, tmp_path: Path) -> None:
    import re
    import signal
    import subprocess
    import sys
    import time

    demo = subprocess.Popen([sys.executable, "-m", "helicon.runtime.cli.main", "demo", "--short", "--no-live",
                             "--report", str(tmp_path / "report"), "--pipeline", f"demo-int-{uuid.uuid4().hex[:8]}",
                             "--state-dir", str(local_platform.state_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        assert demo.stdout is not None
        for line in demo.stdout:
            lines.append(line)
            if "3. Stream" in line:
                break
        time.sleep(5)
        children = [child.pid for child in psutil.Process(demo.pid).children(recursive=True)]
        demo.send_signal(signal.SIGINT)
        rest, _ = demo.communicate(timeout=120)
    finally:
        if demo.poll() is None:
            demo.kill()
    output = "".join(lines) + rest
    assert demo.returncode == 130, output[-3000:]
    started = {int(pid) for pid in re.findall(r"\(pid\s+(\d+),", output)}
    assert len(started) == 3 and started <= set(children), output[-3000:]
    assert not [pid for pid in children if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    assert "interrupted" in rest and not (tmp_path / "report" / "summary.json").exists()
    assert run_cli(["local", "status", "--state-dir", str(local_platform.state_dir), "--json"]).returncode == 0
