"""Blending weights, fallback to rules, circuit breaker and model versions."""

from __future__ import annotations

import pytest

from features.catalog import FEATURE_NAMES
from models import BlendedScorer, LightGBMScorer, OnlineRiskModel, RuleScorer, load_artifact
from models.blend import COOL_OFF_S, FAILURE_LIMIT, MAX_RIVER_WEIGHT, MISJUDGEMENT_LIMIT
from models.checks import tiny_artifact
from models.synthetic import synthetic_frame


class Clock:
    def __init__(self) -> None:
        self.t = 1_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def lgbm(tmp_path_factory):
    return LightGBMScorer(load_artifact(tiny_artifact(tmp_path_factory.mktemp("a"))))


@pytest.fixture(scope="module")
def trained_online():
    model = OnlineRiskModel()
    for x in synthetic_frame(6000, seed=4).to_dict("records"):
        model.learn_one(x, bool(x["y_injury"]), bool(x["y_accident"]))
    return model


ROWS = synthetic_frame(20, seed=8)[list(FEATURE_NAMES)].to_dict("records")


class Broken:
    version = "broken"

    def score_batch(self, rows):
        raise RuntimeError("model exploded")


def test_lightgbm_alone_when_river_has_learned_nothing(lgbm):
    scorer = BlendedScorer(lgbm, OnlineRiskModel(), RuleScorer())
    assert scorer.river_weight("injury") == 0.0
    assert scorer.score_batch(ROWS) == lgbm.score_batch(ROWS)
    assert not scorer.conservative_mode


def test_river_weight_grows_with_its_performance_and_is_capped(lgbm, trained_online):
    scorer = BlendedScorer(lgbm, trained_online, RuleScorer())
    w = scorer.river_weight("injury")
    assert 0.0 < w <= MAX_RIVER_WEIGHT
    auc_l, auc_r, n = lgbm.bundle.test_auc("injury"), trained_online.auc("injury"), trained_online.n_learned
    expected = min(MAX_RIVER_WEIGHT, min(max((auc_r - 0.5) / (auc_l - 0.5), 0), 1) * n / (n + 5000))
    assert w == pytest.approx(expected)
    out = scorer.score_batch(ROWS)
    base = lgbm.score_batch(ROWS)
    river = [trained_online.predict_proba_one(r) for r in ROWS]
    assert out[0].source == "lightgbm+river"
    assert out[0].injury == pytest.approx((1 - w) * base[0].injury + w * river[0]["injury"])


def test_no_model_means_rules_and_conservative(trained_online):
    scorer = BlendedScorer(None, trained_online, RuleScorer())
    out = scorer.score_batch(ROWS)
    assert scorer.conservative_mode and all(s.conservative and s.source == "rules" for s in out)
    assert scorer.model_versions()["lightgbm"] == "none"


def test_model_failure_falls_back_per_batch_then_trips_breaker():
    clock = Clock()
    scorer = BlendedScorer(Broken(), None, RuleScorer(), clock=clock)
    for _ in range(FAILURE_LIMIT - 1):
        out = scorer.score_batch(ROWS)
        assert all(s.conservative and s.source == "rules" for s in out)
        assert not scorer.conservative_mode
    scorer.score_batch(ROWS)
    assert scorer.conservative_mode and "exploded" in scorer.last_error


def test_misjudgements_open_breaker_for_cool_off(lgbm):
    clock = Clock()
    scorer = BlendedScorer(lgbm, None, RuleScorer(), clock=clock)
    for _ in range(MISJUDGEMENT_LIMIT - 1):
        scorer.record_misjudgement()
    assert not scorer.conservative_mode
    scorer.record_misjudgement()
    assert scorer.conservative_mode
    out, model, rules = scorer.score_batch(ROWS), lgbm.score_batch(ROWS), RuleScorer().score_batch(ROWS)
    for o, m, r in zip(out, model, rules):
        assert o.conservative and o.source == "lightgbm|rules"
        assert o.injury == max(m.injury, r.injury) and o.accident == max(m.accident, r.accident)
    clock.t += COOL_OFF_S + 1
    assert not scorer.conservative_mode
    assert scorer.score_batch(ROWS) == model


def test_misjudgements_spread_out_do_not_trip(lgbm):
    clock = Clock()
    scorer = BlendedScorer(lgbm, None, RuleScorer(), clock=clock)
    for _ in range(MISJUDGEMENT_LIMIT * 3):
        scorer.record_misjudgement()
        clock.t += 4000
    assert not scorer.conservative_mode


def test_model_versions_and_hot_swap(lgbm, trained_online):
    scorer = BlendedScorer(None, trained_online, RuleScorer())
    scorer.lgbm = lgbm  # the worker swaps in a new artifact like this
    v = scorer.model_versions()
    assert v == {"lightgbm": "test-tiny", "river": f"river-logreg:n={trained_online.n_learned}", "rules": "1"}
    assert not scorer.conservative_mode
