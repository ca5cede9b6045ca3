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
import operator
from array import array
from dataclasses import fields

from features.catalog import FEATURE_NAMES
from features.config import FeatureConfig
from features.physiology import ECTEMP_CT0_C, fold_minutes, qualify_stop, settle_recovery
from features.rider_state import SUMS_BRAKES, SUMS_DAY, SUMS_HOUR, SUMS_TRIP, SUMS_WEAR, RiderState
from features.ring import (
    Row,
    DAY_BREAKS, DAY_HEAT_S, DAY_NIGHT_RIDE_S, DAY_ONLINE_S, G_SCALE,
    HR_HIGH_S, HR_MAX, HR_N, HR_SCALE, HR_SUM, IMPACT_MAX, ON_BODY_S, RIDE_S, SKIN_N, SKIN_SCALE,
    SKIN_SUM, SPEED_SCALE, SPEED_SQ, SPEED_SUM, TRIP_WIDTH, VALID_S, WEAR_WIDTH, read_row,
    window_from_frozen,
)
from features.state_codec import NONE
from features.trip_tail import TripTail
from features.trip_time import seal_trip
from features.weather import ZoneWeather, local_day, weather_features

NAN = math.nan
_SCALARS = tuple(f.name for f in fields(RiderState))
_GET_SCALARS = operator.attrgetter(*_SCALARS)  # every field's value in one C call
_SET_SCALARS = tuple(getattr(RiderState, name).__set__ for name in _SCALARS)  # the slots' setters
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
    for set_field, value in zip(_SET_SCALARS, _GET_SCALARS(state)):  # rings are shared: the code below only reads them
        set_field(s, value)
    s.tail = None
    if tail is None:
        return _features(s, zone, now, {}, {}, {}, {}, cfg)
    ahead = tail.ahead(upto, cfg)
    s.off_since, s.online_since_break_s = ahead.off_since, ahead.online_since_break_s
    for stop in ahead.stops:
        qualify_stop(s, stop)
    return _features(s, zone, now, ahead.trip, ahead.hour, ahead.day, ahead.brakes, cfg)


def rider_features_replay(state: RiderState, zone: ZoneWeather | None, now: float,
                          cfg: FeatureConfig) -> dict[str, float]:
    """The same as :func:`rider_features` by sealing a copy of the whole state (the reference it is tested against)."""
    s = state.scratch_copy()
    s.sums = s.wear_sums = None  # the reference sums every window over the rings, not from the kept sums
    seal_trip(s, math.floor(now) + 1, cfg)  # see the newest trip seconds without waiting for lateness
    return _features(s, zone, now, {}, {}, {}, {}, cfg)


