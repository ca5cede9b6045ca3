"""The feature vector of one rider at event time ``now``: every name of the catalog, in order.

Windows: a W-minute window is the minute bucket holding ``now`` plus the W whole
minutes before it, so it covers between W and W+1 minutes of data ("24 h" and "7 d"
likewise in hours and days). Values that cannot be known are NaN, never a safe 0.

Strain (``strain_index_est``) is Moran's PSI, ``5(Tc-Tc0)/(39.5-Tc0) + 5(HR-HR0)/(180-HR0)``
clipped to 0-10, where Tc is *estimated* from minute heart rates with the ECTemp Kalman
filter (Buller 2013, about 0.3 °C RMSE where validated; skin temperature is not core
temperature and is not used), Tc0 = 37.1 °C (ECTemp's start), HR is the 1-min mean and
HR0 the rider's learned resting HR.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import fields
from typing import cast

from features.catalog import FEATURE_NAMES
from features.config import FeatureConfig
from features.physiology import ECTEMP_CT0_C, fold_minutes, qualify_stop, settle_recovery
from features.rider_state import RiderState
from features.ring import (
    Row,
    ACCELS, BRAKES, CORNERS, DAY_BREAKS, DAY_HEAT_S, DAY_NIGHT_RIDE_S, DAY_ONLINE_S, EBIKE_S, G_SCALE,
    HR_HIGH_S, HR_MAX, HR_N, HR_SCALE, HR_SUM, IMPACT_MAX, ON_BODY_S, PHONE_S, RIDE_S, SKIN_N, SKIN_SCALE,
    SKIN_SUM, SPEED_SCALE, SPEED_SQ, SPEED_SUM, SPEEDING_S, TRIP_WIDTH, VALID_S, WEAR_WIDTH, read_row,
)
from features.trip_tail import TripTail
from features.trip_time import seal_trip
from features.weather import ZoneWeather, local_day, weather_features

NAN = math.nan
_NO_OVERLAY: dict[int, Row] = {}
_SCALARS = tuple(f.name for f in fields(RiderState))
PSI_TC_MAX_C = 39.5  # Moran 1998 PSI: core temperature scale end
PSI_HR_MAX_BPM = 180.0  # Moran 1998 PSI: heart-rate scale end


def _ratio(num: float, den: float, scale: float = 1.0) -> float:
    return num / den / scale if den else NAN


def psi(core_c: float, hr: float, hr_rest: float, core0_c: float = ECTEMP_CT0_C) -> float:
    """Physiological Strain Index (Moran 1998), clipped to 0-10.

    >>> round(psi(38.3, 122.5, 65.0), 6)  # 5*1.2/2.4 + 5*57.5/115 = 2.5 + 2.5
    5.0
    """
    value = 5.0 * (core_c - core0_c) / (PSI_TC_MAX_C - core0_c) + 5.0 * (hr - hr_rest) / (PSI_HR_MAX_BPM - hr_rest)
    return min(10.0, max(0.0, value))


def rider_features(state: RiderState, zone: ZoneWeather | None, now: float, cfg: FeatureConfig) -> dict[str, float]:
    """All of :data:`features.catalog.FEATURE_NAMES` for one rider at event time ``now`` (state not changed).

    The unsealed trip seconds come from the state's :class:`features.trip_tail.TripTail` (built here
    if missing: a cache, not state), so a call costs the same whatever the lateness or the windows.
    A clock behind the rider's newest trip record falls back to :func:`rider_features_replay`.
    """
    upto = math.floor(now) + 1
    tail = state.tail
    if tail is None:
        tail = state.tail = TripTail.build(state, cfg)
    if tail is not None and tail.done is not None and tail.done >= upto:
        return rider_features_replay(state, zone, now, cfg)
    s = RiderState.__new__(RiderState)
    for name in _SCALARS:  # rings are shared: the code below only reads them
        object.__setattr__(s, name, getattr(state, name))
    s.tail = None
    if tail is None:
        return _features(s, zone, now, {}, {}, {}, cfg)
    ahead = tail.ahead(upto, cfg)
    s.off_since, s.online_since_break_s = ahead.off_since, ahead.online_since_break_s
    for stop in ahead.stops:
        qualify_stop(s, stop)
    return _features(s, zone, now, ahead.trip, ahead.hour, ahead.day, cfg)


def rider_features_replay(state: RiderState, zone: ZoneWeather | None, now: float,
                          cfg: FeatureConfig) -> dict[str, float]:
    """The same as :func:`rider_features` by sealing a copy of the whole state (the reference it is tested against)."""
    s = state.scratch_copy()
    seal_trip(s, math.floor(now) + 1, cfg)  # see the newest trip seconds without waiting for lateness
    return _features(s, zone, now, {}, {}, {}, cfg)


def _features(s: RiderState, zone: ZoneWeather | None, now: float, trip: dict[int, Row], hour: dict[int, Row],
              day: dict[int, Row], cfg: FeatureConfig) -> dict[str, float]:
    m_now = math.floor(now / 60.0)
    fold_minutes(s, m_now, cfg)
    settle_recovery(s, cfg, final=False)

    out = weather_features(zone, now, cfg)
    wear = _aged(s.wear_tags, s.wear_rows, _NO_OVERLAY, m_now, 15)
    w1, c1 = _cols(wear, 1, WEAR_WIDTH)
    w5, c5 = _cols(wear, 5, WEAR_WIDTH)
    _, c15 = _cols(wear, 15, WEAR_WIDTH)
    _, c_old = _cols([(a, r) for a, r in wear if 10 <= a], 11, WEAR_WIDTH)  # minutes now-11 and now-10
    has_wearable = s.wearable_ts is not None
    hr1 = _ratio(c1[HR_SUM], c1[HR_N], HR_SCALE)
    hr_rest = s.hr_rest_bpm if s.hr_rest_bpm is not None else cfg.default_hr_rest_bpm
    skin1 = _ratio(c1[SKIN_SUM], c1[SKIN_N], SKIN_SCALE)
    skin_old = _ratio(c_old[SKIN_SUM], c_old[SKIN_N], SKIN_SCALE)
    n15 = c15[HR_N]
    on_body_1 = c1[ON_BODY_S]
    wearable_5m_s = 300.0 + (now - m_now * 60.0)
    out.update({
        "hr_mean_1m": hr1,
        "hr_mean_5m": _ratio(c5[HR_SUM], c5[HR_N], HR_SCALE),
        "hr_max_5m": max((r[HR_MAX] for r in w5 if r[HR_N]), default=NAN) / HR_SCALE,
        "hr_mean_15m": _ratio(c15[HR_SUM], n15, HR_SCALE),
        "hrr_pct": 100.0 * (hr1 - hr_rest) / (cfg.default_hr_max_bpm - hr_rest),
        "time_above_85pct_hrmax_15m": c15[HR_HIGH_S] / 60.0 if n15 else NAN,
        "hr_recovery_bpm": NAN if s.hr_recovery_bpm is None else s.hr_recovery_bpm,
        "skin_temp_c": skin1,
        "skin_temp_trend_c_10m": skin1 - skin_old,
        "strain_index_est": NAN if s.core_temp_c is None or math.isnan(hr1) else psi(s.core_temp_c, hr1, hr_rest),
        "wearable_quality": min(1.0, c5[VALID_S] / wearable_5m_s) if has_wearable else NAN,
        "impact_peak_g_1m": max(r[IMPACT_MAX] for r in w1) / G_SCALE if on_body_1 else NAN,
        "fall_suspected": _fall_flag(s, now, on_body_1 or c5[ON_BODY_S], cfg),
        "wearable_age_s": max(0.0, now - s.wearable_ts) if s.wearable_ts is not None else NAN,
    })
    out.update(_trip_features(s, now, m_now, trip, hour, day, cfg))
    return {name: float(out[name]) for name in FEATURE_NAMES}


def _aged(tags: array[int], rows: array[int], overlay: dict[int, Row], newest: int,
          whole: int) -> list[tuple[int, Row]]:
    """``(age, row)`` of buckets ``newest - whole .. newest``, the overlay's rows in place of the ring's."""
    n = len(tags)
    width = len(rows) // n
    view = memoryview(rows)
    out = [(age, cast(Row, view[i * width:(i + 1) * width])) for age in range(min(whole, n - 1) + 1)
           if tags[i := (newest - age) % n] == newest - age and newest - age not in overlay]
    if overlay:
        out += [(newest - key, row) for key, row in overlay.items() if 0 <= newest - key <= whole]
    return out


def _brakes_60m(s: RiderState, trip: dict[int, Row], m_now: int) -> int:
    """Harsh brakes of the 60-min window, read straight from the flat ring (no row views)."""
    tags, rows = s.trip_tags, s.trip_rows
    width, lo = len(rows) // len(tags), m_now - 60
    held = sum(rows[i * width + BRAKES] for i, tag in enumerate(tags) if lo <= tag <= m_now and tag not in trip)
    return held + sum(row[BRAKES] for key, row in trip.items() if lo <= key <= m_now)


def _cols(aged: list[tuple[int, Row]], max_age: int, width: int) -> tuple[list[Row], list[int]]:
    """The rows not older than ``max_age`` and their per-field sums."""
    rows = [row for age, row in aged if age <= max_age]
    return rows, [sum(col) for col in zip(*rows)] if rows else [0] * width


def _fall_flag(s: RiderState, now: float, on_body_recent: int, cfg: FeatureConfig) -> float:
    if s.fall_ts is not None and 0.0 <= now - s.fall_ts < cfg.fall_flag_seconds:
        return 1.0
    return 0.0 if on_body_recent else NAN


def _trip_features(s: RiderState, now: float, m_now: int, trip: dict[int, Row], hour: dict[int, Row],
                   day: dict[int, Row], cfg: FeatureConfig) -> dict[str, float]:
    names = ("heat_exposure_min_today", "continuous_riding_min", "online_hours_today", "online_hours_24h",
             "online_hours_7d", "night_riding_min_today", "breaks_today", "harsh_brakes_10m", "harsh_brakes_60m",
             "harsh_accels_10m", "harsh_corners_10m", "speeding_s_10m", "over_ebike_limit_s_10m",
             "phone_handling_s_10m", "speed_mean_5m", "speed_std_5m", "trip_age_s")
    if s.trip_ts is None:
        return dict.fromkeys(names, NAN)
    d_now = local_day(now, cfg)
    today = day.get(d_now) or read_row(s.day_tags, s.day_rows, d_now) or [0, 0, 0, 0]
    days = _aged(s.day_tags, s.day_rows, day, d_now, 7)
    hours = _aged(s.hour_tags, s.hour_rows, hour, math.floor(now / 3600.0), 24)
    on_break = s.off_since is not None and now - s.off_since >= cfg.break_min_minutes * 60.0
    minutes = _aged(s.trip_tags, s.trip_rows, trip, m_now, 10)
    _, c5 = _cols(minutes, 5, TRIP_WIDTH)
    _, c10 = _cols(minutes, 10, TRIP_WIDTH)
    ride5 = c5[RIDE_S]
    mean5 = _ratio(c5[SPEED_SUM], ride5, SPEED_SCALE)
    msq5 = _ratio(c5[SPEED_SQ], ride5, SPEED_SCALE * SPEED_SCALE)
    return {
        "heat_exposure_min_today": today[DAY_HEAT_S] / 60.0,
        "continuous_riding_min": 0.0 if on_break else s.online_since_break_s / 60.0,
        "online_hours_today": today[DAY_ONLINE_S] / 3600.0,
        "online_hours_24h": sum(r[0] for _, r in hours) / 3600.0,
        "online_hours_7d": sum(r[DAY_ONLINE_S] for _, r in days) / 3600.0,
        "night_riding_min_today": today[DAY_NIGHT_RIDE_S] / 60.0,
        "breaks_today": float(today[DAY_BREAKS]),
        "harsh_brakes_10m": float(c10[BRAKES]),
        "harsh_brakes_60m": float(_brakes_60m(s, trip, m_now)),
        "harsh_accels_10m": float(c10[ACCELS]),
        "harsh_corners_10m": float(c10[CORNERS]),
        "speeding_s_10m": float(c10[SPEEDING_S]),
        "over_ebike_limit_s_10m": float(c10[EBIKE_S]),
        "phone_handling_s_10m": float(c10[PHONE_S]),
        "speed_mean_5m": mean5,
        "speed_std_5m": math.sqrt(max(0.0, msq5 - mean5 * mean5)) if ride5 else NAN,
        "trip_age_s": max(0.0, now - s.trip_ts),
    }
