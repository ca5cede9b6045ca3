"""Cheap power for the outcome study: keyed random numbers, placebo draws averaged, sensitivity on a few seeds."""

from __future__ import annotations

import numpy as np

from riskstream.lab.matching import AlertEvent
from riskstream.lab.outcome import ArmRun, Unit, UnitResult, run_placebo, run_simulated_arm, study_units, summarize

START = 1784080800.0  # SimConfig's default start, 2026-07-15 10:00 local


def _arm(arm: str, seed: int, expected: list[float], alerts: list[AlertEvent] | None = None) -> ArmRun:
    return ArmRun(arm, "default", seed, 0.7, 1.0, [f"rider-{i:04d}" for i in range(len(expected))],
                  [1.0] * len(expected), expected, [], alerts or [], 0)


def test_the_study_keys_its_random_numbers_and_runs_the_sensitivity_on_the_first_seeds_only() -> None:
    units = study_units(["default", "mixed"], [5, 6, 7], 4, 1.0, placebo_draws=3, sensitivity_seeds=1)
    assert [(u.scenario, u.seed, bool(u.sensitivity)) for u in units] == [
        ("default", 5, True), ("default", 6, False), ("default", 7, False),
        ("mixed", 5, True), ("mixed", 6, False), ("mixed", 7, False)]
    assert {u.rng_keying for u in units} == {"keyed"} and {u.placebo_draws for u in units} == {3}
    assert units[0].config(0.7).rng_keying == "keyed"
    assert all(u.sensitivity for u in study_units(["default"], [5, 6], 4, 1.0, sensitivity_seeds=None))  # None: every seed
    assert [bool(u.sensitivity) for u in study_units(["default"], [5, 6], 4, 1.0)] == [True, False]  # default: 1


def test_the_placebo_is_the_mean_of_its_draws_and_the_draws_differ() -> None:
    unit = Unit("default", 3, 12, 1.0, placebo_draws=3)
    policy = _arm("policy", 3, [0.0] * 12, [AlertEvent(f"rider-{i:04d}", START + 600.0 * (1 + i % 5), "heat", "warning")
                                           for i in range(12)] * 2)
    draws = [run_simulated_arm("placebo", unit, policy, 0.7, 1.0, d) for d in range(3)]
    assert len({tuple(a.epoch for a in d.alerts) for d in draws}) == 3  # three different random placements
    placebo = run_placebo(unit, policy, 0.7)
    assert placebo.alerts == draws[0].alerts  # counts and alert rates: draw 0
    assert np.allclose(placebo.expected_by_rider, np.mean([d.expected_by_rider for d in draws], axis=0))
    assert np.allclose(placebo.online_h_by_rider, np.mean([d.online_h_by_rider for d in draws], axis=0))


def test_summary_without_sensitivity_runs_has_no_sensitivity_table() -> None:
    results = []
    for seed in (1, 2):
        unit = Unit("default", seed, 3, 1.0)
        arms = {a: _arm(a, seed, [0.1, 0.2, 0.3 if a != "policy" else 0.25]) for a in
                ("control", "policy", "placebo", "rules", "oracle")}
        results.append(UnitResult(unit, arms))
    section = summarize(results, 3, 1.0, [1, 2], 0.7, False)["scenarios"]["default"]
    assert "sensitivity" not in section
    assert section["differences"]["policy_minus_control"]["expected_incidents_rel"] < 0


def test_the_pairing_benchmark_prints_each_variants_half_widths(capsys) -> None:  # noqa: ANN001 - pytest fixture
    from benchmarks.outcome_pairing import main

    assert main(["--riders", "3", "--hours", "0.25", "--seeds", "4", "5", "--scenario", "default",
                 "--variant", "keyed:2"]) == 0
    out = capsys.readouterr().out
    assert "keyed:2        default  policy_minus_placebo" in out and "±" in out and "rider-hours" in out