def _features(s: RiderState, zone: ZoneWeather | None, now: float, trip: dict[int, Row], hour: dict[int, Row],
              day: dict[int, Row], brakes: dict[int, Row], cfg: FeatureConfig) -> dict[str, float]:
    m_now = math.floor(now / 60.0)
    final = s.folded_minute  # the newest wearable minute no record can change (before the provisional fold)
    fold_minutes(s, m_now, cfg)
    settle_recovery(s, cfg, final=False)

    out = weather_features(zone, now, cfg)
    # one pass over the 15-min wearable window, straight on the flat ring: sums by window (1, 5, 15 min)
    tags, rows = s.wear_tags, s.wear_rows
    n = len(tags)
    hs1 = hn1 = sk1 = skn1 = on1 = imp1 = 0
    hs5 = hn5 = valid5 = on5 = 0
    hmax5 = -1
    hs15 = hn15 = high15 = 0
    sk_old = skn_old = 0
    unkept = m_now - 15  # the 15-min sums read from the ring the minutes from here on
    ages: tuple[int, ...] | range = range(min(15, n - 1) + 1)
    # the kept sums hold minutes up to ``final``; a record since may have taken the slot of one of them (a new
    # minute evicts the one n minutes before it, so at most the newest minute - n): only windows after that
    newest_minute = math.floor(s.wearable_ts / 60.0) if s.wearable_ts is not None else m_now
    if (final is not None and s.wear_sums is not None and s.wear_sums[0] == final and n > 15
            and m_now - 15 > newest_minute - n):
        at, flds, whole, spare = SUMS_WEAR
        frozen = window_from_frozen(s.wear_sums, at, len(flds), whole, spare, m_now - 15, m_now)
        if frozen is not None:  # the final minutes' 15-min sums kept by the updates: read only the newer minutes
            hs15, hn15, high15 = frozen
            unkept = final + 1
            ages = (0, 1, 2, 3, 4, 5, 10, 11)  # the 1-min, 5-min and trend minutes (the kept sums end <= 4 back)
    for age in ages:
        key = m_now - age
        i = key % n
        if tags[i] != key:
            continue
        b = i * WEAR_WIDTH
        hs, hn = rows[b + HR_SUM], rows[b + HR_N]
        if key >= unkept:
            hs15 += hs
            hn15 += hn
            high15 += rows[b + HR_HIGH_S]
        if age <= 5:
            hs5 += hs
            hn5 += hn
            valid5 += rows[b + VALID_S]
            on5 += rows[b + ON_BODY_S]
            if hn and rows[b + HR_MAX] > hmax5:
                hmax5 = rows[b + HR_MAX]
            if age <= 1:
                hs1 += hs
                hn1 += hn
                sk1 += rows[b + SKIN_SUM]
                skn1 += rows[b + SKIN_N]
                on1 += rows[b + ON_BODY_S]
                if rows[b + IMPACT_MAX] > imp1:
                    imp1 = rows[b + IMPACT_MAX]
        if 10 <= age <= 11:  # minutes now-11 and now-10
            sk_old += rows[b + SKIN_SUM]
            skn_old += rows[b + SKIN_N]
    has_wearable = s.wearable_ts is not None
    hr1 = _ratio(hs1, hn1, HR_SCALE)
    hr_rest = s.hr_rest_bpm if s.hr_rest_bpm is not None else cfg.default_hr_rest_bpm
    skin1 = _ratio(sk1, skn1, SKIN_SCALE)
    skin_old = _ratio(sk_old, skn_old, SKIN_SCALE)
    wearable_5m_s = 300.0 + (now - m_now * 60.0)
    out.update({
        "hr_mean_1m": hr1,
        "hr_mean_5m": _ratio(hs5, hn5, HR_SCALE),
        "hr_max_5m": hmax5 / HR_SCALE if hmax5 >= 0 else NAN,
        "hr_mean_15m": _ratio(hs15, hn15, HR_SCALE),
        "hrr_pct": 100.0 * (hr1 - hr_rest) / (cfg.default_hr_max_bpm - hr_rest),
        "time_above_85pct_hrmax_15m": high15 / 60.0 if hn15 else NAN,
        "hr_recovery_bpm": NAN if s.hr_recovery_bpm is None else s.hr_recovery_bpm,
        "skin_temp_c": skin1,
        "skin_temp_trend_c_10m": skin1 - skin_old,
        "strain_index_est": NAN if s.core_temp_c is None or math.isnan(hr1) else psi(s.core_temp_c, hr1, hr_rest),
        "wearable_quality": min(1.0, valid5 / wearable_5m_s) if has_wearable else NAN,
        "impact_peak_g_1m": imp1 / G_SCALE if on1 else NAN,
        "fall_suspected": _fall_flag(s, now, on1 or on5, cfg),
        "wearable_age_s": max(0.0, now - s.wearable_ts) if s.wearable_ts is not None else NAN,
    })
    out.update(_trip_features(s, now, m_now, trip, hour, day, brakes, cfg))
    return {name: float(out[name]) for name in FEATURE_NAMES}


def _window_rows(tags: array[int], rows: array[int], overlay: dict[int, Row], newest: int, whole: int,
                 width: int) -> list[tuple[Row, int, int]]:
    """``(sequence, offset, key)`` of the rows of buckets ``newest - whole .. newest``: field ``f`` of a row is
    ``sequence[offset + f]``, the overlay's row in place of the ring's; one pass over the ring's tags, no views."""
    lo = newest - min(whole, len(tags) - 1)
    out: list[tuple[Row, int, int]] = [(rows, i * width, tag) for i, tag in enumerate(tags)
                                       if lo <= tag <= newest and tag not in overlay]
    if overlay:
        out += [(row, 0, key) for key, row in overlay.items() if lo <= key <= newest]
    return out


