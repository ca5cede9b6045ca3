"""One heat index, two implementations on purpose: where the world's and the product's agree and where not.

The simulator (the world) computes its own heat index and shares no code with ``features.heat``
(the product it tests). They agree wherever the Rothfusz regression applies; below it the world
reports the simple form averaged with T, the product the simple form (see
``riskstream/simulation/hazard.py`` and docs/domain.md, "Heat stress").
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from features.heat import c_to_f, heat_index_f
from riskstream.simulation import FleetSimulator, SimConfig, true_heat_index_f
from riskstream.simulation.hazard import (
    HEAT_ANCHORS_F,
    REGRESSION_MIN_F,
    heat_multiplier,
    simple_heat_index_f,
    world_below_regression_f,
)

GRID = list(itertools.product(np.arange(-10.0, 48.01, 0.5), np.arange(5.0, 100.01, 2.5)))


def _regression_applies(temp_c: float, rh: float) -> bool:
    return world_below_regression_f(c_to_f(temp_c), rh) >= REGRESSION_MIN_F


def test_world_and_product_agree_where_the_regression_applies() -> None:
    hot = [(t, rh) for t, rh in GRID if _regression_applies(t, rh)]
    assert len(hot) > 500
    for t, rh in hot:
        assert true_heat_index_f(t, rh) == pytest.approx(heat_index_f(c_to_f(t), rh), abs=1e-9), (t, rh)
    # so they agree wherever the world's heat index is at or above 80 °F
    assert all(_regression_applies(t, rh) for t, rh in GRID if true_heat_index_f(t, rh) >= REGRESSION_MIN_F)


def test_the_product_can_report_just_over_80_f_from_the_simple_form() -> None:
    # Both switch on the simple form averaged with T, so in humid air at 25-27 °C the product's
    # simple form reaches 80-81.1 °F while the world (averaged) stays just under 80 °F.
    strip = [(t, rh) for t, rh in GRID
             if heat_index_f(c_to_f(t), rh) >= REGRESSION_MIN_F and not _regression_applies(t, rh)]
    assert strip and all(25.0 <= t <= 27.0 and rh >= 55.0 for t, rh in strip)
    assert all(heat_index_f(c_to_f(t), rh) < 81.5 and true_heat_index_f(t, rh) < REGRESSION_MIN_F for t, rh in strip)


def test_below_the_regression_the_world_averages_the_simple_form_with_t() -> None:
    cool = [(t, rh) for t, rh in GRID if not _regression_applies(t, rh)]
    assert len(cool) > 500
    for t, rh in cool:
        t_f = c_to_f(t)
        simple = simple_heat_index_f(t_f, rh)
        assert heat_index_f(t_f, rh) == pytest.approx(simple, abs=1e-9)  # the product: the simple form
        assert true_heat_index_f(t, rh) == pytest.approx((simple + t_f) / 2, abs=1e-9)  # the world: averaged
        assert true_heat_index_f(t, rh) - heat_index_f(t_f, rh) == pytest.approx((t_f - simple) / 2, abs=1e-9)


def test_the_difference_is_small_and_named() -> None:
    # 20 °C, 50 %: world 67.425 °F, product 66.85 °F
    assert true_heat_index_f(20.0, 50.0) == pytest.approx(67.425)
    assert heat_index_f(68.0, 50.0) == pytest.approx(66.85)
    cool = [(t, rh) for t, rh in GRID if not _regression_applies(t, rh)]
    gaps = [abs(true_heat_index_f(t, rh) - heat_index_f(c_to_f(t), rh)) for t, rh in cool]
    assert max(gaps) < 4.5  # °F, at the coldest, driest corner (-10 °C, 5 %)
    # where the hazard feels it (70-80 °F, between the two lowest heat anchors) the gap is under 2 °F
    felt = [g for (t, rh), g in zip(cool, gaps) if HEAT_ANCHORS_F[0] <= true_heat_index_f(t, rh) < HEAT_ANCHORS_F[1]]
    assert felt and max(felt) < 2.0
    assert heat_multiplier(HEAT_ANCHORS_F[1]) == pytest.approx(0.15)


def test_the_simulated_weather_carries_the_worlds_heat_index() -> None:
    sim = FleetSimulator(SimConfig(riders=2, seed=0))
    list(sim.records(2))
    assert sim.weather
    for w in sim.weather:
        assert w.heat_index_f == true_heat_index_f(w.air_temp_c, w.relative_humidity_pct)
