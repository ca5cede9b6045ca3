"""Issue 15 (e): the shipped artifact's injury model-risk warning is a line its served scorer reaches.

Served by the WBGT estimate alone, injury p topped out at 0.143 while the warning sat at 3x the
population (0.19): no injury model alert could fire. The card's population block now records the
served scorer's 99th percentile on the calibration fleet, and the warning sits there when 3x is out of
reach (:meth:`alerts.reference.PopulationRisk.reach`). A hot, strained rider crosses it; a rider in
mild weather does not; heat rules fire as before.
"""

from __future__ import annotations

import pytest

from alerts.config import AlertConfig
from alerts.policy import AlertPolicy, AlertState
from alerts.signals import build_signals
from models.artifact import ARTIFACTS_DIR, load_artifact
from models.scoring import LightGBMScorer
from riskstream.contracts.records import RiskScores
from streams.model_host import population_of

pytestmark = pytest.mark.skipif(not (ARTIFACTS_DIR / "CURRENT").exists(), reason="no shipped artifact")

HOT = {"heat_index_c": 52.0, "heat_category": 4.0, "wbgt_c_est": 42.0, "heat_exposure_min_today": 300.0,
       "cn_heat_35": 1.0, "cn_heat_40": 1.0, "hr_mean_1m": 165.0, "hr_mean_5m": 160.0, "hr_max_5m": 175.0,
       "hr_mean_15m": 155.0, "hrr_pct": 80.0, "time_above_85pct_hrmax_15m": 12.0, "skin_temp_c": 37.5,
       "skin_temp_trend_c_10m": 0.6, "strain_index_est": 8.0, "wearable_quality": 1.0, "continuous_riding_min": 150.0,
       "online_hours_today": 10.0, "breaks_today": 0.0, "wearable_age_s": 1.0, "trip_age_s": 1.0, "weather_age_s": 60.0}
MILD = {**HOT, "heat_index_c": 24.0, "heat_category": 0.0, "wbgt_c_est": 20.0, "heat_exposure_min_today": 0.0,
        "cn_heat_35": 0.0, "cn_heat_40": 0.0, "hr_mean_1m": 100.0, "hr_mean_5m": 100.0, "hr_max_5m": 110.0,
        "hr_mean_15m": 100.0, "hrr_pct": 35.0, "time_above_85pct_hrmax_15m": 0.0, "skin_temp_c": 33.5,
        "skin_temp_trend_c_10m": 0.0, "strain_index_est": 1.0, "continuous_riding_min": 20.0, "online_hours_today": 2.0}


def test_a_hot_enough_rider_crosses_the_shipped_injury_warning_line() -> None:
    bundle = load_artifact()
    population = population_of(bundle)
    assert population is not None and population.injury_top_1pct is not None
    line = next(s for s in build_signals(AlertConfig(), population) if s.feature == "p_injury").rules[0].enter
    three_x = 3.0 * population.injury
    assert line == pytest.approx(min(three_x, population.injury_top_1pct))
    hot, mild = LightGBMScorer(bundle).score_batch([HOT, MILD])
    assert hot.injury >= line > mild.injury
    policy = AlertPolicy(AlertConfig(), population=population)
    out = policy.evaluate(AlertState(), {}, RiskScores(injury=hot.injury, accident=mild.accident), 0)
    assert [r.code for a in out for r in a.reasons] == ["MODEL_INJURY_WARNING"]
    assert policy.evaluate(AlertState(), {}, RiskScores(injury=mild.injury, accident=mild.accident), 0) == []
    # the heat rule fires as before, from the feature itself
    heat = policy.evaluate(AlertState(), {"heat_index_c": HOT["heat_index_c"]}, None, 0)
    assert [(a.kind, a.severity.value) for a in heat] == [("heat", "danger")]
