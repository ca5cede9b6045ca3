"""Where the alert budget is spent: the model's risk gate of AlertPolicy (alerts/policy.py, ``low_risk``).

A warning or a reminder spends the rider's one budgeted alert only while the model's risk that its
advice lowers is at least ``budget_min_risk_rr`` times the usual; below it the alert waits and the
budget is kept. Each rule on its own: the ratio weighs the risks each advice lowers; a warning waits
at a low risk and goes out when the risk rises; the budget is not spent while it waits; first dangers
and fall questions never wait; no estimate never holds; the absolute scale of the rule-based scores.
"""

from __future__ import annotations

import math

import pytest

from alerts.config import AlertConfig
from alerts.policy import ADVICE_LOWERS, SUPPRESSION_REASONS, AlertPolicy, AlertState
from alerts.reference import PopulationRisk
from riskstream.contracts.records import RiskScores

MIN = 60.0
POP = PopulationRisk(injury=0.07, accident=0.06)
LOW = RiskScores(injury=0.04, accident=0.03, horizon_min=60)  # (0.04 + 0.03) / 0.13 = 0.54× the usual
HIGH = RiskScores(injury=0.08, accident=0.09, horizon_min=60)  # 1.31× the usual


def gated(**kw: object) -> AlertPolicy:
    """The gate at 1× the usual, the hourly cap out of the way (tested in test_alerts_policy.py)."""
    return AlertPolicy(AlertConfig(**{"max_alerts_per_hour": 100, "budget_min_risk_rr": 1.0, **kw}), POP)  # type: ignore[arg-type]


def kinds(decisions) -> list[tuple[str, str]]:
    return [(d.kind, d.severity.value) for d in decisions]


def test_the_ratio_weighs_the_risks_each_advice_lowers() -> None:
    policy = gated()
    policy.evaluate(AlertState(), {}, HIGH, 0.0)
    values = {"p_injury": 0.08, "p_accident": 0.09}
    assert policy.risk_ratio("heat", values) == pytest.approx((0.08 + 0.09) / (0.07 + 0.06))  # a break: both
    assert policy.risk_ratio("riding", values) == pytest.approx(0.09 / 0.06)  # calmer riding: accidents only
    assert policy.risk_ratio("heat", {}) == math.inf  # no estimate: nothing to weigh
    assert set(ADVICE_LOWERS) == {"heat", "strain", "fatigue", "model_risk", "weather", "riding"}


def test_a_warning_at_a_low_risk_waits_and_keeps_the_budget() -> None:
    policy = gated()
    state = AlertState()
    assert policy.evaluate(state, {"heat_index_c": 35.0}, LOW, 0.0) == []
    assert [(s.kind, s.severity.value, s.why) for s in policy.last_suppressed] == [("heat", "warning", "low_risk")]
    assert state.budget == 1.0 and policy.suppressed_counts["low_risk"] == 1
    # the same warning goes out when the rider's risk rises above the usual, and spends the budget then
    assert policy.evaluate(state, {"heat_index_c": 35.0}, LOW, MIN) == []
    assert kinds(policy.evaluate(state, {"heat_index_c": 35.0}, HIGH, 2 * MIN)) == [("heat", "warning")]
    assert state.budget == 0.0


def test_without_the_gate_the_same_warning_goes_out_at_once() -> None:
    """The old behaviour (budget_min_risk_rr 0): the first warning takes the budget whatever the risk."""
    policy = gated(budget_min_risk_rr=0.0)
    assert kinds(policy.evaluate(AlertState(), {"heat_index_c": 35.0}, LOW, 0.0)) == [("heat", "warning")]


def test_a_riding_warning_is_weighed_by_the_accident_risk_alone() -> None:
    policy = gated()
    few_accidents = RiskScores(injury=0.15, accident=0.03, horizon_min=60)  # 1.4× overall, 0.5× accidents
    assert policy.evaluate(AlertState(), {"harsh_brakes_10m": 4}, few_accidents, 0.0) == []
    assert [s.why for s in policy.last_suppressed] == ["low_risk"]
    many_accidents = RiskScores(injury=0.01, accident=0.07, horizon_min=60)
    assert kinds(policy.evaluate(AlertState(), {"harsh_brakes_10m": 4}, many_accidents, 0.0)) == [("riding", "warning")]


def test_a_first_danger_never_waits_for_the_risk() -> None:
    policy = gated()
    state = AlertState()
    assert kinds(policy.evaluate(state, {"heat_index_c": 40.0}, LOW, 0.0)) == [("heat", "danger")]
    assert kinds(policy.evaluate(state, {"heat_index_c": 40.0, "road_flooding": 1}, LOW, MIN)) == [("weather", "danger")]
    assert policy.suppressed_counts["low_risk"] == 0


def test_a_fall_question_never_waits_for_the_risk() -> None:
    policy = gated()
    assert kinds(policy.evaluate(AlertState(), {"fall_suspected": 1}, LOW, 0.0)) == [("fall", "danger")]


def test_a_reminder_waits_for_the_risk_too() -> None:
    policy = gated(heat_break_after_min=0.0, repeat_after_s=3600.0, cooldown_s=900.0)
    state = AlertState()
    assert kinds(policy.evaluate(state, {"heat_index_c": 40.0}, LOW, 0.0)) == [("heat", "danger")]
    state.budget = 1.0  # a full budget an hour on: only the risk holds the reminder
    assert policy.evaluate(state, {"heat_index_c": 40.0}, LOW, 3600.0) == []
    assert [s.why for s in policy.last_suppressed] == ["low_risk"]
    assert kinds(policy.evaluate(state, {"heat_index_c": 40.0}, HIGH, 3660.0)) == [("heat", "danger")]


def test_no_risk_scored_never_holds() -> None:
    assert kinds(gated().evaluate(AlertState(), {"heat_index_c": 35.0}, None, 0.0)) == [("heat", "warning")]


def test_the_rule_based_scores_are_weighed_on_the_absolute_scale() -> None:
    """relative=False (the conservative mode): the usual is the absolute warning line over the warning multiple."""
    policy = gated()
    state = AlertState()
    usual = 0.10 / 3.0  # injury_warning_p / model_risk_warning_rr, the same for accidents
    below = RiskScores(injury=0.9 * usual, accident=0.9 * usual, horizon_min=60)
    assert policy.evaluate(state, {"heat_index_c": 35.0}, below, 0.0, relative=False) == []
    above = RiskScores(injury=1.1 * usual, accident=1.1 * usual, horizon_min=60)
    assert kinds(policy.evaluate(state, {"heat_index_c": 35.0}, above, MIN, relative=False)) == [("heat", "warning")]


def test_low_risk_is_a_suppression_reason_with_an_audit_text() -> None:
    from riskstream.cli.audit import _WHY

    assert "low_risk" in SUPPRESSION_REASONS
    assert all("low_risk" in texts for texts in _WHY.values())
