"""AlertPolicy: hysteresis, cooldown, escalation, reminders, hourly cap, NaN, fall."""

from __future__ import annotations

import json
import math

import pytest

from alerts.config import AlertConfig
from alerts.policy import AlertPolicy, AlertState
from alerts.reference import PopulationRisk
from riskstream.contracts.records import RiskScores, Severity

MIN = 60.0


@pytest.fixture
def policy() -> AlertPolicy:
    return AlertPolicy(AlertConfig(budget_enabled=False))  # the budget is tested on its own (test_alerts_budget.py)


def kinds(decisions) -> list[tuple[str, str]]:
    return [(d.kind, d.severity.value) for d in decisions]


def test_heat_enters_at_39_4_and_stays_until_below_exit(policy: AlertPolicy) -> None:
    state = AlertState()
    assert kinds(policy.evaluate(state, {"heat_index_c": 39.3}, None, 0)) == [("heat", "warning")]
    assert kinds(policy.evaluate(state, {"heat_index_c": 39.4}, None, 1 * MIN)) == [("heat", "danger")]
    for t, hi in enumerate([39.0, 38.6, 38.3], start=2):  # between exit 38.3 and enter 39.4
        assert policy.evaluate(state, {"heat_index_c": hi}, None, t * MIN) == []
        assert state.level("heat") is Severity.danger
    policy.evaluate(state, {"heat_index_c": 38.2}, None, 6 * MIN)
    assert state.level("heat") is Severity.warning  # below danger exit, still above warning exit
    policy.evaluate(state, {"heat_index_c": 31.0}, None, 7 * MIN)
    assert state.level("heat") is None


def test_between_exit_and_enter_without_prior_alert_does_not_enter(policy: AlertPolicy) -> None:
    state = AlertState()
    assert kinds(policy.evaluate(state, {"heat_index_c": 39.0}, None, 0)) == [("heat", "warning")]
    assert policy.evaluate(AlertState(), {"heat_index_c": 32.0}, None, 0) == []  # below 32.2, above exit 31.1


def test_visibility_triggers_below_threshold(policy: AlertPolicy) -> None:
    state = AlertState()
    assert kinds(policy.evaluate(state, {"visibility_m": 150}, None, 0)) == [("weather", "warning")]
    policy.evaluate(state, {"visibility_m": 250}, None, MIN)
    assert state.level("weather") is Severity.warning  # exit is 300 m
    policy.evaluate(state, {"visibility_m": 300}, None, 2 * MIN)
    assert state.level("weather") is None


def test_cooldown_holds_a_reentry_then_sends_it() -> None:
    policy = AlertPolicy(AlertConfig(max_alerts_per_hour=5, budget_enabled=False))  # cap and budget are tested on their own
    state = AlertState()
    assert kinds(policy.evaluate(state, {"precip_mm_h": 10}, None, 0)) == [("weather", "warning")]
    policy.evaluate(state, {"precip_mm_h": 1}, None, 2 * MIN)  # clears
    assert policy.evaluate(state, {"precip_mm_h": 10}, None, 5 * MIN) == []  # re-entry inside 15 min
    assert [(s.kind, s.why) for s in policy.last_suppressed] == [("weather", "cooldown")]
    assert policy.evaluate(state, {"precip_mm_h": 10}, None, 14.9 * MIN) == []
    assert kinds(policy.evaluate(state, {"precip_mm_h": 10}, None, 15 * MIN)) == [("weather", "warning")]
    assert policy.suppressed_counts["cooldown"] == 2


def test_persisting_condition_is_not_resent_until_reminder(policy: AlertPolicy) -> None:
    state = AlertState()
    f = {"online_hours_today": 8.2}
    assert kinds(policy.evaluate(state, f, None, 0)) == [("fatigue", "warning")]
    sent = [t for t in range(1, 120) if policy.evaluate(state, f, None, t * MIN)]
    assert sent == [60]  # Meituan: hourly after the first prompt


def test_escalation_bypasses_cooldown(policy: AlertPolicy) -> None:
    state = AlertState()
    assert kinds(policy.evaluate(state, {"precip_mm_h": 10}, None, 0)) == [("weather", "warning")]
    out = policy.evaluate(state, {"precip_mm_h": 10, "road_flooding": 1}, None, 1 * MIN)
    assert kinds(out) == [("weather", "danger")] and out[0].escalation
    assert out[0].reasons[0].code == "ROAD_FLOODING"
    # dropping back and rising again to danger within the cooldown is not news
    policy.evaluate(state, {"precip_mm_h": 10, "road_flooding": 0}, None, 2 * MIN)
    assert policy.evaluate(state, {"precip_mm_h": 10, "road_flooding": 1}, None, 3 * MIN) == []


