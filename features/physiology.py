"""Physiology trackers on top of the buckets: resting HR, estimated core temperature, HR recovery, falls.

Core temperature is not measured. It is *estimated* from the minute-mean heart rate
with the ECTemp Kalman filter of Buller et al. (Physiol. Meas. 34:781, 2013), whose
published error is about 0.3 °C RMSE in soldiers marching; in riders it is a rough
screen. Skin temperature is not used for it (skin is not core).

Every tracker here is driven by data that arrival order cannot change: whole minutes
once they are older than the allowed lateness, fixed 10-s HR buckets, and per-second
bitmaps for the fall pattern.

>>> round(core_temp_from_hr(37.1), 1)  # ECTemp's model HR at its 37.1 °C starting point
83.1
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from features.config import FeatureConfig
from features.ring import HR_N, HR_SCALE, HR_SUM, read_row

if TYPE_CHECKING:
    from features.rider_state import RiderState

# Buller et al. 2013 (ECTemp): HR = b2·CT² + b1·CT + b0; per-minute random-walk CT.
ECTEMP_B0, ECTEMP_B1, ECTEMP_B2 = -7887.1, 384.4286, -4.5714
ECTEMP_GAMMA = 0.022**2  # process variance per minute, °C²
ECTEMP_SIGMA = 18.88**2  # observation variance, bpm²
ECTEMP_CT0_C = 37.1  # starting core temperature, °C
CORE_RESET_MINUTES = 30  # after this long without HR, restart the filter
MIN_HR_SECONDS_CORE = 10  # a minute needs this many HR seconds to update the core estimate
MIN_HR_SECONDS_REST = 30  # ... and this many to update the resting-HR estimate
FALL_BITS = 256  # seconds of fall pattern history (more than any sane lateness)


def core_temp_from_hr(ct: float) -> float:
    """ECTemp's observation model: the heart rate expected at core temperature ``ct``."""
    return ECTEMP_B2 * ct * ct + ECTEMP_B1 * ct + ECTEMP_B0


def kalman_core_step(ct: float, var: float, hr: float | None) -> tuple[float, float]:
    """One minute of the ECTemp filter; ``hr`` None is a time update only.

    >>> ct, var = kalman_core_step(37.1, 0.0, 150.0)  # model HR at 37.1 °C is 83.1: innovation 66.9 bpm
    >>> round(ct, 4), round(var, 6)
    (37.1041, 0.000483)
    """
    var = var + ECTEMP_GAMMA
    if hr is None:
        return ct, var
    slope = 2.0 * ECTEMP_B2 * ct + ECTEMP_B1
    gain = var * slope / (slope * slope * var + ECTEMP_SIGMA)
    return ct + gain * (hr - core_temp_from_hr(ct)), (1.0 - gain * slope) * var


def fold_minutes(state: RiderState, upto_minute: int, cfg: FeatureConfig) -> None:
    """Fold whole minutes up to ``upto_minute`` into resting HR (EW low tracker) and core temperature."""
    start = upto_minute - 60 if state.folded_minute is None else max(state.folded_minute + 1, upto_minute - 60)
    tags, rows = state.wear_tags, state.wear_rows
    n_slots, width = len(tags), len(rows) // len(tags)
    rest, core, var, obs = state.hr_rest_bpm, state.core_temp_c, state.core_temp_var, state.core_obs_minute
    for minute in range(start, upto_minute + 1):  # on locals, straight on the flat ring: no row views
        i = minute % n_slots
        n = rows[i * width + HR_N] if tags[i] == minute else 0
        hr = rows[i * width + HR_SUM] / HR_SCALE / n if n else 0.0
        if n >= MIN_HR_SECONDS_REST:
            low = cfg.default_hr_rest_bpm if rest is None else rest
            alpha = cfg.hr_rest_alpha_down if hr < low else cfg.hr_rest_alpha_up
            rest = max(cfg.hr_rest_floor_bpm, low + alpha * (hr - low))
        if n >= MIN_HR_SECONDS_CORE:
            if core is None or minute - (obs or minute) > CORE_RESET_MINUTES:
                core, var = ECTEMP_CT0_C, 0.0
            core, var = kalman_core_step(core, var, hr)
            obs = minute
        elif core is not None:
            core, var = kalman_core_step(core, var, None)
    state.hr_rest_bpm, state.core_temp_c, state.core_temp_var, state.core_obs_minute = rest, core, var, obs
    if state.folded_minute is None or upto_minute > state.folded_minute:
        state.folded_minute = upto_minute


def _hr10_mean(state: RiderState, sec: float) -> float | None:
    row = read_row(state.hr10_tags, state.hr10_rows, int(sec // 10))
    return row[0] / HR_SCALE / row[1] if row is not None and row[1] else None


def recovery_from_ring(state: RiderState, stop: int) -> float | None:
    """HR drop one minute after ``stop``: 10-s mean around stop-5 s minus 10-s mean around stop+60 s (±5 s)."""
    pre, post = _hr10_mean(state, stop - 5), _hr10_mean(state, stop + 60)
    return None if pre is None or post is None else pre - post


def qualify_stop(state: RiderState, stop: int) -> None:
    """A stop lasted long enough to measure HR recovery; the previous pending one is settled with what is known."""
    if state.stop_pending is not None:
        value = recovery_from_ring(state, state.stop_pending)
        if value is not None:
            state.hr_recovery_bpm = value
    state.stop_pending = stop


def settle_recovery(state: RiderState, cfg: FeatureConfig, *, final: bool) -> None:
    """Write the pending stop's recovery; ``final`` waits until late HR can no longer change it."""
    stop, newest = state.stop_pending, state.wearable_ts
    if stop is None or newest is None:
        return
    if newest < stop + (70.0 + cfg.allowed_lateness_s if final else 60.0):
        return
    value = recovery_from_ring(state, stop)
    if value is not None or final:
        state.hr_recovery_bpm = value
    if final:
        state.stop_pending = None


def mark_fall_bits(state: RiderState, sec: int, impact: bool, still: bool, cfg: FeatureConfig) -> None:
    """Record one second's impact/stillness bits and detect 'impact then N still seconds' around it."""
    if state.fall_base is None:
        state.fall_base = sec
    elif sec > state.fall_base:
        shift, mask = sec - state.fall_base, (1 << FALL_BITS) - 1
        state.impact_bits = (state.impact_bits << shift) & mask
        state.still_bits = (state.still_bits << shift) & mask
        state.fall_base = sec
    i = state.fall_base - sec
    if i >= FALL_BITS or not (impact or still):
        return
    if impact:
        state.impact_bits |= 1 << i
    if still:
        state.still_bits |= 1 << i
    n = cfg.fall_stillness_seconds
    run = (1 << n) - 1
    if not (state.impact_bits >> i) & (run << 1 | 1):  # no impact in the n seconds up to this one: nothing to find
        return
    for t0 in range(sec - n, sec + 1):  # every impact whose stillness window contains this second
        i0 = state.fall_base - t0
        if i0 - n < 0 or i0 >= FALL_BITS or not (state.impact_bits >> i0) & 1:
            continue
        if (state.still_bits >> (i0 - n)) & run == run:
            detected = float(t0 + n)
            if state.fall_ts is None or detected > state.fall_ts:
                state.fall_ts = detected
