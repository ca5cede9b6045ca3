"""The per-rider alert budget and the offline rule of AlertPolicy (alerts/policy.py, Budget).

Each rule on its own: a warning waits for the budget; a first danger and a fall question never
wait; reminders wait; online time earns the budget back, time away does not; an offline rider gets
no warnings or reminders; every held alert is counted with its reason.
"""

from __future__ import annotations

import pytest

from alerts.config import AlertConfig
from alerts.policy import FIRST_DANGER_KINDS, SUPPRESSION_REASONS, AlertPolicy, AlertState, Budget
from riskstream.contracts.records import RiskScores

MIN = 60.0


def kinds(decisions) -> list[tuple[str, str]]:
    return [(d.kind, d.severity.value) for d in decisions]


def cfg(**kw: object) -> AlertConfig:
    """The hourly cap out of the way (it is tested in test_alerts_policy.py)."""
    return AlertConfig(**{"max_alerts_per_hour": 100, **kw})  # type: ignore[arg-type]


def test_default_budget_is_one_alert_per_two_online_hours_starting_with_one() -> None:
    c = AlertConfig()
    assert (c.budget_enabled, c.budget_online_hours_per_alert, c.budget_burst, c.budget_gap_max_s) == (
        True, 2.0, 1.0, 300.0)


def test_second_warning_waits_for_the_budget_and_is_counted() -> None:
    policy = AlertPolicy(cfg())
    state = AlertState()
    assert kinds(policy.evaluate(state, {"precip_mm_h": 10}, None, 0)) == [("weather", "warning")]
    assert state.budget == 0.0
    # 20 min later (scored every minute) harsh braking: a warning of another kind, but the budget is spent
    for m in range(1, 21):
        out = policy.evaluate(state, {"precip_mm_h": 10, "harsh_brakes_10m": 4 if m == 20 else 0}, None, m * MIN)
    assert out == []
    assert [(s.kind, s.why) for s in policy.last_suppressed] == [("riding", "budget")]
    assert policy.suppressed_counts["budget"] == 1
    assert state.budget == pytest.approx(20 * MIN / 3600 * 0.5)


def test_budget_earned_back_after_two_online_hours_lets_the_warning_out() -> None:
    policy = AlertPolicy(cfg())
    state = AlertState()
    policy.evaluate(state, {"precip_mm_h": 10}, None, 0)
    sent = [m for m in range(1, 180)
            if policy.evaluate(state, {"precip_mm_h": 10, "harsh_brakes_10m": 4}, None, m * MIN)]
    assert sent == [120]  # one alert per 2 online hours
    assert policy.suppressed_counts["budget"] == 119


def test_a_model_risk_danger_waits_for_the_budget() -> None:
    """The model's danger is an estimate whose advice is a rest after this order: it waits like a warning."""
    policy = AlertPolicy(cfg())
    state = AlertState(budget=0.0, budget_at=0.0)
    risky = RiskScores(injury=0.01, accident=0.5, horizon_min=60)
    assert policy.evaluate(state, {}, risky, 60.0, relative=False) == []
    assert [(s.kind, s.severity.value, s.why) for s in policy.last_suppressed] == [("model_risk", "danger", "budget")]
    sent = [m for m in range(2, 200) if policy.evaluate(state, {}, risky, m * MIN, relative=False)]
    assert sent == [120]  # the budget holds one alert again after 2 online hours


def test_first_danger_never_waits_for_the_budget() -> None:
    policy = AlertPolicy(cfg())
    state = AlertState()
    assert kinds(policy.evaluate(state, {"heat_index_c": 35.0}, None, 0)) == [("heat", "warning")]
    assert state.budget == 0.0
    # an escalation to danger in the same episode is a first danger: out at once, budget stays at 0
    out = policy.evaluate(state, {"heat_index_c": 40.0}, None, MIN)
    assert kinds(out) == [("heat", "danger")] and out[0].escalation
    # a danger of another kind, also at once
    assert kinds(policy.evaluate(state, {"heat_index_c": 40.0, "road_flooding": 1}, None, 2 * MIN)) == [
        ("weather", "danger")]
    assert state.budget == 0.0 and policy.suppressed_counts["budget"] == 0
    assert FIRST_DANGER_KINDS == {"heat", "strain", "fatigue", "weather"}  # and fall questions, exempt from all limits


def test_a_danger_reminder_waits_for_the_budget() -> None:
    policy = AlertPolicy(cfg(repeat_after_s=3600.0))
    state = AlertState()
    assert kinds(policy.evaluate(state, {"heat_index_c": 41.0}, None, 0)) == [("heat", "danger")]
    policy.evaluate(state, {"heat_index_c": 41.0, "harsh_brakes_10m": 4}, None, MIN)  # held: budget 0
    sent = [m for m in range(2, 200) if policy.evaluate(state, {"heat_index_c": 41.0}, None, m * MIN)]
    # the hourly reminder is not a first danger: it waits until the budget holds one alert again (2 h)
    assert sent == [120]
    assert policy.suppressed_counts["budget"] >= 60