def test_hourly_cap_holds_warnings_not_danger() -> None:
    assert AlertConfig().max_alerts_per_hour == 1
    policy = AlertPolicy(AlertConfig(max_alerts_per_hour=2, budget_enabled=False, merge_co_occurring=False))
    state = AlertState()
    features = {"precip_mm_h": 10, "harsh_brakes_10m": 4, "online_hours_today": 9, "heat_index_c": 41}
    out = policy.evaluate(state, features, None, 0)
    # danger first, then one warning fills the cap of 2; the other two warnings are held
    assert len(out) == 2 and out[0].kind == "heat" and out[0].severity is Severity.danger
    assert [s.why for s in policy.last_suppressed] == ["hourly_cap", "hourly_cap"]
    # a fourth kind within the hour is held; after the hour it goes out
    state2 = AlertState()
    sent = 0
    for i, f in enumerate([{"precip_mm_h": 10}, {"harsh_brakes_10m": 4}, {"strain_index_est": 6.5}]):
        sent += len(policy.evaluate(state2, f, None, i * 10 * MIN))
    assert sent == 2 and policy.last_suppressed[0].why == "hourly_cap"
    assert kinds(policy.evaluate(state2, {"strain_index_est": 6.5}, None, 60 * MIN)) == [("strain", "warning")]
    # a danger over the cap is never held: flooding goes out at once
    state3 = AlertState(sent_times=[0.0, 60.0])
    assert kinds(policy.evaluate(state3, {"road_flooding": 1}, None, 120.0)) == [("weather", "danger")]
    assert state3.sent_times == [0.0, 60.0, 120.0]  # and it counts towards the hour


def test_fall_danger_bypasses_cap_and_requires_response(policy: AlertPolicy) -> None:
    state = AlertState(sent_times=[0.0, 1.0, 2.0])
    out = policy.evaluate(state, {"fall_suspected": 1, "impact_peak_g_1m": 4.5}, None, 3.0)
    assert kinds(out) == [("fall", "danger")]
    assert out[0].requires_response and "4.5 g" in out[0].message["en"]
    # the flag staying on does not repeat the prompt
    assert policy.evaluate(state, {"fall_suspected": 1}, None, 30.0) == []
    other = policy.evaluate(AlertState(), {"heat_index_c": 41}, None, 0)
    assert not other[0].requires_response


@pytest.mark.parametrize("bad", [math.nan, float("inf"), None, "n/a"])
def test_nan_never_triggers(policy: AlertPolicy, bad: object) -> None:
    state = AlertState()
    features = {name: bad for name in ("heat_index_c", "fall_suspected", "visibility_m", "strain_index_est")}
    assert policy.evaluate(state, features, None, 0) == []  # type: ignore[arg-type]
    assert state.active == {}


def test_nan_does_not_clear_an_active_alert(policy: AlertPolicy) -> None:
    state = AlertState()
    policy.evaluate(state, {"heat_index_c": 41}, None, 0)
    policy.evaluate(state, {"heat_index_c": math.nan}, None, MIN)
    policy.evaluate(state, {}, None, 2 * MIN)
    assert state.level("heat") is Severity.danger
    policy.evaluate(state, {"heat_index_c": 30}, None, 3 * MIN)
    assert state.level("heat") is None


def test_model_risk_from_scores(policy: AlertPolicy) -> None:
    out = policy.evaluate(AlertState(), {}, RiskScores(injury=0.3, accident=0.01), 0)
    assert kinds(out) == [("model_risk", "danger")]
    assert out[0].reasons[0].code == "MODEL_INJURY_DANGER" and out[0].reasons[0].value == 0.3


def test_every_decision_has_reasons_values_thresholds_and_both_locales() -> None:
    features = {
        "heat_index_c": 41, "continuous_riding_min": 250, "strain_index_est": 8, "visibility_m": 40,
        "speeding_s_10m": 90, "online_hours_today": 12.5, "fall_suspected": 1,
    }
    state = AlertState()
    cfg = AlertConfig(max_alerts_per_hour=100, model_risk_covered_s=0, budget_enabled=False,
                      merge_co_occurring=False)  # see every kind at once
    decisions = AlertPolicy(cfg).evaluate(state, features, RiskScores(injury=0.12, accident=0.0), 0)
    assert {d.kind for d in decisions} == {"heat", "strain", "weather", "riding", "fatigue", "fall", "model_risk"}
    for d in decisions:
        assert d.reasons and all(r.code and set(r.text) == {"zh-CN", "en"} for r in d.reasons)
        assert d.thresholds and d.values
        assert set(d.title) == set(d.message) == {"zh-CN", "en"}
        for text in (*d.title.values(), *d.message.values()):
            assert "{" not in text and "nan" not in text.lower()


