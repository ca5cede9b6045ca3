"""Heat index against the published NWS heat-index chart; categories; WBGT estimate."""

from __future__ import annotations

import math

import pytest

from features.heat import (
    c_to_f,
    f_to_c,
    heat_category,
    heat_index_c,
    heat_index_f,
    wbgt_outdoor_estimate_c,
)

# NWS heat index chart (weather.gov/safety/heat-index), °F; columns 80, 82, ... 110 °F.
# Rows stop where the chart stops (values above ~137 °F are left blank there).
TEMPS_F = tuple(range(80, 112, 2))
NWS_CHART = {
    40: (80, 81, 83, 85, 88, 91, 94, 97, 101, 105, 109, 114, 119, 124, 130, 136),
    45: (80, 82, 84, 87, 89, 93, 96, 100, 104, 109, 114, 119, 124, 130, 137),
    50: (81, 83, 85, 88, 91, 95, 99, 103, 108, 113, 118, 124, 131, 137),
    55: (81, 84, 86, 89, 93, 97, 101, 106, 112, 117, 124, 130, 137),
    60: (82, 84, 88, 91, 95, 100, 105, 110, 116, 123, 129, 137),
    65: (82, 85, 89, 93, 98, 103, 108, 114, 121, 128, 136),
    70: (83, 86, 90, 95, 100, 105, 112, 119, 126, 134),
    75: (84, 88, 92, 97, 103, 109, 116, 124, 132),
    80: (84, 89, 94, 100, 106, 113, 121, 129),
    85: (85, 90, 96, 102, 110, 117, 126, 135),
    90: (86, 91, 98, 105, 113, 122, 131),
    95: (86, 93, 100, 108, 117, 127),
    100: (87, 95, 103, 112, 121, 132),
}
CELLS = [(t, rh, v) for rh, row in NWS_CHART.items() for t, v in zip(TEMPS_F, row)]


def _high_rh_adjustment(t: float, rh: float) -> float:
    # NWS: RH > 85 % and 80-87 °F -> add ((RH-85)/10)·((87-T)/5). The printed chart predates it.
    return ((rh - 85) / 10) * ((87 - t) / 5) if rh > 85 and 80 <= t <= 87 else 0.0


@pytest.mark.parametrize(("temp_f", "rh", "chart"), CELLS)
def test_heat_index_matches_nws_chart(temp_f: int, rh: int, chart: int) -> None:
    assert abs(heat_index_f(temp_f, rh) - _high_rh_adjustment(temp_f, rh) - chart) <= 1.0


def test_chart_covers_the_grid() -> None:
    assert len(CELLS) == 135
    assert {rh for _, rh, _ in CELLS} == set(range(40, 105, 5))


def test_high_humidity_adjustment_applies_only_in_its_band() -> None:
    # 80 °F at 100 %: regression 87.2, plus (15/10)(7/5) = 2.1
    assert heat_index_f(80, 100) == pytest.approx(87.19 + 2.1, abs=0.01)
    assert _high_rh_adjustment(88, 100) == 0.0


def test_low_humidity_adjustment() -> None:
    # 100 °F at 5 %: subtract ((13-5)/4)·sqrt((17-5)/17) = 1.680
    t, rh = 100.0, 5.0
    c = (-42.379, 2.04901523, 10.14333127, -0.22475541, -0.00683783, -0.05481717, 0.00122874, 0.00085282, -0.00000199)
    raw = (c[0] + c[1] * t + c[2] * rh + c[3] * t * rh + c[4] * t * t + c[5] * rh * rh
           + c[6] * t * t * rh + c[7] * t * rh * rh + c[8] * t * t * rh * rh)
    assert heat_index_f(t, rh) == pytest.approx(raw - 2 * math.sqrt(12 / 17), abs=1e-9)


def test_simple_form_below_80() -> None:
    assert heat_index_f(75.0, 40.0) == pytest.approx(0.5 * (75 + 61 + 7 * 1.2 + 40 * 0.094))
    assert heat_index_f(75.0, 40.0) < 80


@pytest.mark.parametrize(("hi", "cat"), [(79.99, 0), (80, 1), (89.9, 1), (90, 2), (102.9, 2), (103, 3), (124.9, 3), (125, 4), (140, 4)])
def test_heat_category_boundaries(hi: float, cat: int) -> None:
    assert heat_category(hi) == cat


def test_celsius_round_trip() -> None:
    for c in (-40.0, 0.0, 37.0, 45.5):
        assert f_to_c(c_to_f(c)) == pytest.approx(c)
    assert heat_index_c(f_to_c(96), 65) == pytest.approx(f_to_c(heat_index_f(96, 65)))


def test_wbgt_estimate_rises_with_heat_humidity_and_sun() -> None:
    base = wbgt_outdoor_estimate_c(30, 50, 2, 600)
    assert wbgt_outdoor_estimate_c(35, 50, 2, 600) > base
    assert wbgt_outdoor_estimate_c(30, 80, 2, 600) > base
    assert wbgt_outdoor_estimate_c(30, 50, 2, 0) < base
    assert wbgt_outdoor_estimate_c(30, 50, 2, 1200) == base  # saturates at full sun
    # Full-sun value: BoM formula, e = 0.5 * 6.105 * exp(17.27*30/267.7) = 21.14 hPa
    assert base == pytest.approx(0.567 * 30 + 0.393 * 21.14 + 3.94, abs=0.02)