def test_fall_question_never_waits_and_does_not_spend_the_budget() -> None:
    policy = AlertPolicy(cfg())
    state = AlertState(budget=0.0, budget_at=0.0)
    out = policy.evaluate(state, {"fall_suspected": 1, "impact_peak_g_1m": 5.0}, None, 1.0, online=False)
    assert kinds(out) == [("fall", "danger")] and out[0].requires_response
    assert state.budget == 0.0


def test_offline_rider_gets_no_warnings_or_reminders_but_gets_a_first_danger() -> None:
    policy = AlertPolicy(cfg())
    state = AlertState()
    assert policy.evaluate(state, {"precip_mm_h": 10}, None, 0, online=False) == []
    assert [(s.kind, s.why) for s in policy.last_suppressed] == [("weather", "offline")]
    assert kinds(policy.evaluate(state, {"precip_mm_h": 10, "road_flooding": 1}, None, MIN, online=False)) == [
        ("weather", "danger")]
    assert policy.suppressed_counts == {"offline": 1}


def test_warning_held_offline_goes_out_when_the_rider_is_back_online() -> None:
    policy = AlertPolicy(cfg())
    state = AlertState()
    assert policy.evaluate(state, {"heat_index_c": 35.0}, None, 0, online=False) == []
    assert kinds(policy.evaluate(state, {"heat_index_c": 35.0}, None, MIN, online=True)) == [("heat", "warning")]


def test_time_offline_and_long_gaps_earn_nothing() -> None:
    policy = AlertPolicy(cfg())
    state = AlertState()
    policy.evaluate(state, {"precip_mm_h": 10}, None, 0)  # spends the one alert; earns 0.5 per online hour
    for m in range(1, 181):  # 3 h on a break, scored each minute
        policy.evaluate(state, {"precip_mm_h": 10}, None, m * MIN, online=False)
    assert state.budget == 0.0
    policy.evaluate(state, {"precip_mm_h": 10}, None, 10 * 3600.0)  # back after a 7 h gap: 300 s count
    assert state.budget == pytest.approx(0.5 * 300 / 3600)


def test_budget_never_above_burst_nor_below_zero() -> None:
    b = Budget(per_hour=0.5, burst=2.0, gap_max_s=300.0)
    balance = 0.0
    for _ in range(1000):
        balance = b.earn(balance, 300.0)
    assert balance == 2.0
    policy = AlertPolicy(cfg(budget_burst=2.0, merge_co_occurring=False))  # two messages, two spent
    state = AlertState()
    out = policy.evaluate(state, {"heat_index_c": 41.0, "road_flooding": 1}, None, 0)
    assert kinds(out) == [("heat", "danger"), ("weather", "danger")]
    assert state.budget == 0.0  # two dangers spent the burst of 2; a third would not make it negative
    out = policy.evaluate(state, {"heat_index_c": 41.0, "road_flooding": 1, "strain_index_est": 8.0}, None, 2 * MIN)
    assert kinds(out) == [("strain", "danger")] and state.budget == 0.0


def test_budget_off_sends_what_cap_and_cooldown_allow() -> None:
    policy = AlertPolicy(cfg(budget_enabled=False))
    state = AlertState()
    policy.evaluate(state, {"precip_mm_h": 10}, None, 0)
    assert kinds(policy.evaluate(state, {"precip_mm_h": 10, "harsh_brakes_10m": 4}, None, MIN)) == [("riding", "warning")]


def test_budget_survives_the_state_round_trip_and_old_states_start_full() -> None:
    policy = AlertPolicy(cfg())
    state = AlertState()
    policy.evaluate(state, {"precip_mm_h": 10}, None, 0)
    again = AlertState.from_dict(state.to_dict())
    assert (again.budget, again.budget_at) == (0.0, 0.0)
    old = state.to_dict()
    del old["budget"], old["budget_at"]  # a state written before the budget existed
    restored = AlertState.from_dict(old)
    assert restored.budget is None
    assert kinds(policy.evaluate(restored, {"precip_mm_h": 10, "harsh_brakes_10m": 4}, None, MIN)) == [
        ("riding", "warning")]


def test_a_flapping_warning_stays_within_the_budget_over_a_shift() -> None:
    """Riding behaviour that comes and goes all shift: at most 1 + 0.5 per online hour reach the rider ."""
    policy = AlertPolicy(cfg(cooldown_s=0.0, warning_repeat_after_s=0.0, repeat_after_s=0.0, fatigue_repeat_after_s=0.0))
    state = AlertState()
    hours = 8
    sent = sum(len(policy.evaluate(state, {"harsh_brakes_10m": 4 if m % 20 < 10 else 0}, None, m * MIN))
               for m in range(hours * 60))
    assert sent <= 1 + 0.5 * hours
    assert sent >= 0.5 * hours  # and the budget is used, not starved
    assert policy.suppressed_counts["budget"] > 0


def test_every_reason_a_policy_gives_is_a_known_suppression_reason() -> None:
    import streams.metrics as metrics

    assert set(SUPPRESSION_REASONS) >= {"cooldown", "hourly_cap", "covered", "budget", "offline"}
    labelled = {s.labels["reason"] for m in metrics.ALERTS_SUPPRESSED.collect() for s in m.samples}
    assert labelled >= set(SUPPRESSION_REASONS)  # each series exists at 0 before the first hold