def test_state_round_trips_through_json(policy: AlertPolicy) -> None:
    state = AlertState()
    policy.evaluate(state, {"heat_index_c": 41, "precip_mm_h": 9}, None, 0)
    restored = AlertState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert restored == state
    # the restored state behaves the same: no duplicate
    assert policy.evaluate(restored, {"heat_index_c": 41, "precip_mm_h": 9}, None, MIN) == []


def test_state_stays_bounded(policy: AlertPolicy) -> None:
    state = AlertState()
    for i in range(2000):
        policy.evaluate(state, {"fall_suspected": i % 2, "precip_mm_h": 10 * (i % 2)}, None, i * 20 * MIN)
    assert len(state.sent_times) <= 32 and len(json.dumps(state.to_dict())) < 2000


def test_config_rejects_exit_on_wrong_side() -> None:
    with pytest.raises(ValueError, match="exit"):
        AlertConfig(heat_index_warning_exit_c=33.0)
    with pytest.raises(ValueError, match="repeat_after_s"):
        AlertConfig(repeat_after_s=60)


# --- reminders, episodes, model risk relative to the population, covered model-risk warnings

HOUR = 3600.0


def sent_at(policy: AlertPolicy, state: AlertState, feature_at, minutes: range) -> list[tuple[int, str, str]]:
    out = []
    for m in minutes:
        out += [(m, d.kind, d.severity.value) for d in policy.evaluate(state, feature_at(m), None, m * MIN)]
    return out


def test_lasting_conditions_remind_every_4_h_fatigue_hourly(policy: AlertPolicy) -> None:
    assert sent_at(policy, AlertState(), lambda m: {"heat_index_c": 41.0}, range(0, 500)) == [
        (0, "heat", "danger"), (240, "heat", "danger"), (480, "heat", "danger")]
    assert sent_at(policy, AlertState(), lambda m: {"heat_index_c": 35.0}, range(0, 500)) == [
        (0, "heat", "warning"), (240, "heat", "warning"), (480, "heat", "warning")]
    fatigue = sent_at(policy, AlertState(), lambda m: {"online_hours_today": 8.5}, range(0, 200))
    assert [m for m, _, _ in fatigue] == [0, 60, 120, 180]


