"""Blending weights, fallback to rules, circuit breaker and model versions."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

from features.catalog import FEATURE_NAMES
from models import BlendedScorer, LightGBMScorer, OnlineRiskModel, RuleScorer, load_artifact
from models.artifact import TARGETS
from models.blend import COOL_OFF_S, FAILURE_LIMIT, MAX_RIVER_WEIGHT, MISJUDGEMENT_LIMIT, RIVER_PRIOR_SHARE
from models.risk import ScoredRisk
from riskstream.testing.artifacts import tiny_artifact
from riskstream.testing.frames import synthetic_frame


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

    def score_batch(self, rows, explain=True):
        raise RuntimeError("model exploded")


def test_lightgbm_alone_when_river_has_learned_nothing(lgbm):
    scorer = BlendedScorer(lgbm, OnlineRiskModel(), RuleScorer())
    assert scorer.river_weight("injury") == 0.0
    assert scorer.score_batch(ROWS) == lgbm.score_batch(ROWS)
    assert not scorer.conservative_mode


class ConstantModel:
    """A LightGBM stand-in that says ``p`` for everything: a poor reference once labels carry signal."""

    def __init__(self, p: float, version: str = "constant") -> None:
        self.p, self.version = p, version

    def predict_matrix(self, X):
        return {t: np.full(len(X), self.p) for t in TARGETS}

    def score_batch(self, rows, explain=True):
        return [ScoredRisk(injury=self.p, accident=self.p, reasons=[], source="lightgbm", conservative=False)
                for _ in rows]


def _learn(scorer: BlendedScorer, frame) -> None:
    rows = frame.to_dict("records")
    for i in range(0, len(rows), 500):  # in batches, as the processor hands them over
        scorer.learn([(x, bool(x["y_injury"]), bool(x["y_accident"])) for x in rows[i:i + 500]])


def test_river_earns_weight_when_it_out_predicts_lightgbm_and_the_weight_follows_the_edge():
    reference = ConstantModel(0.5)  # knows nothing, and is badly calibrated for a rare event
    scorer = BlendedScorer(reference, OnlineRiskModel(), RuleScorer())
    _learn(scorer, synthetic_frame(3000, seed=4))
    # the recalibration fixes the level (a constant can be mapped to the base rate) ...
    assert scorer.recalibration_weight("injury") > 0.99
    # ... and River still out-predicts that, because it ranks: its edge is over the recalibrated constant
    edge = scorer.online.edge("injury")
    assert edge > 10
    w = scorer.river_weight("injury")
    assert w == pytest.approx(MAX_RIVER_WEIGHT / (1 + math.exp(-(edge + math.log(RIVER_PRIOR_SHARE / (1 - RIVER_PRIOR_SHARE))))))
    assert w > 0.99 * MAX_RIVER_WEIGHT
    out = scorer.score_batch(ROWS)
    river = [scorer.online.predict_proba_one(r) for r in ROWS]
    v = scorer.recalibration_weight("injury")
    p_cal = (1 - v) * 0.5 + v * scorer.online.recalibrators["injury"].predict(0.5)
    assert p_cal < 0.2  # the constant 0.5 mapped towards the base rate
    assert out[0].source == "lightgbm+river"
    assert out[0].injury == pytest.approx((1 - w) * p_cal + w * river[0]["injury"])
    assert out[0].components["recalibrated_injury"] == pytest.approx(p_cal)


def test_river_gets_no_weight_while_lightgbm_predicts_better(lgbm):
    scorer = BlendedScorer(lgbm, OnlineRiskModel(), RuleScorer())
    _learn(scorer, synthetic_frame(3000, seed=4))
    assert scorer.online.n_positive["injury"] >= 20 and scorer.online.n_paired["injury"] == 3000
    assert scorer.online.edge("injury") < 0  # LightGBM (trained on this generator) beats a River still learning
    assert scorer.river_weight("injury") < 0.01 * MAX_RIVER_WEIGHT


def test_a_new_lightgbm_version_must_be_beaten_again():
    scorer = BlendedScorer(ConstantModel(0.5, "v1"), OnlineRiskModel(), RuleScorer())
    _learn(scorer, synthetic_frame(1000, seed=4))
    assert scorer.river_weight("injury") > 0.5 * MAX_RIVER_WEIGHT
    scorer.lgbm = ConstantModel(0.5, "v2")  # hot reload of another artifact
    assert scorer.river_weight("injury") == 0.0  # evidence about v1 says nothing about v2
    _learn(scorer, synthetic_frame(200, seed=5))
    assert scorer.online.reference_version == "v2" and scorer.online.n_paired["injury"] == 200


def test_river_learns_unpaired_without_lightgbm_and_its_weight_stays_zero(trained_online):
    online = OnlineRiskModel()
    scorer = BlendedScorer(None, online, RuleScorer())
    assert scorer.learn([(ROWS[0], True, False)]) == 1
    assert online.n_learned == 1 and online.n_paired["injury"] == 0 and scorer.river_weight("injury") == 0.0


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
    assert v == {"lightgbm": "test-tiny", "river": f"river-{trained_online.estimator}:n={trained_online.n_learned}",
                 "rules": "1"}
    assert not scorer.conservative_mode


def test_scores_carry_both_models_live_probabilities_for_the_snapshot(lgbm):
    online = OnlineRiskModel()
    scorer = BlendedScorer(lgbm, online, RuleScorer())
    scored = scorer.score_batch(ROWS[:2])
    assert set(scored[0].components) == {"lightgbm_injury", "lightgbm_accident", "river_injury", "river_accident"}
    assert scored[0].components["lightgbm_injury"] == lgbm.score_batch(ROWS[:1])[0].injury
    assert scored[0].components["river_accident"] == online.predict_proba_one(ROWS[0])["accident"]
    row = scorer.snapshot_row(ROWS[0], scored[0])
    assert row["_scored_river_injury"] == scored[0].components["river_injury"]
    assert row["_scored_lightgbm_crc"] == float(zlib.crc32(lgbm.version.encode()))
    assert {k: v for k, v in row.items() if not k.startswith("_scored_")} == ROWS[0]


def test_learning_grades_both_models_on_what_they_said_live():
    reference = ConstantModel(0.2, "v1")
    scorer = BlendedScorer(reference, OnlineRiskModel(), RuleScorer())
    live = ScoredRisk(injury=0.2, accident=0.2, components={
        "lightgbm_injury": 0.2, "lightgbm_accident": 0.2, "river_injury": 0.6, "river_accident": 0.1})
    row = scorer.snapshot_row(ROWS[0], live)
    scorer.learn([(row, True, False)])
    expected = -math.log(0.2) + math.log(0.6)  # LightGBM's loss minus River's, both as said live
    assert scorer.online.edge("injury") == pytest.approx(expected)
    assert scorer.online.metrics()["injury"]["log_loss"] == pytest.approx(-math.log(0.6))
    scorer.lgbm = ConstantModel(0.5, "v2")  # the stored LightGBM score is from v1: v2 scores the example now
    scorer.learn([(row, False, True)])
    assert scorer.online.reference_version == "v2"
    assert scorer.online.edge("accident") == pytest.approx(-math.log(0.5) + math.log(0.1))


@pytest.mark.parametrize("corrections, recal, river", [("off", False, False), ("recalibrate", True, False),
                                                        ("recalibrate+river", True, True)])
def test_online_corrections_setting_turns_each_step_on_or_off(corrections, recal, river):
    reference = ConstantModel(0.5)  # both corrections earn full weight against it (test above)
    scorer = BlendedScorer(reference, OnlineRiskModel(), RuleScorer(), corrections=corrections)
    _learn(scorer, synthetic_frame(3000, seed=4))
    assert scorer.online.n_learned > 0  # the online model learns in every mode
    assert (scorer.recalibration_weight("injury") > 0.99) == recal
    assert (scorer.river_weight("injury") > 0.5 * MAX_RIVER_WEIGHT) == river
    out = scorer.score_batch(ROWS)
    assert (out[0].injury == 0.5) == (not recal and not river)


def test_unknown_online_corrections_are_refused():
    with pytest.raises(ValueError, match="choose one of: off, recalibrate, recalibrate\\+river"):
        BlendedScorer(None, None, RuleScorer(), corrections="always")


def test_the_worker_default_is_off():
    from streams.settings import WorkerSettings

    assert WorkerSettings.model_fields["online_corrections"].default == "off"
