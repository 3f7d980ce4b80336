"""Pure logic of the bridge: settings precedence and validation, the codec's rejections, canary routing."""

from __future__ import annotations

import doctest
import json

import pytest

from helicon.runtime.bridge import router
from helicon.runtime.bridge.backends.base import FeatureSpec
from helicon.runtime.bridge.codec import EventCodec, Rejection
from helicon.runtime.bridge.settings import Delivery, SettingsError, load_settings
from helicon.runtime.contracts import FeatureEvent
from tests.bridge.conftest import write_config
from tests.helpers import run_cli

BASE = {"bootstrap": "127.0.0.1:9092", "input_topic": "p.features", "output_topic": "p.predictions",
        "dlq_topic": "p.dlq", "group": "g", "model_uri": "models:/m@champion"}


def test_flags_win_over_environment_which_wins_over_the_file(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    config = write_config(tmp_path / "bridge.yaml", **BASE, batch_size=10, max_wait_ms=5, delivery="exactly-once",
                          canary={"model": "models:/m@challenger", "share": 0.1})
    monkeypatch.setenv("HELICON_BRIDGE_BATCH_SIZE", "20")
    monkeypatch.setenv("HELICON_BRIDGE_GROUP", "from-env")
    monkeypatch.setenv("HELICON_BRIDGE_CANARY__SHARE", "0.3")
    settings = load_settings(config_file=config, group="from-flag", bootstrap=None)
    assert settings.group == "from-flag"
    assert settings.batch_size == 20
    assert settings.max_wait_ms == 5 and settings.bootstrap == "127.0.0.1:9092"
    assert settings.delivery is Delivery.EXACTLY_ONCE
    assert settings.canary is not None and settings.canary.share == 0.3 and settings.canary.model == "models:/m@challenger"


@pytest.mark.parametrize(("overrides", "flags", "expected"), [
    ({"batch_size": 0}, [], "batch_size: Input should be greater than or equal to 1"),
    ({"bootstrap": "no-port"}, [], "bootstrap: Value error, must be HOST:PORT"),
    ({"delivery": "at-most-once"}, [], "delivery: Input should be 'at-least-once' or 'exactly-once'"),
    ({"canary": {"model": "models:/m@c", "share": 1.5}}, [], "canary.share: Input should be less than or equal to 1"),
    ({"batch_sise": 5}, [], "batch_sise: unknown setting"),
    ({}, ["--model", "s3://bucket/model"], "model_uri: Value error, must be models:/NAME@ALIAS"),
    ({"output_topic": "p.features"}, [], "must be three different topics"),
])
def test_an_invalid_setting_exits_non_zero_naming_the_field(tmp_path, overrides, flags, expected) -> None:  # noqa: ANN001
    config = write_config(tmp_path / "bridge.yaml", **{**BASE, **overrides})
    completed = run_cli(["run", "bridge", "--config", str(config), *flags], timeout=60)
    assert completed.returncode == 2
    assert expected in completed.stderr, completed.stderr


def test_missing_required_settings_and_files_are_named(tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(SettingsError, match="bootstrap: Field required"):
        load_settings(input_topic="a", output_topic="b", dlq_topic="c", group="g", model_uri="models:/m/1")
    with pytest.raises(SettingsError, match="config_file: .* does not exist"):
        load_settings(config_file=tmp_path / "absent.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(SettingsError, match="must hold a mapping"):
        load_settings(config_file=tmp_path / "list.yaml")


SPEC = FeatureSpec(names=("f0", "f1"), kinds={"f0": "numeric", "f1": "string"})


def _event(**features: object) -> bytes:
    return json.dumps({"id": "e1", "ts": 1, "features": features}).encode()


@pytest.mark.parametrize(("value", "error_class", "reason"), [
    (b"", "EmptyEvent", "no value"),
    (b"{not json", "InvalidJSON", "not JSON"),
    (json.dumps({"id": "e1", "features": {"f0": 1, "f1": "a"}, "extra": 1}).encode(), "InvalidEvent", "extra"),
    (json.dumps({"ts": 1, "features": {}}).encode(), "InvalidEvent", "id: Field required"),
    (_event(f0=1.0), "MissingFeatures", "f1"),
    (_event(f0=1.0, f1="a", f9=2), "UnexpectedFeatures", "f9"),
    (_event(f0="1.0", f1="a"), "WrongFeatureType", "features.f0: expected numeric, got str"),
    (_event(f0=True, f1="a"), "WrongFeatureType", "features.f0"),
    (_event(f0=None, f1="a"), "WrongFeatureType", "features.f0"),
    (_event(f0=1.0, f1=[1]), "InvalidEvent", "features.f1"),
    (_event(f0=1.0, f1="x" * 300), "OversizedEvent", "exceeds max_event_bytes=256"),
])
def test_codec_names_what_is_wrong(value: bytes, error_class: str, reason: str) -> None:
    decoded = EventCodec(max_event_bytes=256).decode(value, SPEC)
    assert isinstance(decoded, Rejection)
    assert decoded.error_class == error_class and reason in decoded.reason


def test_codec_accepts_a_valid_event_and_can_skip_schema_checks() -> None:
    assert isinstance(EventCodec(256).decode(_event(f0=1, f1="a"), SPEC), FeatureEvent)
    assert isinstance(EventCodec(256, strict_features=False).decode(_event(f0=1), SPEC), FeatureEvent)


def test_canary_routing_is_sticky_and_close_to_its_share() -> None:
    assert doctest.testmod(router).failed == 0
    canary = router.CanaryRouter(0.2)
    keys = [f"key-{index}".encode() for index in range(20_000)]
    chosen = [canary.to_challenger(key) for key in keys]
    assert chosen == [canary.to_challenger(key) for key in keys]
    assert abs(sum(chosen) / len(keys) - 0.2) < 0.015