def test_a_value_hovering_at_the_danger_line_is_one_episode(policy: AlertPolicy) -> None:
    # 39.9 / 37.9 alternating every 20 min: crosses enter (39.4) and exit (38.3) again and again
    hover = sent_at(policy, AlertState(), lambda m: {"heat_index_c": 39.9 if (m // 20) % 2 == 0 else 37.9},
                    range(0, 480))
    assert hover == [(0, "heat", "danger"), (240, "heat", "danger")]  # the 4-h reminder, no re-escalations


THREE_X = {"model_risk_accident_warning_rr": 3.0, "model_risk_accident_warning_exit_rr": 2.5}  # accident at the injury line


def test_model_risk_thresholds_are_multiples_of_the_population() -> None:
    policy = AlertPolicy(AlertConfig(**THREE_X), population=PopulationRisk(injury=0.05, accident=0.04))
    calm = RiskScores(injury=0.12, accident=0.11)  # 2.4x and 2.75x: under the 3x warning line
    assert policy.evaluate(AlertState(), {}, calm, 0) == []
    high = RiskScores(injury=0.12, accident=0.13)  # accident 3.25x
    out = policy.evaluate(AlertState(), {}, high, 0)
    assert kinds(out) == [("model_risk", "warning")] and [r.code for r in out[0].reasons] == ["MODEL_ACCIDENT_WARNING"]
    assert out[0].thresholds["p_accident.warning.enter"] == pytest.approx(0.12)
    assert kinds(policy.evaluate(AlertState(), {}, RiskScores(injury=0.31, accident=0.0), 0)) == [("model_risk", "danger")]
    # rule-based scores (conservative mode) are judged by the absolute thresholds: 0.12 ≥ 0.10
    assert kinds(policy.evaluate(AlertState(), {}, calm, 0, relative=False)) == [("model_risk", "warning")]
    # without a population, the absolute thresholds
    assert kinds(AlertPolicy(AlertConfig()).evaluate(AlertState(), {}, calm, 0)) == [("model_risk", "warning")]


def test_model_risk_warning_is_held_while_a_specific_alert_covers_it() -> None:
    policy = AlertPolicy(AlertConfig(max_alerts_per_hour=5, budget_enabled=False), population=PopulationRisk(injury=0.05, accident=0.04))
    state = AlertState()
    hot, risky = {"heat_index_c": 35.0}, RiskScores(injury=0.2, accident=0.01)  # injury 4x: warning
    assert kinds(policy.evaluate(state, hot, None, 0)) == [("heat", "warning")]
    assert policy.evaluate(state, hot, risky, 10 * MIN) == []
    assert [(s.kind, s.why) for s in policy.last_suppressed] == [("model_risk", "covered")]
    # a crash risk is not covered by a heat alert
    crashy = RiskScores(injury=0.2, accident=0.2)
    out = policy.evaluate(state, hot, crashy, 20 * MIN)
    assert kinds(out) == [("model_risk", "warning")]
    # after the window the injury warning is news again, and danger is never held
    state2 = AlertState()
    policy.evaluate(state2, hot, None, 0)
    assert kinds(policy.evaluate(state2, hot, RiskScores(injury=0.35, accident=0.0), 5 * MIN)) == [("model_risk", "danger")]
    state3 = AlertState()
    policy.evaluate(state3, hot, None, 0)
    assert policy.evaluate(state3, hot, risky, 59 * MIN) == []
    assert kinds(policy.evaluate(state3, hot, risky, 60 * MIN)) == [("model_risk", "warning")]


def _numbers(text: str) -> list[float]:
    import re

    return [float(x) for x in re.findall(r"\d+(?:\.\d+)?", text)]


def test_a_reminder_never_states_a_threshold_the_value_is_below(policy: AlertPolicy) -> None:
    """Issue 14: a reminder while hysteresis holds the alert read "Heat index 31 °C (≥ 32.2 °C)"."""
    state = AlertState()
    assert kinds(policy.evaluate(state, {"heat_index_c": 32.5}, None, 0)) == [("heat", "warning")]
    (reminder,) = policy.evaluate(state, {"heat_index_c": 31.5}, None, 240 * MIN)  # held: above exit 31.1
    (reason,) = reminder.reasons
    assert reason.text["en"] == "Heat index 31.5 °C (≥ 31.1 °C, extreme caution)"
    assert reason.text["zh-CN"] == "体感温度 31.5°C（≥ 31.1°C，极度注意级）"
    assert reminder.thresholds["heat_index_c.warning.enter"] == 32.2  # the audit keeps both lines


@pytest.mark.parametrize("feature", ["heat_index_c", "strain_index_est", "online_hours_today", "continuous_riding_min"])
def test_every_threshold_text_shows_a_value_at_or_past_its_threshold(feature: str) -> None:
    """Entered or held by hysteresis, rounding included: the shown value is never below the shown threshold."""
    from alerts.signals import build_signals

    policy = AlertPolicy(AlertConfig(max_alerts_per_hour=100, cooldown_s=0))
    sig = next(s for s in build_signals(AlertConfig()) if s.feature == feature)
    for rule in sig.rules:
        lo, hi = rule.exit, rule.enter
        for i in range(0, 41):
            value = lo + (hi - lo) * i / 40 + 0.001 * (i % 3)
            state = AlertState()
            policy.evaluate(state, {feature: hi + 0.01}, None, 0)  # enter at this severity (or above)
            decisions = policy.evaluate(state, {feature: value}, None, 24 * 3600)  # past every reminder interval
            for d in decisions:
                for r in d.reasons:
                    nums = _numbers(r.text["en"])
                    if "≥" in r.text["en"]:
                        shown_value, shown_threshold = nums[0], nums[-1]
                        assert shown_value >= shown_threshold, (value, r.text["en"])


def test_model_risk_text_is_relative_with_a_horizon_never_a_percentage() -> None:
    """A rider reads "about 5.0× your usual crash risk in the next 60 min", not "crash risk 20 %": the model's
    probabilities are of a simulated world whose rates are ×500 the assumed real ones."""
    policy = AlertPolicy(AlertConfig(), population=PopulationRisk(injury=0.05, accident=0.04))
    out = policy.evaluate(AlertState(), {}, RiskScores(injury=0.01, accident=0.2), 0)
    texts = [r.text for a in out for r in a.reasons if r.code.startswith("MODEL_")]
    assert texts and texts[0]["en"] == "Model: about 5.0× your usual crash risk in the next 60 min"
    assert "5.0 倍" in texts[0]["zh-CN"] and "60 分钟" in texts[0]["zh-CN"]
    for a in out:
        for locale_text in (*a.message.values(), *a.title.values(), *(t for r in a.reasons for t in r.text.values())):
            assert "%" not in locale_text and "20" not in locale_text


def test_a_model_risk_warning_the_served_scorer_cannot_reach_is_lowered_to_its_top_1pct() -> None:
    """Issue 15: injury served by the WBGT estimate alone topped out at p 0.143, below the 3x line (0.19), so
    injury model alerts could never fire; the card's calibration-fleet 99th percentile is the line instead."""
    population = PopulationRisk(injury=0.064, accident=0.075, injury_top_1pct=0.143, accident_top_1pct=0.6)
    policy = AlertPolicy(AlertConfig(**THREE_X), population=population)
    assert policy.evaluate(AlertState(), {}, RiskScores(injury=0.14, accident=0.01), 0) == []
    out = policy.evaluate(AlertState(), {}, RiskScores(injury=0.143, accident=0.01), 0)
    assert [r.code for a in out for r in a.reasons] == ["MODEL_INJURY_WARNING"]
    assert out[0].thresholds["p_injury.warning.enter"] == pytest.approx(0.143)
    assert "2.2×" in out[0].reasons[0].text["en"]  # what the rider reads: relative to the mean, not "3×"
    # accident's 3x line (0.225) is below its top 1 % (0.6): unchanged
    assert policy.evaluate(AlertState(), {}, RiskScores(injury=0.01, accident=0.22), 0) == []
    assert kinds(policy.evaluate(AlertState(), {}, RiskScores(injury=0.01, accident=0.23), 0)) == [("model_risk", "warning")]
    # danger stays at 6x
    assert kinds(policy.evaluate(AlertState(), {}, RiskScores(injury=0.385, accident=0.01), 0)) == [("model_risk", "danger")]


def test_heat_break_reminder_when_the_advised_break_is_overdue(policy: AlertPolicy) -> None:
    """A heat alert advises 15 min rest per hour of riding; riding on for an hour without it brings a reminder."""
    assert AlertConfig().heat_break_after_min == 60.0
    state = AlertState()
    hot = lambda m, riding: {"heat_index_c": 35.0, "continuous_riding_min": riding}  # noqa: E731
    assert kinds(policy.evaluate(state, hot(0, 10.0), None, 0)) == [("heat", "warning")]
    sent = [m for m in range(1, 200) if policy.evaluate(state, hot(m, 10.0 + m), None, m * MIN)]
    assert sent == [60, 120, 180]  # riding on without a break: reminded each hour, not after 4 h
    # a rider who took the break (continuous riding restarts) is not reminded
    rested = AlertState()
    policy.evaluate(rested, hot(0, 10.0), None, 0)
    assert [m for m in range(1, 200) if policy.evaluate(rested, hot(m, float(m % 50)), None, m * MIN)] == []
    # no heat alert on, no reminder: riding long in mild weather is fatigue's business
    calm = AlertState()
    assert policy.evaluate(calm, {"heat_index_c": 25.0, "continuous_riding_min": 100.0}, None, 0) == []
    off = AlertPolicy(AlertConfig(budget_enabled=False, heat_break_after_min=0))
    s2 = AlertState()
    off.evaluate(s2, hot(0, 10.0), None, 0)
    assert [m for m in range(1, 200) if off.evaluate(s2, hot(m, 10.0 + m), None, m * MIN)] == []


def test_heat_break_reminder_waits_for_the_budget() -> None:
    policy = AlertPolicy(AlertConfig())
    state = AlertState()
    policy.evaluate(state, {"heat_index_c": 35.0, "continuous_riding_min": 10.0}, None, 0)
    sent = [m for m in range(1, 121)
            if policy.evaluate(state, {"heat_index_c": 35.0, "continuous_riding_min": 10.0 + m}, None, m * MIN)]
    assert sent == [120]  # due at 60 min, but the budget earns the one alert back after 2 online hours
    assert policy.suppressed_counts["budget"] == 60