def _window_sums(s: RiderState, block: tuple[int, tuple[int, ...], int, int], tags: array[int], rows: array[int],
                 overlay: dict[int, Row], newest: int) -> list[int]:
    """The block's fields summed over the buckets ``newest - whole .. newest``, the overlay's rows in place of
    the ring's: from the sums the updates keep (:func:`features.rider_state.sealed_sums`) where they are
    current and cover the window, else by a pass over the ring (the same numbers)."""
    at, flds, whole, spare = block
    lo = newest - min(whole, len(tags) - 1)
    sums = s.sums
    out = None
    if sums is not None and sums[0] == (NONE if s.sealed_upto is None else s.sealed_upto):
        out = window_from_frozen(sums, at, len(flds), whole, spare, lo, newest)
    if out is None:
        width = len(rows) // len(tags) if rows else 0
        out = [0] * len(flds)
        for seq, b, _key in _window_rows(tags, rows, overlay, newest, whole, width):
            for j, f in enumerate(flds):
                out[j] += seq[b + f]
        return out
    if overlay:
        n, width = len(tags), (len(rows) // len(tags) if rows else 0)
        for key, row in overlay.items():
            if lo <= key <= newest:
                i = key % n
                held = tags[i] == key  # then the sums hold the ring's row: the overlay's replaces it
                for j, f in enumerate(flds):
                    out[j] += row[f] - (rows[i * width + f] if held else 0)
    return out


def _fall_flag(s: RiderState, now: float, on_body_recent: int, cfg: FeatureConfig) -> float:
    if s.fall_ts is not None and 0.0 <= now - s.fall_ts < cfg.fall_flag_seconds:
        return 1.0
    return 0.0 if on_body_recent else NAN


def _trip_features(s: RiderState, now: float, m_now: int, trip: dict[int, Row], hour: dict[int, Row],
                   day: dict[int, Row], brakes: dict[int, Row], cfg: FeatureConfig) -> dict[str, float]:
    names = ("heat_exposure_min_today", "continuous_riding_min", "online_hours_today", "online_hours_24h",
             "online_hours_7d", "night_riding_min_today", "breaks_today", "harsh_brakes_10m", "harsh_brakes_60m",
             "harsh_accels_10m", "harsh_corners_10m", "speeding_s_10m", "over_ebike_limit_s_10m",
             "phone_handling_s_10m", "speed_mean_5m", "speed_std_5m", "trip_age_s")
    if s.trip_ts is None:
        return dict.fromkeys(names, NAN)
    d_now = local_day(now, cfg)
    today = day.get(d_now) or read_row(s.day_tags, s.day_rows, d_now) or [0, 0, 0, 0]
    online_7d = _window_sums(s, SUMS_DAY, s.day_tags, s.day_rows, day, d_now)[0]
    online_24h = _window_sums(s, SUMS_HOUR, s.hour_tags, s.hour_rows, hour, math.floor(now / 3600.0))[0]
    on_break = s.off_since is not None and now - s.off_since >= cfg.break_min_minutes * 60.0
    c10 = _window_sums(s, SUMS_TRIP, s.trip_tags, s.trip_rows, trip, m_now)
    brakes_60m = _window_sums(s, SUMS_BRAKES, s.brake_tags, s.brake_rows, brakes, m_now)[0]
    ride5 = speed5 = sq5 = 0
    tags, rows, n = s.trip_tags, s.trip_rows, len(s.trip_tags)
    for key in range(m_now - 5, m_now + 1):  # six buckets: read each by its key
        row = trip.get(key)
        if row is not None:
            ride5 += row[RIDE_S]
            speed5 += row[SPEED_SUM]
            sq5 += row[SPEED_SQ]
        elif tags[key % n] == key:
            b = (key % n) * TRIP_WIDTH
            ride5 += rows[b + RIDE_S]
            speed5 += rows[b + SPEED_SUM]
            sq5 += rows[b + SPEED_SQ]
    mean5 = _ratio(speed5, ride5, SPEED_SCALE)
    msq5 = _ratio(sq5, ride5, SPEED_SCALE * SPEED_SCALE)
    return {
        "heat_exposure_min_today": today[DAY_HEAT_S] / 60.0,
        "continuous_riding_min": 0.0 if on_break else s.online_since_break_s / 60.0,
        "online_hours_today": today[DAY_ONLINE_S] / 3600.0,
        "online_hours_24h": online_24h / 3600.0,
        "online_hours_7d": online_7d / 3600.0,
        "night_riding_min_today": today[DAY_NIGHT_RIDE_S] / 60.0,
        "breaks_today": float(today[DAY_BREAKS]),
        "harsh_brakes_10m": float(c10[3]),
        "harsh_brakes_60m": float(brakes_60m),
        "harsh_accels_10m": float(c10[4]),
        "harsh_corners_10m": float(c10[5]),
        "speeding_s_10m": float(c10[0]),
        "over_ebike_limit_s_10m": float(c10[1]),
        "phone_handling_s_10m": float(c10[2]),
        "speed_mean_5m": mean5,
        "speed_std_5m": math.sqrt(max(0.0, msq5 - mean5 * mean5)) if ride5 else NAN,
        "trip_age_s": max(0.0, now - s.trip_ts),
    }
