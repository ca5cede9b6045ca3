"""Targeting under the alert budget (issue 16): one message for co-occurring risks, and the model's crash risk
competing for the budget. Rule by rule; the budget itself is tested in test_alerts_budget.py."""

from __future__ import annotations

from alerts.config import AlertConfig
from alerts.policy import AlertPolicy, AlertState
from alerts.reference import PopulationRisk
from riskstream.contracts.records import RiskScores

MIN = 60.0
POPULATION = PopulationRisk(injury=0.05, accident=0.04)


def kinds(decisions) -> list[tuple[str, str]]:  # noqa: ANN001 - list[AlertDecision]
    return [(d.kind, d.severity.value) for d in decisions]


def test_co_occurring_dangers_go_out_as_one_message_that_names_both() -> None:
    policy = AlertPolicy(AlertConfig(budget_burst=2.0))
    state = AlertState()
    out = policy.evaluate(state, {"heat_index_c": 41.0, "road_flooding": 1}, None, 0)
    assert kinds(out) == [("heat", "danger")]
    assert {r.code for r in out[0].reasons} >= {"HEAT_INDEX_DANGER", "ROAD_FLOODING"}
    assert out[0].message["en"].endswith(". Also: Dangerous weather: take shelter")
    assert "另外：" in out[0].message["zh-CN"]
    assert state.budget == 1.0  # one message spent one alert of the burst of 2
    assert state.notified["weather"] == "danger"  # the flooding counts as told: not sent again next minute
    assert policy.evaluate(state, {"heat_index_c": 41.0, "road_flooding": 1}, None, MIN) == []


def test_a_fall_question_stays_a_message_of_its_own() -> None:
    policy = AlertPolicy(AlertConfig())
    out = policy.evaluate(AlertState(), {"fall_suspected": 1, "heat_index_c": 41.0, "road_flooding": 1}, None, 0)
    assert kinds(out) == [("fall", "danger"), ("heat", "danger")]
    assert out[0].requires_response and not out[1].requires_response
    assert [r.code for r in out[0].reasons] == ["FALL_SUSPECTED"]


def test_a_first_danger_with_an_empty_budget_is_still_told_inside_the_merged_message() -> None:
    policy = AlertPolicy(AlertConfig())
    state = AlertState(budget=0.0, budget_at=0.0)
    out = policy.evaluate(state, {"heat_index_c": 41.0, "road_flooding": 1}, None, MIN)
    assert len(out) == 1 and {r.code for r in out[0].reasons} >= {"HEAT_INDEX_DANGER", "ROAD_FLOODING"}
    assert state.budget == 0.0  # never below zero


def test_merging_off_keeps_one_message_per_kind() -> None:
    policy = AlertPolicy(AlertConfig(merge_co_occurring=False))
    assert kinds(policy.evaluate(AlertState(), {"heat_index_c": 41.0, "road_flooding": 1}, None, 0)) == [
        ("heat", "danger"), ("weather", "danger")]


def test_the_models_crash_risk_at_twice_the_usual_warns_when_the_budget_holds_an_alert() -> None:
    policy = AlertPolicy(AlertConfig(), population=POPULATION)
    out = policy.evaluate(AlertState(), {}, RiskScores(injury=0.01, accident=0.085, horizon_min=60), 0)  # 2.1x
    assert kinds(out) == [("model_risk", "warning")]
    assert [r.code for r in out[0].reasons] == ["MODEL_ACCIDENT_WARNING"] and "2.1×" in out[0].reasons[0].text["en"]
    assert policy.evaluate(AlertState(), {}, RiskScores(injury=0.01, accident=0.07, horizon_min=60), 0) == []  # 1.75x
    empty = AlertState(budget=0.0, budget_at=0.0)
    assert policy.evaluate(empty, {}, RiskScores(injury=0.01, accident=0.085, horizon_min=60), MIN) == []
    assert [s.why for s in policy.last_suppressed] == ["budget"]


def test_the_warning_whose_advice_lowers_the_highest_risk_gets_the_one_alert_left() -> None:
    # a strain warning (a break lowers injury and accident) and a riding warning (calmer riding lowers accident)
    policy = AlertPolicy(AlertConfig(merge_co_occurring=False, max_alerts_per_hour=5, model_risk_accident_warning_rr=9.0,
                                     model_risk_accident_warning_exit_rr=8.5), population=POPULATION)
    risk = RiskScores(injury=0.14, accident=0.08, horizon_min=60)  # injury 2.8x, accident 2x: the break lowers 2.8x
    out = policy.evaluate(AlertState(), {"strain_index_est": 6.5, "harsh_brakes_10m": 4}, risk, 0)
    assert kinds(out) == [("strain", "warning")] and [(s.kind, s.why) for s in policy.last_suppressed] == [
        ("riding", "budget")]
    # at a tie (the accident risk is the highest both lower, 3x) a break goes before calmer riding
    policy = AlertPolicy(AlertConfig(merge_co_occurring=False, max_alerts_per_hour=5, model_risk_accident_warning_rr=4.0,
                                     model_risk_accident_warning_exit_rr=3.5), population=POPULATION)
    risk = RiskScores(injury=0.02, accident=0.12, horizon_min=60)
    out = policy.evaluate(AlertState(), {"heat_index_c": 35.0, "harsh_brakes_10m": 4}, risk, 0)
    assert kinds(out) == [("heat", "warning")] and [(s.kind, s.why) for s in policy.last_suppressed] == [("riding", "budget")]


def test_a_calm_riding_warning_does_not_cover_the_models_crash_risk_and_the_break_advice_wins_the_budget() -> None:
    policy = AlertPolicy(AlertConfig(merge_co_occurring=False, max_alerts_per_hour=5, budget_burst=2.0),
                         population=POPULATION)
    state = AlertState()
    assert kinds(policy.evaluate(state, {"precip_mm_h": 10}, None, 0)) == [("weather", "warning")]
    # 20 min later the model puts the crash risk at 5x: the rain warning said "ride slower"; a break is news
    out = policy.evaluate(state, {"precip_mm_h": 10}, RiskScores(injury=0.05, accident=0.2, horizon_min=60), 20 * MIN)
    assert kinds(out) == [("model_risk", "warning")]
    # a weather danger (off the road) does cover it
    policy2 = AlertPolicy(AlertConfig(merge_co_occurring=False, max_alerts_per_hour=5, budget_burst=2.0),
                          population=POPULATION)
    state2 = AlertState()
    assert kinds(policy2.evaluate(state2, {"road_flooding": 1}, None, 0)) == [("weather", "danger")]
    assert policy2.evaluate(state2, {"road_flooding": 1}, RiskScores(injury=0.05, accident=0.2, horizon_min=60),
                            20 * MIN) == []
    assert [s.why for s in policy2.last_suppressed] == ["covered"]


def test_at_one_risk_a_break_goes_before_calmer_riding() -> None:
    # heavy rain (weather warning: ride slower) and the model's crash risk at 5x (model-risk warning: a break), one
    # alert in the budget: both lower the crash risk, 5x; the break wins it
    policy = AlertPolicy(AlertConfig(merge_co_occurring=False, max_alerts_per_hour=5), population=POPULATION)
    out = policy.evaluate(AlertState(), {"precip_mm_h": 10}, RiskScores(injury=0.05, accident=0.2, horizon_min=60), 0)
    assert kinds(out) == [("model_risk", "warning")]
    assert [(s.kind, s.why) for s in policy.last_suppressed] == [("weather", "budget")]
