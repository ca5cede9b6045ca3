"""Rider state: event time, dedup, lateness, bounded memory, trip time accounting, falls, round trip."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone

import pytest

from features import FeatureConfig, RiderState, UpdateResult, rider_features, update_trip, update_wearable
from riskstream.contracts.records import TripPoint, TripStatus, WearableReading

CFG = FeatureConfig()
T0 = 1_782_864_000.0  # 2026-07-01 00:00 UTC = 08:00 UTC+8


def wear(i: float, hr: float | None = 100.0, peak: float = 1.2, mean: float = 1.0, var: float = 0.02,
         eid: str | None = None, skin: float | None = 34.0) -> WearableReading:
    return WearableReading(event_id=eid or f"w{i}", ts=datetime.fromtimestamp(T0 + i, tz=timezone.utc), rider_id="r1",
                           heart_rate_bpm=hr, skin_temp_c=skin, accel_peak_g=peak, accel_mean_g=mean, accel_var=var)


def trip(i: float, status: str = "riding", speed: float = 20.0, eid: str | None = None, **kw: object) -> TripPoint:
    return TripPoint(event_id=eid or f"t{i}", ts=datetime.fromtimestamp(T0 + i, tz=timezone.utc), rider_id="r1",
                     zone_id=str(kw.pop("zone", "z1")), status=TripStatus(status), lat=31.2, lon=121.4, speed_kmh=speed, **kw)


def feats(state: RiderState, at: float) -> dict[str, float]:
    return rider_features(state, None, T0 + at, CFG)


def same(a: dict[str, float], b: dict[str, float]) -> bool:
    return all((math.isnan(a[k]) and math.isnan(b[k])) or a[k] == b[k] for k in a)


def test_duplicate_is_counted_once() -> None:
    s = RiderState.new("r1")
    assert update_wearable(s, wear(0, hr=100), CFG) is UpdateResult.APPLIED
    assert update_wearable(s, wear(0, hr=100), CFG) is UpdateResult.DUPLICATE
    assert update_wearable(s, wear(1, hr=130), CFG) is UpdateResult.APPLIED
    assert feats(s, 1)["hr_mean_1m"] == 115.0
    assert update_trip(s, trip(1), CFG) is UpdateResult.APPLIED
    assert update_trip(s, trip(1), CFG) is UpdateResult.DUPLICATE


def test_too_late_changes_nothing_and_late_within_lateness_lands_in_its_minute() -> None:
    s = RiderState.new("r1")
    for i in range(0, 600, 1):
        update_wearable(s, wear(i, hr=100), CFG)
    before = json.dumps(s.to_dict())
    assert update_wearable(s, wear(599 - CFG.allowed_lateness_s - 1, hr=200, eid="late"), CFG) is UpdateResult.TOO_LATE
    assert update_trip(s, trip(599 - CFG.allowed_lateness_s - 1, eid="late-t"), CFG) is UpdateResult.APPLIED  # trip clock is its own
    s2 = RiderState.from_dict(json.loads(before))
    assert update_wearable(s2, wear(599 - 90.5, hr=160, eid="ok-late"), CFG) is UpdateResult.APPLIED
    # 508.5 s is in minute 8; a 1-min window at 599 s covers minutes 8 and 9
    assert feats(s2, 599)["hr_mean_1m"] == pytest.approx((100 * 120 + 160) / 121)


def test_dropout_does_not_count_as_riding() -> None:
    s = RiderState.new("r1")
    update_trip(s, trip(0), CFG)
    update_trip(s, trip(600), CFG)  # 10 min of silence in between
    f = feats(s, 600)
    assert f["online_hours_today"] * 3600 == pytest.approx(CFG.trip_gap_cap_s + 1)


def test_speeding_ebike_phone_and_harsh_onsets() -> None:
    s = RiderState.new("r1")
    for i in range(20):
        update_trip(s, trip(i, speed=29.0 if i < 10 else 27.0, speed_limit_kmh=20.0, phone_handling=i < 3,
                            accel_long_g=-0.5 if i in (5, 6, 7, 15) else 0.0), CFG)
    f = feats(s, 19)
    assert f["speeding_s_10m"] == 10  # 20 + 8 km/h tolerance: 29 is over, 27 is not
    assert f["over_ebike_limit_s_10m"] == 20
    assert f["phone_handling_s_10m"] == 3
    assert f["harsh_brakes_10m"] == 2  # 5-7 is one braking event, 15 another
    assert f["speed_mean_5m"] == pytest.approx(28.0)


def test_break_resets_continuous_riding_and_short_pause_does_not() -> None:
    s = RiderState.new("r1")
    t = 0
    for minutes, status in ((30, "riding"), (10, "break"), (20, "waiting"), (16, "break"), (5, "riding")):
        for _ in range(minutes * 60):
            update_trip(s, trip(t, status=status, speed=20.0 if status == "riding" else 0.0), CFG)
            t += 1
    f = feats(s, t - 1)
    assert f["breaks_today"] == 1
    assert f["continuous_riding_min"] == pytest.approx(5.0, abs=0.05)
    assert f["online_hours_today"] == pytest.approx(55 / 60, abs=0.01)
    s2 = RiderState.from_dict(s.to_dict())
    on_break = rider_features(s2, None, T0 + t + 16 * 60, CFG)
    assert on_break["continuous_riding_min"] == 0.0


def test_night_riding_and_heat_exposure() -> None:
    s = RiderState.new("r1")
    night = 17 * 3600 + 600  # 17:10 UTC = 01:10 UTC+8
    for i in range(120):
        update_trip(s, trip(night + i), CFG, zone_heat_index_c=35.0 if i < 60 else None)
    f = feats(s, night + 119)
    assert f["night_riding_min_today"] == pytest.approx(2.0)
    assert f["heat_exposure_min_today"] == pytest.approx(1.0)


def _fall_sequence(s: RiderState, start: int, after_var: float, after_mean: float = 1.0) -> None:
    update_wearable(s, wear(start, peak=4.5, var=2.0), CFG)
    for k in range(1, 8):
        update_wearable(s, wear(start + k, peak=1.01, mean=after_mean, var=after_var), CFG)


def test_fall_needs_impact_then_stillness() -> None:
    s = RiderState.new("r1")
    for i in range(60):
        update_wearable(s, wear(i), CFG)
    _fall_sequence(s, 60, after_var=0.001)
    assert feats(s, 70)["fall_suspected"] == 1.0
    assert feats(s, 60 + 5 + CFG.fall_flag_seconds - 1)["fall_suspected"] == 1.0
    assert feats(s, 60 + 5 + CFG.fall_flag_seconds + 1)["fall_suspected"] == 0.0


def test_running_peak_without_stillness_is_not_a_fall() -> None:
    s = RiderState.new("r1")
    _fall_sequence(s, 0, after_var=0.4, after_mean=1.3)
    assert feats(s, 8)["fall_suspected"] == 0.0
    assert feats(s, 8)["impact_peak_g_1m"] == 4.5


def test_fall_detected_when_impact_arrives_after_the_stillness() -> None:
    s = RiderState.new("r1")
    for k in range(1, 8):
        update_wearable(s, wear(10 + k, peak=1.01, var=0.001), CFG)
    update_wearable(s, wear(10, peak=4.5, var=2.0), CFG)
    assert feats(s, 20)["fall_suspected"] == 1.0


def test_no_data_is_nan_not_safe() -> None:
    f = feats(RiderState.new("r1"), 0)
    for name in ("hr_mean_1m", "strain_index_est", "fall_suspected", "continuous_riding_min", "wearable_age_s", "heat_index_c"):
        assert math.isnan(f[name]), name


def test_resting_hr_learns_a_low_percentile() -> None:
    s = RiderState.new("r1")
    for i in range(120 * 60):  # one minute at 52 bpm in every ten, the rest at 120
        update_wearable(s, wear(i, hr=52.0 if (i // 60) % 10 == 0 else 120.0), CFG)
    # fast down, slow up: settles near 57 bpm (fixed point of the EW tracker), far below the 113 bpm mean
    assert s.hr_rest_bpm is not None and 52 < s.hr_rest_bpm < 60


def test_state_is_bounded_and_round_trips() -> None:
    sizes = []
    s = RiderState.new("r1")
    t = 0
    for hours in (1, 3):
        while t < hours * 3600:
            update_wearable(s, wear(t, hr=100 + t % 40), CFG)
            update_trip(s, trip(t, speed=float(t % 30), accel_long_g=-0.5 if t % 77 == 0 else 0.0), CFG)
            t += 1
        sizes.append(len(json.dumps(s.to_dict())))
        assert len(s.pending) <= CFG.allowed_lateness_s + 61  # sealed on whole minutes
    assert sizes[1] <= sizes[0] * 1.05
    restored = RiderState.from_dict(json.loads(json.dumps(s.to_dict())))
    assert same(feats(restored, t - 1), feats(s, t - 1))
    for k in range(t, t + 300):  # both continue identically
        for st in (s, restored):
            update_wearable(st, wear(k, hr=140), CFG)
            update_trip(st, trip(k), CFG)
    assert same(feats(restored, t + 299), feats(s, t + 299))
    assert update_wearable(restored, wear(t + 299, hr=140), CFG) is UpdateResult.DUPLICATE
