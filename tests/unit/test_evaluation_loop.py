"""Closed loop: the feedback hook, the in-process run and the interval of the reduction."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from riskstream.lab.closed_loop import Arm, LoopComparison, rate_ratio_interval
from riskstream.lab.run import eval_settings, run_fleet
from riskstream.simulation import FleetSimulator, SimConfig
from riskstream.simulation.dynamics import ON_BREAK, RIDING, WAITING
from streams.settings import Settings, WorkerSettings


def test_rate_ratio_interval_is_exact_and_uses_exposure() -> None:
    r, lo, hi = rate_ratio_interval(50, 1.0, 100, 1.0)
    assert r == 0.5 and lo < 0.5 < hi and 0.3 < lo and hi < 0.75
    r2, lo2, hi2 = rate_ratio_interval(50, 2.0, 100, 4.0)  # same rates per hour as 25 vs 25 → ratio 1
    assert r2 == pytest.approx(1.0) and lo2 < 1.0 < hi2
    wide = rate_ratio_interval(5, 1.0, 10, 1.0)
    assert wide[2] - wide[1] > hi - lo  # fewer incidents, wider interval
    assert all(math.isnan(x) for x in rate_ratio_interval(0, 1.0, 0, 1.0))


def test_comparison_pools_seeds() -> None:
    loop = LoopComparison(0.7, ignored=[Arm(1, 0.0, 60, {}, 100.0, 10, 0), Arm(2, 0.0, 40, {}, 100.0, 8, 0)],
                          followed=[Arm(1, 0.7, 45, {}, 100.0, 9, 6), Arm(2, 0.7, 35, {}, 100.0, 7, 5)])
    red, lo, hi = loop.count_reduction()
    assert red == pytest.approx(0.2) and lo < 0.2 < hi
    assert loop.rate_reduction()[0] == pytest.approx(0.2)


def test_advice_puts_a_rider_on_a_break_or_calms_the_riding() -> None:
    sim = FleetSimulator(SimConfig(riders=4, seed=2, advice_compliance=1.0))
    list(sim.records(1500, drain=False))
    st = sim.state
    active = [i for i in range(4) if st.state[i] in (RIDING, WAITING)]
    assert active, "someone is working 25 min into the shift"
    i = active[0]
    rid = sim.profiles[i].rider_id
    assert sim.advise(rid, "heat", severity="warning") == "rest"
    assert st.state[i] == ON_BREAK and 900.0 <= st.left[i] <= 1800.0
    assert sim.advise(rid, "riding") == "calm" and st.calm_until[i] == sim.now + 1800.0
    assert sim.advise(rid, "fall", severity="danger") is None
    assert [a["action"] for a in sim.advice_log] == ["rest", "calm"]


def test_without_compliance_advice_changes_nothing() -> None:
    plain = [r.value_bytes() for r in FleetSimulator(SimConfig(riders=3, seed=5)).records(900, drain=False)]
    sim = FleetSimulator(SimConfig(riders=3, seed=5))
    got = []
    for _ in range(15):
        got += [r.value_bytes() for r in sim.records(60, drain=False)]
        for rid in sim.rider_profiles():
            assert sim.advise(rid, "heat") is None
    assert got == plain and sim.advice_log == []


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return eval_settings(Settings(worker=WorkerSettings(state_dir=tmp_path_factory.mktemp("s"))))


def test_in_process_run_feeds_alerts_back(settings: Settings) -> None:
    ignored = run_fleet(SimConfig(riders=5, seed=4, scenario="heatwave"), 0.75, settings)
    followed = run_fleet(SimConfig(riders=5, seed=4, scenario="heatwave", advice_compliance=1.0), 0.75, settings)
    assert any(a.kind == "heat" for a in ignored.alerts)
    assert ignored.advice == [] and ignored.online_hours > 1.0
    assert any(a["followed"] for a in followed.advice)
    # the first alerts are the same (nobody has reacted yet); afterwards the runs diverge
    assert followed.alerts[0] == ignored.alerts[0]
    assert ignored.protected_hits == [] and ignored.outputs_by_role.get("risk_scores", 0) > 0
    assert {r for r, _ in ignored.moments} <= set(ignored.profiles)


def test_eval_settings_uses_a_fresh_state_dir(tmp_path: Path) -> None:
    base = Settings(worker=WorkerSettings(state_dir=tmp_path))
    s = eval_settings(base)
    assert s.worker.state_dir != tmp_path and s.kafka == base.kafka
