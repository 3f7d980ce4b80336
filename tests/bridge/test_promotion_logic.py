"""Pure logic of canary promotion: its settings, the error windows and the decision (no broker, no registry)."""

from __future__ import annotations

import doctest
import json
import math

import pytest

from helicon.runtime.bridge import promotion
from helicon.runtime.bridge.promotion import CHALLENGER, CHAMPION, ErrorWindow, PromotionJudge, is_error
from helicon.runtime.bridge.settings import PromotionSettings, SettingsError, load_settings
from helicon.runtime.contracts import ModelRef, encode_prediction

BASE = {"bootstrap": "127.0.0.1:9092", "input_topic": "p.features", "output_topic": "p.predictions",
        "dlq_topic": "p.dlq", "group": "g", "model_uri": "models:/m@champion"}
PROMOTION = {"feedback_topic": "p.feedback", "min_joined": 200, "margin": 0.0, "window": 500}


def test_the_module_examples_hold() -> None:
    assert doctest.testmod(promotion).failed == 0


def test_the_agreed_settings_load_from_a_file_and_the_environment(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    config = tmp_path / "bridge.yaml"
    config.write_text(json.dumps({**BASE, "canary": {"model": "models:/m@challenger", "share": 0.5,
                                                     "promotion": PROMOTION}}))
    monkeypatch.setenv("HELICON_BRIDGE_CANARY__PROMOTION__MIN_JOINED", "50")
    settings = load_settings(config_file=config)
    assert settings.canary is not None and settings.canary.promotion is not None
    assert settings.canary.promotion.feedback_topic == "p.feedback"
    assert (settings.canary.promotion.min_joined, settings.canary.promotion.window) == (50, 500)
    assert settings.canary.promotion.margin == 0.0 and settings.canary.promotion.task == "classification"
    monkeypatch.delenv("HELICON_BRIDGE_CANARY__PROMOTION__MIN_JOINED")
    without = load_settings(**BASE, canary={"model": "models:/m@challenger", "share": 0.5})
    assert without.canary is not None and without.canary.promotion is None


@pytest.mark.parametrize(("canary", "expected"), [
    ({"share": 0.0}, "canary.share: Value error, must be strictly between 0 and 1 with promotion"),
    ({"share": 1.0}, "canary.share: Value error, must be strictly between 0 and 1 with promotion"),
    ({"promotion": {**PROMOTION, "min_joined": 0}}, "canary.promotion.min_joined: Input should be greater than or equal to 1"),
    ({"promotion": {**PROMOTION, "window": 100}}, "canary.promotion.window: Value error, must be >= min_joined (200)"),
    ({"promotion": {**PROMOTION, "margin": -0.1}}, "canary.promotion.margin: Input should be greater than or equal to 0"),
    ({"promotion": {**PROMOTION, "feedback_topic": ""}}, "canary.promotion.feedback_topic: String should have at least 1 character"),
    ({"promotion": {**PROMOTION, "windw": 3}}, "canary.promotion.windw: unknown setting"),
    ({"promotion": {**PROMOTION, "task": "regression"}}, "canary.promotion: Value error, error_threshold is required when task is regression"),
    ({"model": "models:/other@challenger"}, "canary.promotion needs model_uri and canary.model to be two aliases of one registered model"),
    ({"model": "models:/m/3"}, "canary.promotion needs model_uri and canary.model to be two aliases"),
    ({"model": "models:/m@champion"}, "canary.promotion needs canary.model to name another alias"),
])
def test_invalid_promotion_settings_name_the_field(canary: dict, expected: str) -> None:
    given = {"model": "models:/m@challenger", "share": 0.5, "promotion": PROMOTION, **canary}
    with pytest.raises(SettingsError) as raised:
        load_settings(**BASE, canary=given)
    assert expected in str(raised.value)


def test_a_canary_without_promotion_keeps_its_old_range() -> None:
    settings = load_settings(**BASE, canary={"model": "models:/other@challenger", "share": 1.0})
    assert settings.canary is not None and settings.canary.share == 1.0


def test_errors_follow_the_drift_monitors_convention() -> None:
    classification = PromotionSettings(feedback_topic="f")
    assert not is_error(classification, 1, 1.0) and not is_error(classification, True, 1)
    assert is_error(classification, 0, 1) and is_error(classification, "1", 1)
    regression = PromotionSettings(feedback_topic="f", task="regression", error_threshold=0.5)
    assert not is_error(regression, 2.0, 2.4) and is_error(regression, 2.0, 2.6)
    with pytest.raises(ValueError, match="numeric"):
        is_error(regression, "a", 1.0)


def test_the_error_window_forgets_the_oldest() -> None:
    window = ErrorWindow(4)
    assert math.isnan(window.rate)
    for error in [True] * 4 + [False] * 2:
        window.add(error)
    assert (window.rate, window.joined) == (0.5, 6)
    for _ in range(4):
        window.add(False)
    assert (window.rate, window.joined) == (0.0, 10)


def _feed(judge: PromotionJudge, prefix: str, role: str, version: str, n: int, errors: int, ts: int = 0) -> None:
    """``n`` predictions of ``role`` labelled afterwards, the first ``errors`` of them wrong."""
    for index in range(n):
        judge.predicted(f"{prefix}{index}", role, version, 1, ts_ms=ts + index)
    for index in range(n):
        judge.labelled(f"{prefix}{index}", 0 if index < errors else 1, ts_ms=ts + n + index)


def _judge(**settings: object) -> PromotionJudge:
    judge = PromotionJudge(PromotionSettings(feedback_topic="f", **{"min_joined": 50, "window": 100, **settings}))
    judge.reset(champion="1", challenger="2")
    return judge


def test_a_better_challenger_is_promoted_once_both_roles_have_min_joined() -> None:
    judge = _judge()
    _feed(judge, "a", CHALLENGER, "2", 49, errors=0)
    _feed(judge, "b", CHAMPION, "1", 80, errors=40)
    assert judge.decide() is None, "the challenger has only 49 joined events"
    _feed(judge, "c", CHALLENGER, "2", 1, errors=0)
    decision = judge.decide()
    assert decision is not None and decision.version == "2"
    assert (decision.challenger_error, decision.champion_error) == (0.0, 0.5)
    assert (decision.challenger_joined, decision.champion_joined) == (50, 80)
    assert judge.decide() is None, "one decision per period"
    judge.retry()
    assert judge.decide() is not None


def test_the_champion_needs_min_joined_too_and_margin_is_respected() -> None:
    judge = _judge(margin=0.1)
    _feed(judge, "a", CHALLENGER, "2", 60, errors=6)   # 0.10
    _feed(judge, "b", CHAMPION, "1", 40, errors=10)
    assert judge.decide() is None, "the champion has only 40 joined events"
    _feed(judge, "c", CHAMPION, "1", 60, errors=9)     # window of 100: 19 errors = 0.19
    assert judge.decide() is None, "0.10 is not below 0.19 - 0.1"
    _feed(judge, "d", CHAMPION, "1", 20, errors=20)    # last 100: b[20:] 0 + c 9 + d 20 = 0.29
    assert judge.decide() is not None


def test_a_worse_or_equal_challenger_is_not_promoted() -> None:
    judge = _judge()
    _feed(judge, "a", CHALLENGER, "2", 100, errors=30)
    _feed(judge, "b", CHAMPION, "1", 100, errors=30)
    assert judge.decide() is None
    _feed(judge, "c", CHALLENGER, "2", 100, errors=50)
    assert judge.decide() is None


def test_only_predictions_since_the_challenger_appeared_count() -> None:
    judge = PromotionJudge(PromotionSettings(feedback_topic="f", min_joined=10, window=10))
    judge.reset(champion="1", challenger=None)
    _feed(judge, "old", CHAMPION, "1", 10, errors=0)   # before any challenger: not measured
    assert judge.stale == 10
    judge.reset(champion="1", challenger="2")
    for index in range(10):                            # predicted now, labelled in the next period
        judge.predicted(f"mid{index}", CHAMPION, "1", 1, ts_ms=100 + index)
    judge.reset(champion="1", challenger="3")          # the challenger alias moved: a new period
    for index in range(10):
        judge.labelled(f"mid{index}", 1, ts_ms=200 + index)
    assert judge.stale == 20 and judge.windows[CHAMPION].joined == 0
    judge.reset(champion="1", challenger="3")          # nothing changed: the period goes on
    _feed(judge, "n", CHAMPION, "1", 10, errors=5, ts=300)
    _feed(judge, "m", CHALLENGER, "3", 10, errors=0, ts=400)
    decision = judge.decide()
    assert decision is not None and decision.version == "3"


def test_labels_first_duplicates_and_unscorable_pairs() -> None:
    judge = _judge(min_joined=1, window=1, task="regression", error_threshold=0.5)
    judge.labelled("x", 1.0, ts_ms=1)                 # the label before the prediction still joins
    judge.predicted("x", CHALLENGER, "2", 1.2, ts_ms=2)
    judge.predicted("x", CHALLENGER, "2", 9.0, ts_ms=3)   # an at-least-once replay: ignored
    judge.predicted("y", CHAMPION, "1", "n/a", ts_ms=4)
    judge.labelled("y", 1.0, ts_ms=5)
    assert judge.windows[CHALLENGER].joined == 1 and judge.windows[CHALLENGER].rate == 0.0
    assert judge.unscorable == 1 and judge.join.stats.duplicate_predictions == 1
    assert judge.decide() is None


def test_without_a_challenger_nothing_is_decided() -> None:
    judge = PromotionJudge(PromotionSettings(feedback_topic="f", min_joined=1, window=1))
    judge.reset(champion="1", challenger=None)
    _feed(judge, "a", CHALLENGER, "2", 5, errors=0)
    assert judge.decide() is None


def test_a_prediction_names_its_role_and_stays_backward_compatible() -> None:
    with_role = json.loads(encode_prediction("e", ModelRef("m", "2"), 1, 0.5, role="challenger"))
    assert with_role["model"] == {"name": "m", "version": "2", "role": "challenger"}
    without = json.loads(encode_prediction("e", ModelRef("m", "2"), 1, 0.5))
    assert without["model"] == {"name": "m", "version": "2"}
