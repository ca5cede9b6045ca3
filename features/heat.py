"""Heat stress: the NWS heat index, its categories, and an outdoor WBGT estimate.

>>> round(heat_index_f(90.0, 60.0))
100
>>> heat_category(100.0)
2
>>> round(heat_index_c(35.0, 60.0), 1)
45.1
"""

from __future__ import annotations

import math

# NOAA/NWS Weather Prediction Center heat index equation page (Rothfusz 1990 regression).
_ROTHFUSZ = (-42.379, 2.04901523, 10.14333127, -0.22475541, -0.00683783,
             -0.05481717, 0.00122874, 0.00085282, -0.00000199)
# NWS: use the full regression only when the simple form averaged with T is >= 80 °F.
ROTHFUSZ_MIN_F = 80.0
# NWS heat categories (°F): caution 80-90, extreme caution 90-103, danger 103-124, extreme danger >= 125.
HEAT_CATEGORY_LOWER_F = (80.0, 90.0, 103.0, 125.0)


def c_to_f(temp_c: float) -> float:
    """Celsius to Fahrenheit.

    >>> c_to_f(100.0)
    212.0
    """
    return temp_c * 9.0 / 5.0 + 32.0


def f_to_c(temp_f: float) -> float:
    """Fahrenheit to Celsius.

    >>> f_to_c(212.0)
    100.0
    """
    return (temp_f - 32.0) * 5.0 / 9.0


def heat_index_f(temp_f: float, rh: float) -> float:
    """NWS heat index in °F from air temperature (°F) and relative humidity (%).

    The simple form ``0.5(T + 61 + 1.2(T-68) + 0.094 RH)`` is averaged with T; if that
    average is below 80 °F it is the answer. Otherwise the Rothfusz regression is used,
    with the NWS low-humidity (RH < 13 %, 80-112 °F) and high-humidity (RH > 85 %,
    80-87 °F) adjustments.

    >>> heat_index_f(70.0, 50.0)  # simple form: 0.5*(70 + 61 + 2.4 + 4.7) = 69.05, mean with T
    69.05
    >>> round(heat_index_f(96.0, 65.0))  # NWS chart: 121
    121
    """
    simple = 0.5 * (temp_f + 61.0 + (temp_f - 68.0) * 1.2 + rh * 0.094)
    if (simple + temp_f) / 2.0 < ROTHFUSZ_MIN_F:
        return simple
    c = _ROTHFUSZ
    t, r = temp_f, rh
    hi = (c[0] + c[1] * t + c[2] * r + c[3] * t * r + c[4] * t * t + c[5] * r * r
          + c[6] * t * t * r + c[7] * t * r * r + c[8] * t * t * r * r)
    if r < 13.0 and 80.0 <= t <= 112.0:
        hi -= ((13.0 - r) / 4.0) * math.sqrt((17.0 - abs(t - 95.0)) / 17.0)
    elif r > 85.0 and 80.0 <= t <= 87.0:
        hi += ((r - 85.0) / 10.0) * ((87.0 - t) / 5.0)
    return hi


def heat_index_c(temp_c: float, rh: float) -> float:
    """NWS heat index in °C from air temperature (°C) and relative humidity (%).

    >>> round(heat_index_c(32.0, 70.0), 1)  # 89.6 °F at 70 % -> 104.7 °F
    40.4
    """
    return f_to_c(heat_index_f(c_to_f(temp_c), rh))


def heat_category(hi_f: float) -> int:
    """NWS heat category of a heat index in °F: 0 none, 1 caution, 2 extreme caution, 3 danger, 4 extreme danger.

    >>> [heat_category(x) for x in (79.9, 80.0, 90.0, 103.0, 124.9, 125.0)]
    [0, 1, 2, 3, 3, 4]
    """
    return sum(1 for lower in HEAT_CATEGORY_LOWER_F if hi_f >= lower)


def _vapour_pressure_hpa(temp_c: float, rh: float) -> float:
    # Australian Bureau of Meteorology thermal-stress page (Magnus form).
    return rh / 100.0 * 6.105 * math.exp(17.27 * temp_c / (237.7 + temp_c))


