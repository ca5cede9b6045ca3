"""The outcome study (issue 16): common random numbers across arms, its estimators and the JSON shape."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from riskstream.cli.main import main
from riskstream.lab.matching import AlertEvent, IncidentEvent
from riskstream.lab.outcome import (
    ArmRun,
    Unit,
    expected_rate_ratio,
    expected_ratio,
    fall_detection,
    incidents_rate_ratio,
    plan_per_rider,
    run_rider_oracle,
    run_simulated_arm,
)
from riskstream.simulation import FleetSimulator, SimConfig

ARMS = {"control", "policy", "placebo", "rules", "oracle"}
DIFFS = {"policy_minus_control", "policy_minus_placebo", "oracle_minus_policy"}


def _arm(expected: list[float], alerts: list[AlertEvent] | None = None,
         incidents: list[IncidentEvent] | None = None, hours: list[float] | None = None) -> ArmRun:
    return ArmRun("x", "default", 0, 0.7, 1.0, [f"r{i}" for i in range(len(expected))],
                  hours or [1.0] * len(expected), expected, incidents or [], alerts or [], 0)


def test_advance_follows_the_same_trajectory_as_records() -> None:
    cfg = SimConfig(riders=20, seed=3, signatures="varied")
    a, b = FleetSimulator(cfg), FleetSimulator(cfg)
    n = sum(1 for _ in a.records(1800, drain=False))
    b.advance(1800)
    assert n > 0
    assert a.incident_log == b.incident_log
    assert np.array_equal(a.state.expected_by_rider, b.state.expected_by_rider) and a.expected_incidents > 0
    assert np.array_equal(a.state.online_s_by_rider, b.state.online_s_by_rider)


def test_classic_signatures_keep_the_open_loop_world_unchanged() -> None:
    """The new knobs at their defaults draw nothing new: records are the ones of a plain config."""
    plain = [r.value_bytes() for r in FleetSimulator(SimConfig(riders=5, seed=2)).records(900)]
    explicit = [r.value_bytes() for r in FleetSimulator(SimConfig(riders=5, seed=2, signatures="classic",
                                                                  rest_scale=1.0)).records(900)]
    assert plain == explicit


def test_control_and_placebo_share_weather_riders_and_schedules() -> None:
    unit = Unit("mixed", 4, 15, 1.0)
    control = run_simulated_arm("control", unit, None, 0.7)
    # a policy arm that alerted every rider once: the placebo then sends alerts and riders follow them
    policy = _arm([0.0] * 15, [AlertEvent(f"rider-{i:04d}", 0.0, "heat", "warning") for i in range(15)])
    policy.online_h_by_rider = [0.5] * 15
    placebo = run_simulated_arm("placebo", unit, policy, 0.7)
    assert placebo.alerts and placebo.advice_followed > 0 and control.alerts == []
    assert control.weather_trace == placebo.weather_trace and len(control.weather_trace) == 60
    assert control.rider_ids == placebo.rider_ids
    a, b = FleetSimulator(unit.config(0.0)), FleetSimulator(unit.config(0.7))
    assert a.state.shifts == b.state.shifts and a.rider_profiles() == b.rider_profiles()
    # following advice changed the trajectories, not the world they run in
    assert control.expected_by_rider != placebo.expected_by_rider


def test_expected_incidents_by_kind_add_up_to_the_total_and_show_what_a_break_changes() -> None:
    unit = Unit("default", 4, 15, 1.0)
    control = run_simulated_arm("control", unit, None, 0.7)
    assert set(control.expected_by_kind) == {"crash", "fall", "heat_illness", "exhaustion"}
    assert sum(control.expected_by_kind.values()) == pytest.approx(control.expected, rel=1e-9)
    # every rider told to rest at once: a break takes them off the road, so crashes fall most
    policy = _arm([0.0] * 15, [AlertEvent(f"rider-{i:04d}", 0.0, "heat", "warning") for i in range(15)])
    policy.online_h_by_rider = [0.05] * 15
    placebo = run_simulated_arm("placebo", unit, policy, 1.0)
    assert placebo.advice_followed > 0
    assert placebo.expected_by_kind["crash"] < control.expected_by_kind["crash"]


def test_oracle_sends_the_policy_volume_to_the_highest_true_hazard() -> None:
    unit = Unit("default", 1, 20, 0.5)
    policy = _arm([0.0] * 20, [AlertEvent("rider-0000", 1784080800.0 + 600.0 + 5, "riding", "warning")] * 3)
    oracle = run_simulated_arm("oracle", unit, policy, 1.0)
    assert len(oracle.alerts) == 3 and len({a.rider_id for a in oracle.alerts}) == 3
    assert all(a.epoch == 1784080800.0 + 660.0 for a in oracle.alerts)  # sent at the end of that minute


def test_rider_matched_oracle_keeps_each_riders_volume_and_mix_at_that_riders_highest_hazard() -> None:
    unit = Unit("default", 2, 12, 1.0)
    hazards: list[np.ndarray] = []
    control = run_simulated_arm("control", unit, None, 0.0, hazards=hazards)
    h = np.array(hazards)
    assert h.shape == (60, 12) and control.expected > 0
    start = FleetSimulator(unit.config(0.7)).start_epoch
    sent = [AlertEvent("rider-0003", start + 300.0, "heat", "danger"), AlertEvent("rider-0003", start + 2400.0, "riding",
            "warning"), AlertEvent("rider-0007", start + 900.0, "heat", "warning")]
    policy = _arm([0.0] * 12, sent)
    policy.rider_ids = control.rider_ids
    plan = plan_per_rider(policy, h)
    placed = sorted((i, j) for j, row in plan.items() for i, _, _ in row)
    assert [i for i, _ in placed] == [3, 3, 7]
    # rider 3's two alerts at its two highest-hazard minutes ≥ 30 min apart, in the policy's order of kinds
    j3 = [j for i, j in placed if i == 3]
    assert abs(j3[0] - j3[1]) >= 30 and h[j3[0], 3] > 0 and h[j3[1], 3] > 0
    assert [k for j in sorted(plan) for i, k, _ in plan[j] if i == 3] == ["heat", "riding"]
    assert max(h[j3, 3]) == h[:, 3].max()
    assert [j for i, j in placed if i == 7] == [int(np.argmax(h[:, 7]))]
    oracle = run_rider_oracle(unit, policy, h, 1.0)
    assert sorted(a.rider_id for a in oracle.alerts) == ["rider-0003", "rider-0003", "rider-0007"]
    assert oracle.advice_followed > 0 and oracle.expected_by_rider != control.expected_by_rider


def test_fleet_placebo_spreads_the_policys_volume_over_every_rider() -> None:
    unit = Unit("default", 5, 20, 1.0)
    # the policy alerted two riders four times each: the per-rider placebo copies whom, the fleet placebo does not
    policy = _arm([0.0] * 20, [AlertEvent(f"rider-{i:04d}", 0.0, "heat", "warning") for i in (2, 9) for _ in range(4)])
    policy.online_h_by_rider = [0.25] * 20
    placebo = run_simulated_arm("placebo", unit, policy, 0.7)
    fleet = run_simulated_arm("fleet_placebo", unit, policy, 0.7)
    assert {a.rider_id for a in placebo.alerts} <= {"rider-0002", "rider-0009"}
    assert len({a.rider_id for a in fleet.alerts}) > 2 and {a.kind for a in fleet.alerts} == {"heat"}
    assert fleet.arm == "fleet_placebo" and fleet.weather_trace == placebo.weather_trace
    with pytest.raises(ValueError, match="not a simulator-only arm"):
        run_simulated_arm("policy", unit, policy, 0.7)


def test_expected_ratio_interval_covers_a_known_difference_and_needs_paired_units() -> None:
    rng = np.random.default_rng(0)
    base = rng.gamma(2.0, 0.05, 400)
    rel, lo, hi = expected_ratio([_arm((0.8 * base * rng.uniform(0.9, 1.1, 400)).tolist())], [_arm(base.tolist())])
    assert lo < -0.2 < hi and abs(rel + 0.2) < 0.02 and hi - lo < 0.05
    with pytest.raises(ValueError, match="same units"):
        expected_ratio([_arm([1.0, 2.0])], [_arm([1.0, 2.0, 3.0])])


def test_rate_ratio_compares_per_online_hour_where_totals_mislead() -> None:
    """An arm that keeps riders online 25 % longer with 10 % more expected incidents has a 12 % lower rate."""
    rng = np.random.default_rng(1)
    base = rng.gamma(2.0, 0.05, 400)
    hours = rng.uniform(1.0, 4.0, 400)
    more = (1.1 * base * rng.uniform(0.95, 1.05, 400)).tolist()
    longer = (1.25 * hours).tolist()
    total, _, _ = expected_ratio([_arm(more, hours=longer)], [_arm(base.tolist(), hours=hours.tolist())])
    rel, lo, hi = expected_rate_ratio([_arm(more, hours=longer)], [_arm(base.tolist(), hours=hours.tolist())])
    assert total > 0.05  # the totals say "more incidents"
    assert lo < 1.1 / 1.25 - 1 < hi and hi < 0 and abs(rel - (1.1 / 1.25 - 1)) < 0.02
    # with the same hours in both arms the rate's interval is the totals' interval
    same = expected_ratio([_arm(more, hours=hours.tolist())], [_arm(base.tolist(), hours=hours.tolist())])
    assert expected_rate_ratio([_arm(more, hours=hours.tolist())], [_arm(base.tolist(), hours=hours.tolist())]) == \
        pytest.approx(same)
    with pytest.raises(ValueError, match="same units"):
        expected_rate_ratio([_arm([1.0, 2.0])], [_arm([1.0, 2.0, 3.0])])
    crashes = [IncidentEvent("r0", 1.0, "crash")] * 10
    r, lo, hi = incidents_rate_ratio([_arm([0.0], incidents=crashes, hours=[2.0])], [_arm([0.0], incidents=crashes)])
    assert r == pytest.approx(-0.5) and lo < -0.5 < hi


def test_fall_detection_counts_recall_and_prompts_without_an_impact() -> None:
    incidents = [IncidentEvent("r0", 100.0, "crash"), IncidentEvent("r1", 100.0, "fall"),
                 IncidentEvent("r2", 100.0, "heat_illness")]
    alerts = [AlertEvent("r0", 130.0, "fall", "danger"), AlertEvent("r1", 500.0, "fall", "danger"),
              AlertEvent("r2", 110.0, "fall", "danger"), AlertEvent("r0", 50.0, "heat", "warning")]
    f = fall_detection([_arm([0.0, 0.0, 0.0], alerts, incidents)])
    assert (f["impacts"], f["detected"], f["recall"]) == (2, 1, 0.5)
    assert f["false_prompts"] == 2 and f["false_prompts_per_online_rider_hour"] == round(2 / 3, 4)


def test_evaluate_outcome_writes_the_issue_json_shape(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RISKSTREAM_WORKER__STATE_DIR", str(tmp_path / "state"))
    out = tmp_path / "outcome.json"
    report = tmp_path / "docs" / "outcome.md"
    assert main(["evaluate-outcome", "--riders", "3", "--hours", "0.25", "--seeds", "1", "--seed", "7",
                 "--scenario", "default", "mixed", "--json", str(out), "--report", str(report), "--jobs", "1"]) == 0
    data = json.loads(out.read_text())
    assert set(data["scenarios"]) == {"default", "mixed"}
    for s in data["scenarios"].values():
        assert s["rider_hours"] > 0
        assert set(s["arms"]) == ARMS
        for arm in s["arms"].values():
            assert {"alerts_per_online_rider_hour", "incidents", "expected_incidents",
                    "expected_incidents_per_online_rider_hour", "incidents_per_online_rider_hour"} <= set(arm)
            assert arm["expected_incidents_per_online_rider_hour"] == pytest.approx(
                arm["expected_incidents"] / arm["online_rider_hours"], abs=1e-3)
            assert isinstance(arm["incidents"], int) and arm["expected_incidents"] > 0
            assert sum(arm["expected_incidents_by_kind"].values()) == pytest.approx(arm["expected_incidents"], abs=1e-3)
        assert s["arms"]["control"]["alerts_per_online_rider_hour"] == 0.0
        assert {w["kind"] for w in s["warned_ahead_placebo"]} <= {w["kind"] for w in s["warned_ahead"]} | {
            "crash", "fall", "heat_illness", "exhaustion", "all"}
        assert set(s["differences"]) == DIFFS
        assert set(s["vs_placebo"]) == {"rules", "oracle"}  # the room targeting has over random alerts
        for d in s["differences"].values():
            assert {"expected_incidents_rel", "ci", "incidents_rel", "incidents_ci", "expected_incidents_per_hour_rel",
                    "expected_incidents_per_hour_ci", "incidents_per_hour_rel", "incidents_per_hour_ci"} <= set(d)
            assert len(d["ci"]) == 2 and len(d["incidents_ci"]) == 2
            lo, hi = d["ci"]
            assert lo is not None and math.isfinite(lo) and lo <= d["expected_incidents_rel"] <= hi
        assert [(r["compliance"], r["rest_scale"]) for r in s["sensitivity"]] == [(0.3, 1.0), (0.5, 1.0), (0.7, 0.5),
                                                                                  (0.7, 1.0)]
    text = report.read_text()
    assert "Regenerate: `riskstream evaluate-outcome --riders 3" in text and "## Scenario `mixed`" in text
    assert "| arm | crash | fall | heat illness | exhaustion |" in text
    assert "| oracle minus placebo |" in text and "| rules minus placebo |" in text
    assert (report.parent / "outcome-arms.png").stat().st_size > 0
    assert "policy − placebo" in capsys.readouterr().out


def test_bench_outcome_prints_an_arms_cpu_per_online_rider_hour(tmp_path: Path) -> None:
    from benchmarks.bench_outcome import main as bench

    out = tmp_path / "bench.json"
    assert bench(["--arm", "control", "--riders", "3", "--hours", "0.1", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["online_rider_hours"] > 0 and data["cpu_s_per_online_rider_hour"] > 0
    assert data["world_share"] == 1.0  # the control arm is the world alone
