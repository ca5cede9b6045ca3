"""The shared scorer check suite (models.checks) against every scorer, plus scorer-specific tests."""

from __future__ import annotations

import math

import pytest

from features.catalog import FEATURE_NAMES
from models import BlendedScorer, LightGBMScorer, OnlineRiskModel, RuleScorer, load_artifact
from models.checks import edge_rows, yield_checks
from riskstream.testing.artifacts import tiny_artifact
from riskstream.testing.frames import synthetic_frame


@pytest.fixture(scope="module")
def artifact_dir(tmp_path_factory):
    return tiny_artifact(tmp_path_factory.mktemp("artifacts"))


@pytest.fixture(scope="module")
def rows():
    frame = synthetic_frame(60, seed=7)
    return frame[list(FEATURE_NAMES)].to_dict("records")


def _scorers(artifact_dir):
    lgbm = lambda: LightGBMScorer(load_artifact(artifact_dir))  # noqa: E731
    online = OnlineRiskModel()
    for x in synthetic_frame(300, seed=3).to_dict("records"):
        online.learn_one(x, bool(x["y_injury"]), bool(x["y_accident"]))
    corrected = BlendedScorer(lgbm(), OnlineRiskModel(), RuleScorer(), clock=lambda: 0.0)
    corrected.learn([(x, bool(x["y_injury"]), bool(x["y_accident"])) for x in synthetic_frame(600, seed=3).to_dict("records")])
    for t in ("injury", "accident"):  # as if both corrections had earned their weight: the mixing path is checked
        corrected.online._recal_edge[t] = corrected.online._edge[t] = 50.0
        corrected.online.recalibrators[t].a, corrected.online.recalibrators[t].b = 0.8, 0.7
    return {
        "rules": (RuleScorer(), None),
        "lightgbm": (lgbm(), lgbm),
        "blend": (BlendedScorer(lgbm(), online, RuleScorer(), clock=lambda: 0.0), None),
        "blend-corrected": (corrected, None),
        "blend-no-model": (BlendedScorer(None, online, RuleScorer(), clock=lambda: 0.0), None),
    }


def test_the_corrected_blend_really_mixes(artifact_dir, rows):
    scorer, _ = _scorers(artifact_dir)["blend-corrected"]
    assert scorer.recalibration_weight("accident") > 0.99 and scorer.river_weight("accident") > 0.79
    out = scorer.score_batch(rows[:5])
    assert all(s.source == "lightgbm+river" and s.accident != s.components["lightgbm_accident"] for s in out)


@pytest.mark.parametrize("name", ["rules", "lightgbm", "blend", "blend-corrected", "blend-no-model"])
def test_scorer_checks(name, artifact_dir, rows):
    scorer, reload = _scorers(artifact_dir)[name]
    checks = list(yield_checks(scorer, reload))
    assert len(checks) >= 6
    for check in checks:
        check(scorer, rows)


def test_lightgbm_scores_the_high_hazard_rows_higher(artifact_dir):
    frame = synthetic_frame(3000, seed=11)
    scored = LightGBMScorer(load_artifact(artifact_dir)).score_batch(frame[list(FEATURE_NAMES)].to_dict("records"))
    p = [s.injury for s in scored]
    top = frame["p_injury_true"].rank(pct=True) > 0.9
    low = frame["p_injury_true"].rank(pct=True) < 0.1
    assert sum(p[i] for i in top[top].index) / top.sum() > 2 * sum(p[i] for i in low[low].index) / low.sum()


def test_lightgbm_reasons_name_the_driving_feature(artifact_dir):
    row = {name: 0.0 for name in FEATURE_NAMES} | {"heat_index_c": 49.0, "strain_index_est": 9.5, "visibility_m": 9000.0}
    scored = LightGBMScorer(load_artifact(artifact_dir)).score_batch([row])[0]
    codes = [r.code for r in scored.reasons]
    assert "HEAT_INDEX" in codes or "PHYSIOLOGICAL_STRAIN" in codes
    assert scored.source == "lightgbm" and scored.conservative is False


def test_lightgbm_reason_codes_are_unique_per_row(artifact_dir):
    for s in LightGBMScorer(load_artifact(artifact_dir), top_k=10).score_batch(edge_rows()):
        codes = [r.code for r in s.reasons]
        assert len(codes) == len(set(codes))


def test_lightgbm_explains_only_rows_at_or_above_threshold(artifact_dir):
    scorer = LightGBMScorer(load_artifact(artifact_dir), explain_min_risk=1.1)
    assert all(s.reasons == [] for s in scorer.score_batch(edge_rows()))


def test_lightgbm_rejects_non_numeric_input(artifact_dir):
    from models.errors import ScoringError

    with pytest.raises(ScoringError):
        LightGBMScorer(load_artifact(artifact_dir)).score_batch([{"heat_index_c": "hot"}])


def _benign():
    return {**{name: 0.0 for name in FEATURE_NAMES}, "visibility_m": 10_000.0}


@pytest.mark.parametrize("feature", ["wearable_age_s", "weather_age_s", "trip_age_s", "heat_category",
                                     "strain_index_est", "precip_mm_h"])
def test_rules_missing_input_never_lowers_risk(feature):
    scorer = RuleScorer()
    base = scorer.score_one(_benign())
    for missing in (float("nan"), None):
        row = _benign() | {feature: missing}
        s = scorer.score_one(row)
        assert s.injury >= base.injury and s.accident >= base.accident
        assert s.injury + s.accident > base.injury + base.accident
    absent = {k: v for k, v in _benign().items() if k != feature}
    assert scorer.score_one(absent).injury + scorer.score_one(absent).accident > base.injury + base.accident


def test_rules_stale_wearable_raises_injury_and_is_a_reason():
    s = RuleScorer().score_one(_benign() | {"wearable_age_s": 900.0})
    assert s.injury > RuleScorer().score_one(_benign()).injury
    assert "WEARABLE_AGE" in [r.code for r in s.reasons]


def test_rules_are_monotone_in_heat_category():
    ps = [RuleScorer().score_one(_benign() | {"heat_category": c}).injury for c in range(5)]
    assert ps == sorted(ps) and ps[4] > 4 * ps[0]


def test_rules_suspected_fall_is_a_likely_injury():
    s = RuleScorer().score_one(_benign() | {"fall_suspected": 1})
    assert s.injury >= 0.5 and s.reasons[0].code == "FALL_SUSPECTED"


def test_rules_always_conservative():
    assert all(s.conservative and s.source == "rules" for s in RuleScorer().score_batch(edge_rows()))
    assert all(math.isfinite(s.any_event) for s in RuleScorer().score_batch(edge_rows()))


def test_models_package_does_not_import_faust():
    from pathlib import Path

    import models

    for path in Path(models.__file__).parent.glob("*.py"):
        text = path.read_text()
        assert "import faust" not in text and "from faust" not in text, path