def wet_bulb_stull_c(temp_c: float, rh: float) -> float:
    """Psychrometric wet-bulb temperature (Stull 2011, J. Appl. Meteor. Climatol. 50:2267).

    Valid for RH 5-99 % and -20-50 °C at sea-level pressure; error -1 to +0.65 °C.

    >>> round(wet_bulb_stull_c(20.0, 50.0), 1)  # Stull's worked example: 13.7 °C
    13.7
    """
    rh = min(max(rh, 5.0), 99.0)
    return (temp_c * math.atan(0.151977 * math.sqrt(rh + 8.313659))
            + math.atan(temp_c + rh) - math.atan(rh - 1.676331)
            + 0.00391838 * rh ** 1.5 * math.atan(0.023101 * rh) - 4.686035)


# BoM: sun full enough for its "average sunny conditions" formula (our interpolation end point).
WBGT_FULL_SUN_W_M2 = 600.0


def wbgt_outdoor_estimate_c(temp_c: float, rh: float, wind_ms: float | None, solar_w_m2: float) -> float:
    """Outdoor WBGT estimate (°C) from air temperature, humidity and sun; a documented approximation.

    Method: in sun, the Australian Bureau of Meteorology approximation
    ``WBGT = 0.567 Ta + 0.393 e + 3.94`` (e = vapour pressure, hPa), which BoM states
    is for "average daytime conditions, moderately high sun, light wind". Without
    sun (``solar_w_m2 = 0``: night or full shade) the globe is taken to read air
    temperature, so ISO 7243's formula becomes ``0.7 Tw + 0.3 Ta`` with Tw the
    psychrometric wet bulb (Stull 2011). Between them we interpolate linearly in solar
    radiation up to 600 W/m² (our choice). ``wind_ms`` is not used by either formula.

    Stated error: Lemke & Kjellstrom (Ind. Health 2012) found the BoM formula off by
    up to about ±2-3 °C against measured/Liljegren WBGT: it overestimates in cloudy or
    windy weather and underestimates in strong sun with still air. Treat the value as
    a screening estimate, not a measurement.

    >>> round(wbgt_outdoor_estimate_c(30.0, 60.0, 2.0, 800.0), 1)  # 0.567*30 + 0.393*25.5 + 3.94
    30.9
    >>> round(wbgt_outdoor_estimate_c(30.0, 60.0, 2.0, 0.0), 1)  # 0.7*Tw(24.0) + 0.3*30
    25.8
    """
    sun = 0.567 * temp_c + 0.393 * _vapour_pressure_hpa(temp_c, rh) + 3.94
    shade = 0.7 * wet_bulb_stull_c(temp_c, rh) + 0.3 * temp_c
    weight = min(max(solar_w_m2, 0.0) / WBGT_FULL_SUN_W_M2, 1.0)
    return shade + weight * (sun - shade)


def wbgt_conservative_c(temp_c: float, rh: float, wind_ms: float | None, solar_w_m2: float | None) -> float:
    """:func:`wbgt_outdoor_estimate_c`, with unknown solar radiation (``None``) never lowering the estimate.

    Unknown sun is taken as the larger of the full-sun and the no-sun estimate (in practice full
    sun): a missing pyranometer reading must not read as night. The caller passes 0 only when it
    knows there is no sun (``daylight`` false).

    >>> round(wbgt_conservative_c(30.0, 60.0, None, None), 1), round(wbgt_conservative_c(30.0, 60.0, None, 0.0), 1)
    (30.9, 25.8)
    """
    if solar_w_m2 is not None:
        return wbgt_outdoor_estimate_c(temp_c, rh, wind_ms, solar_w_m2)
    return max(wbgt_outdoor_estimate_c(temp_c, rh, wind_ms, WBGT_FULL_SUN_W_M2), wbgt_outdoor_estimate_c(temp_c, rh, wind_ms, 0.0))
