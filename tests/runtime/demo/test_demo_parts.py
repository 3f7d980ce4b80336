"""The demo's parts that need no broker: the retrain job's trigger endpoint and the scenario presets."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from helicon.runtime.demo.retrain_job import RetrainJob
from helicon.runtime.demo.scenario import Scenario
from helicon.runtime.drift.delivery import Delivery
from helicon.runtime.drift.signing import HEADER, sign

SECRET = b"s3cret"
ALERT = {"id": "a1", "kind": "drift", "tier": "data", "detector_id": "adwin:f3", "feature": "f3", "index": 2815,
         "window": {"start_index": 2700, "end_index": 2815, "ranges": []}}


@pytest.fixture()
def job():  # noqa: ANN201
    job = RetrainJob("127.0.0.1:1", "http://127.0.0.1:1", "m", "p.features", SECRET)
    job.start()
    yield job
    job.stop(timeout_s=5)


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **headers}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_trigger_signed_as_the_drift_monitor_signs_it_is_accepted_once(job: RetrainJob, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_TEST_SECRET", SECRET.decode())
    body, headers = Delivery("trigger:generic", job.url, ALERT, "a1", secret_env="DEMO_TEST_SECRET").request()
    assert _post(job.url, body, headers) == (202, {"status": "recorded (data drift: no retraining)", "alert_id": "a1"})
    assert _post(job.url, body, headers)[1]["status"] == "duplicate"
    snapshot = job.snapshot()
    assert [t["alert_id"] for t in snapshot["triggers"]] == ["a1"] and snapshot["triggers"][0]["retrain"] is False
    assert snapshot["retrains"] == [] and not job.busy


@pytest.mark.parametrize("signature", ["", "t=1,v1=00", None])
def test_an_unsigned_or_wrongly_signed_trigger_is_refused(job: RetrainJob, signature: str | None) -> None:
    body = json.dumps(ALERT).encode()
    header = sign(b"another key", body) if signature is None else signature
    status, answer = _post(job.url, body, {HEADER: header} if header else {})
    assert status == 401 and HEADER in answer["error"]
    assert job.snapshot()["triggers"] == [] and job.snapshot()["rejected"] == 1


def test_a_signed_body_that_is_not_an_alert_is_a_400(job: RetrainJob) -> None:
    body = b'{"hello": 1}'
    status, answer = _post(job.url, body, {HEADER: sign(SECRET, body)})
    assert status == 400 and "not a Helicon alert" in answer["error"]


def test_presets_keep_the_phases_in_order_and_scale_with_events() -> None:
    for mode in ("full", "short"):
        scenario = Scenario.preset(mode)
        points = scenario.change_points()
        assert scenario.ddm_warm_start <= points["abrupt"] < points["gradual_start"] < points["gradual_end"] < points["feature_drift"] < scenario.events
    doubled = Scenario.preset("short", events=2 * Scenario.preset("short").events)
    assert doubled.change_points()["abrupt"] == 2 * Scenario.preset("short").change_points()["abrupt"]
    with pytest.raises(ValueError, match="--events"):
        Scenario.preset("full", events=10)
    assert [Scenario.index_of(Scenario.event_id("r", i)) for i in (0, 7, 123456)] == [0, 7, 123456]
