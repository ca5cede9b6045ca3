"""Ground-truth hazard of the simulated fleet: per-hour incident rates from conditions.

This is the *true* model the simulator draws incidents from (Bernoulli with
``rate·dt`` each rider-second). A trained model only sees the emitted records, so
part of this hazard (latent aggressiveness, true core temperature, exact per-shift
fatigue) is deliberately unobservable.

Rates are per hour at the **simulated scale**: real base rates times
:data:`HAZARD_SCALE` (×500), so that a few thousand simulated rider-hours give
hundreds of incidents. The real bases are order-of-magnitude assumptions (courier
injury surveys put injury crashes near 1 per 10⁴–10⁵ riding hours), not measurements.

Each kind is ``base × product of multipliers``; all multipliers are 1 in the
reference condition (dry daylight, 20 km/h, rested, PSI 4, heat index 90-103 °F).

====================  =======================================  ===========================================
multiplier            value                                    source / reasoning
====================  =======================================  ===========================================
speed (crash)         (v / 20 km/h)², floor 0.3, cap 6         Nilsson power model (injury crashes ∝ v²)
speeding (crash)      ×3.0 while over limit + tolerance         CMT 2017: crashers had 3.0× excess speeding
phone (crash)         ×3.4 while handling at ≥ 18 km/h          CMT 2017: 3.4× phone distraction
harsh brakes (crash)  1 + 0.4·min(n in 10 min, 5)               CMT 2017: 1.8× hard braking (n ≈ 2)
aggressiveness        exp(0.8·(a − 0.35)), a ∈ [0, 1] latent    unobserved risk taking beyond the telemetry
rain (crash)          ×2.0 (≥ 0.5 mm/h), ×2.5 (≥ 7.6 mm/h)      Brodsky & Hakkert 1988: ×2-3
rain onset (crash)    further ×1.4 after ≥ 24 h dry             Brodsky & Hakkert 1988: worse after dry spell
road flooding         crash ×6, fall ×3                         docs/domain.md: low adhesion many times (> 20× if unexpected)
visibility (crash)    ×1.5 (< 1000 m), ×2.5 (< 200 m)           docs/domain.md: low visibility is a multiplier
gusts (crash)         ×1.5 (≥ 13.9 m/s), ×2.5 (≥ 20.8 m/s)      Beaufort 7 / 9 thresholds
freezing              crash ×3, fall ×4                         ice; docs/domain.md
night 00-05 (crash)   ×2.0; other darkness ×1.3                 FHWA motorcycle crash causation: OR ≈ 2
continuous riding     crash ×1.15 (> 2 h), ×1.5 (> 4.5 h)       EU 561/2006 break after 4.5 h
online hours (shift)  crash ×1.4 (> 8 h), ×2.0 (> 12 h)         Meituan prompts at 8 h, forced off at 12 h
strain (crash, fall)  ×1.5 when PSI ≥ 7.5                       Moran 1998: PSI ≥ 7.5 "at risk"
heat index (heat)     log-linear in °F through anchors below    NWS categories; sharp rise in "danger"
strain (heat)         exp(0.5·(PSI − 4))                        Moran 1998 PSI
strain (exhaustion)   exp(0.3·(PSI − 4))
fatigue (exhaustion)  ×2 (> 8 h), ×4 (> 12 h); ×1.3/×2 cont.   as above
====================  =======================================  ===========================================

Heat-index anchors for heat illness (°F → multiplier): 70→0.05, 80→0.15 (caution),
90→0.5 (extreme caution), 103→1.5 (danger), 110→4, 124→8 (extreme danger), 135→15.
Crash does not happen off the road; falls happen on foot (pick-up, stairs), much
less when standing or on a break. Heat illness is 0.3× and exhaustion 0.5× on a
break (shade, rest). Offline riders have no occupational hazard.

Heat index: the world computes its own (:func:`true_heat_index_f`, from °C) and does not
use ``features.heat``: it is the truth the product is tested against, so it shares no code
with it. It equals the product's NWS heat index wherever the Rothfusz regression applies (the
simple form averaged with T ≥ 80 °F, the whole range the heat anchors above 80 °F use); below
that the world reports the simple form averaged with T, the product the simple form, and the
world is higher by (T − simple)/2. Kept as it is so simulated fleets and reports keep their
numbers; ``tests/unit/test_simulation_heat.py`` pins both the agreement and the difference.

Protected attributes (sex, age band) are not inputs of this module.

>>> r = true_hazard(HazardContext(riding=True, speed_kmh=20.0))
>>> round(r.crash, 4), r.accident == r.crash
(0.03, True)
>>> wet = true_hazard(HazardContext(riding=True, speed_kmh=20.0, precip_mm_h=3.0))
>>> round(wet.crash / r.crash, 2)
2.0
>>> round(event_probability(0.1, 60), 4)   # 1 - exp(-0.1)
0.0952
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Union

import numpy as np

Num = Union[float, bool, np.ndarray]

#: Simulated rates are real rates × this, so that training data has enough incidents.
HAZARD_SCALE = 500.0
#: Real base rates per hour (order-of-magnitude assumptions, see module docstring).
REAL_BASE_PER_H = {"crash": 6e-5, "fall": 1.2e-4, "heat_illness": 1.5e-5, "exhaustion": 1.6e-5}
BASE_CRASH_PER_H = REAL_BASE_PER_H["crash"] * HAZARD_SCALE  # per riding hour
BASE_FALL_PER_H = REAL_BASE_PER_H["fall"] * HAZARD_SCALE  # per hour on foot
BASE_HEAT_PER_H = REAL_BASE_PER_H["heat_illness"] * HAZARD_SCALE  # per online hour
BASE_EXHAUSTION_PER_H = REAL_BASE_PER_H["exhaustion"] * HAZARD_SCALE  # per online hour

SPEED_REF_KMH = 20.0  # Nilsson power model reference speed
SPEEDING_RR = 3.0  # CMT 2017
PHONE_RR = 3.4  # CMT 2017
HARSH_BRAKE_STEP = 0.4  # 1.8× at two harsh brakes in 10 min (CMT 2017: 1.8×)
RAIN_MM_H, HEAVY_RAIN_MM_H = 0.5, 7.6  # AMS: heavy rain ≥ 7.6 mm/h
RAIN_RR, HEAVY_RAIN_RR, RAIN_ONSET_RR = 2.0, 2.5, 1.4  # Brodsky & Hakkert 1988
FLOOD_CRASH_RR, FLOOD_FALL_RR = 6.0, 3.0
FOG_M, DENSE_FOG_M = 1000.0, 200.0
GALE7_MS, GALE9_MS = 13.9, 20.8  # Beaufort 7 and 9
NIGHT_RR, DARK_RR = 2.0, 1.3  # FHWA: < 5 h sleep / night riding OR ≈ 2
PSI_AT_RISK = 7.5  # Moran 1998
HEAT_ANCHORS_F = (70.0, 80.0, 90.0, 103.0, 110.0, 124.0, 135.0)  # NWS category edges
HEAT_ANCHORS_RR = (0.05, 0.15, 0.5, 1.5, 4.0, 8.0, 15.0)
_LOG_HEAT_RR = np.log(HEAT_ANCHORS_RR)

KINDS = ("crash", "fall", "heat_illness", "exhaustion")


@dataclass
class HazardContext:
    """Conditions of one rider-second (or arrays of them: every field broadcasts)."""

    riding: Num = False  # status riding (on the road)
    on_foot: Num = False  # walking during a pick-up or drop-off
    online: Num = True
    on_break: Num = False
    speed_kmh: Num = 20.0
    speeding: Num = False  # over road limit + tolerance
    phone_moving: Num = False  # phone handled at ≥ 18 km/h
    harsh_brakes_10m: Num = 0.0
    heat_index_f: Num = 95.0
    strain_psi: Num = 4.0  # true PSI (uses true core temperature)
    continuous_riding_min: Num = 0.0
    online_hours: Num = 0.0  # this shift
    night: Num = False  # 00:00-05:00 local
    dark: Num = False
    precip_mm_h: Num = 0.0
    rain_onset: Num = False
    road_flooding: Num = False
    visibility_m: Num = 10_000.0
    wind_gust_ms: Num = 0.0
    freezing: Num = False
    aggressiveness: Num = 0.35
    rain_crash_drift: Num = 1.0  # experiment knob (drift runs): extra crash multiplier in rain; 1 = documented model


@dataclass
class HazardRates:
    """Per-hour rates by kind; ``accident`` is crash, ``injury`` the other kinds."""

    crash: Any
    fall: Any
    heat_illness: Any
    exhaustion: Any

    @property
    def accident(self) -> Any:
        return self.crash

    @property
    def injury(self) -> Any:
        return self.fall + self.heat_illness + self.exhaustion

    @property
    def total(self) -> Any:
        return self.crash + self.injury

    def as_dict(self) -> dict[str, float]:
        """Scalar rates as a dict (``accident``, ``injury`` and each kind)."""
        return {
            "accident": float(self.accident), "injury": float(self.injury),
            **{k: float(getattr(self, k)) for k in KINDS},
        }


def _step(x: Any, edges: tuple[float, ...], values: tuple[float, ...]) -> Any:
    """1 below the first edge, ``values[i]`` at or above ``edges[i]`` (edges ascending)."""
    out: Any = 1.0
    for edge, value in zip(edges, values):
        out = np.where(x >= edge, value, out)
    return out


def heat_multiplier(heat_index_f: Any) -> Any:
    """Heat-illness multiplier, log-linear between the NWS-category anchors.

    >>> round(float(heat_multiplier(103.0)), 2), round(float(heat_multiplier(117.0)), 2)
    (1.5, 5.66)
    """
    return np.exp(np.interp(heat_index_f, HEAT_ANCHORS_F, _LOG_HEAT_RR))


def true_hazard(ctx: HazardContext) -> HazardRates:
    """Per-hour incident rates of ``ctx`` (scalars give floats, arrays give arrays)."""
    c = ctx
    riding = np.asarray(c.riding, dtype=bool)
    online = np.asarray(c.online, dtype=bool) | riding
    on_break = np.asarray(c.on_break, dtype=bool) & online
    on_foot = np.asarray(c.on_foot, dtype=bool) & online & ~riding
    psi = np.asarray(c.strain_psi, dtype=float)
    hours = np.asarray(c.online_hours, dtype=float)
    cont = np.asarray(c.continuous_riding_min, dtype=float)
    precip = np.asarray(c.precip_mm_h, dtype=float)
    flood = np.asarray(c.road_flooding, dtype=bool)
    freezing = np.asarray(c.freezing, dtype=bool)
    dark = np.asarray(c.dark, dtype=bool) | np.asarray(c.night, dtype=bool)
    m_aggr = np.exp(0.8 * (np.asarray(c.aggressiveness, dtype=float) - 0.35))
    m_heat = heat_multiplier(c.heat_index_f)
    at_risk = np.where(psi >= PSI_AT_RISK, 1.5, 1.0)

    rain = _step(precip, (RAIN_MM_H, HEAVY_RAIN_MM_H), (RAIN_RR, HEAVY_RAIN_RR))
    rain = rain * np.where(np.asarray(c.rain_onset, dtype=bool) & (precip >= RAIN_MM_H), RAIN_ONSET_RR, 1.0)
    if np.any(np.asarray(c.rain_crash_drift) != 1.0):  # skipped at 1: default runs stay bit-identical
        rain = rain * np.where(precip >= RAIN_MM_H, np.asarray(c.rain_crash_drift, dtype=float), 1.0)
    speed = np.clip((np.asarray(c.speed_kmh, dtype=float) / SPEED_REF_KMH) ** 2, 0.3, 6.0)
    crash = (
        BASE_CRASH_PER_H * riding * speed * m_aggr * rain * at_risk
        * np.where(np.asarray(c.speeding, dtype=bool), SPEEDING_RR, 1.0)
        * np.where(np.asarray(c.phone_moving, dtype=bool), PHONE_RR, 1.0)
        * (1.0 + HARSH_BRAKE_STEP * np.minimum(np.asarray(c.harsh_brakes_10m, dtype=float), 5.0))
        * np.where(flood, FLOOD_CRASH_RR, 1.0)
        * np.where(freezing, 3.0, 1.0)
        * _step(-np.asarray(c.visibility_m, dtype=float), (-FOG_M, -DENSE_FOG_M), (1.5, 2.5))
        * _step(np.asarray(c.wind_gust_ms, dtype=float), (GALE7_MS, GALE9_MS), (1.5, 2.5))
        * np.where(np.asarray(c.night, dtype=bool), NIGHT_RR, np.where(dark, DARK_RR, 1.0))
        * _step(cont, (120.0, 270.0), (1.15, 1.5))
        * _step(hours, (8.0, 12.0), (1.4, 2.0))
        * np.where(m_heat >= 1.5, 1.3, 1.0)  # heat impairs attention from "danger" on
    )
    foot_exposure = np.where(on_foot, 1.0, np.where(on_break, 0.1, np.where(online & ~riding, 0.3, 0.0)))
    fall = (
        BASE_FALL_PER_H * foot_exposure * np.sqrt(m_aggr) * at_risk
        * np.where(precip >= RAIN_MM_H, 1.8, 1.0)
        * np.where(flood, FLOOD_FALL_RR, 1.0)
        * np.where(freezing, 4.0, 1.0)
        * np.where(dark, 1.3, 1.0)
        * _step(hours, (8.0, 12.0), (1.3, 1.8))
    )
    rest = np.where(on_break, 1.0, 0.0)
    heat = (
        BASE_HEAT_PER_H * online * (1.0 - 0.7 * rest) * m_heat
        * np.exp(0.5 * (np.minimum(psi, 10.0) - 4.0))
        * np.minimum(1.0 + cont / 180.0, 3.0)
    )
    exhaustion = (
        BASE_EXHAUSTION_PER_H * online * (1.0 - 0.5 * rest) * np.sqrt(m_heat)
        * np.exp(0.3 * (np.minimum(psi, 10.0) - 4.0))
        * _step(hours, (8.0, 12.0), (2.0, 4.0))
        * _step(cont, (120.0, 270.0), (1.3, 2.0))
        * np.where(np.asarray(c.night, dtype=bool), 1.5, 1.0)
    )
    out = [crash, fall, heat, exhaustion]
    if all(np.ndim(getattr(c, f.name)) == 0 for f in fields(c)):
        out = [float(x) for x in out]
    return HazardRates(*out)


def event_probability(rate_per_h: Any, horizon_min: float) -> Any:
    """Probability of at least one event in ``horizon_min`` minutes at a constant rate."""
    return 1.0 - np.exp(-np.asarray(rate_per_h, dtype=float) * horizon_min / 60.0) if np.ndim(
        rate_per_h) else 1.0 - math.exp(-rate_per_h * horizon_min / 60.0)


#: Mean of the simple form and T below which the Rothfusz regression is not used (NWS), °F.
REGRESSION_MIN_F = 80.0


def simple_heat_index_f(temp_f: float, rh_pct: float) -> float:
    """The NWS simple form ``0.5·(T + 61 + 1.2·(T − 68) + 0.094·RH)`` in °F (T in °F)."""
    return 0.5 * (temp_f + 61.0 + (temp_f - 68.0) * 1.2 + rh_pct * 0.094)


def world_below_regression_f(temp_f: float, rh_pct: float) -> float:
    """The world's heat index where the regression does not apply: the simple form averaged with T (°F).

    The product (``features.heat.heat_index_f``) reports the simple form itself there, so the
    world is higher by ``(T − simple)/2``; this average is also what both use to choose the branch.

    >>> round(world_below_regression_f(68.0, 50.0) - simple_heat_index_f(68.0, 50.0), 3)
    0.575
    """
    return (simple_heat_index_f(temp_f, rh_pct) + temp_f) / 2.0


def true_heat_index_f(temp_c: float, rh_pct: float) -> float:
    """The world's heat index in °F from air temperature in **°C** and relative humidity (%).

    Where the Rothfusz regression applies (the simple form averaged with T is ≥ 80 °F) this is
    the NWS regression with its adjustments, equal to the product's
    ``features.heat.heat_index_f(c_to_f(temp_c), rh)``. Below that the world reports the
    *average* of the simple form and T (:func:`world_below_regression_f`, one reading of NWS's
    "the simple formula is computed first and the result averaged with the temperature"), where
    the product reports the simple form itself; the world is then higher by ``(T − simple)/2``
    (0.575 °F at 20 °C/50 %). The world keeps its own code and its own numbers on purpose: it is the truth
    the product is measured against and shares no code with it, and changing it would change
    every simulated fleet, cached run and report. Below 80 °F the heat-illness multiplier is
    0.05-0.15 (clamped at 0.05 below 70 °F), so the difference hardly moves the hazard.

    >>> round(true_heat_index_f(35.0, 60.0), 1), round(true_heat_index_f(20.0, 50.0), 3)
    (113.1, 67.425)
    """
    t = temp_c * 9.0 / 5.0 + 32.0
    rh = rh_pct
    below = world_below_regression_f(t, rh)
    if below < REGRESSION_MIN_F:
        return below  # the product returns the simple form here (see world_below_regression_f)
    hi = (-42.379 + 2.04901523 * t + 10.14333127 * rh - 0.22475541 * t * rh - 0.00683783 * t * t
          - 0.05481717 * rh * rh + 0.00122874 * t * t * rh + 0.00085282 * t * rh * rh
          - 0.00000199 * t * t * rh * rh)
    if rh < 13.0 and 80.0 <= t <= 112.0:
        hi -= ((13.0 - rh) / 4.0) * math.sqrt((17.0 - abs(t - 95.0)) / 17.0)
    elif rh > 85.0 and 80.0 <= t <= 87.0:
        hi += ((rh - 85.0) / 10.0) * ((87.0 - t) / 5.0)
    return hi
