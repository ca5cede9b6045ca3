"""Real recordings nobody here wrote, mapped onto the topic schemas (issue 14; sources in tests/data/README.md).

- Two months of hourly observations at Miami (NREL TMY2: July 1964 and August 1978), with the
  station's own gap (24 hours filled by interpolation: not an observation, so not sent) and the fields it
  never had (gust, precipitation rate: unknown, not 0; solar radiation where it was modelled, not measured).
- A real GPS track of a drive (gpxpy's test file, a Garmin eTrex at about 1 Hz with gaps): no accelerometer.
- Real smartwatch accelerometer traces of walking and badminton (BasicMotions), with impacts above the fall
  threshold and no stillness after them.

The records go through the worker's parser (``parse_input``), the features and the alert policy.
"""

from __future__ import annotations

import csv
import json
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from alerts.config import AlertConfig
from alerts.policy import AlertPolicy, AlertState
from features import FeatureConfig, update_zone_weather, weather_features
from features.compute import rider_features
from features.heat import heat_index_c, wbgt_outdoor_estimate_c
from features.rider_state import RiderState, update_trip, update_wearable
from riskstream.contracts.records import Severity, TripPoint, WearableReading, WeatherObservation
from riskstream.simulation.hazard import true_heat_index_f
from streams.parsing import parse_input

DATA = Path(__file__).resolve().parents[1] / "data"
CFG = FeatureConfig()
G = 9.80665
#: TMY2 hours are local standard time at Miami, UTC-5.
MIAMI = timezone(timedelta(hours=-5))


def parse(model: type[Any], value: dict[str, Any]) -> Any:
    record, _ = parse_input(model, json.dumps(value).encode(), max_bytes=64 * 1024)
    return record


# ----------------------------------------------------------------------------- weather


def weather_value(row: dict[str, str]) -> dict[str, Any] | None:
    """One TMY2 hour as a ``telemetry.weather`` value, or None when the hour was not observed (a gap)."""
    if row["dry_bulb_src"] != "A":  # B/C: interpolated over the station's gap, E: modelled
        return None
    end = datetime(2026, int(row["month"]), int(row["day"]), tzinfo=MIAMI) + timedelta(hours=int(row["hour_ending_lst"]))
    measured = {"A"}
    return {
        "event_id": f"miami-{end.isoformat()}", "ts": end.astimezone(timezone.utc).isoformat(), "zone_id": "miami",
        "air_temp_c": float(row["dry_bulb_c"]),
        "relative_humidity_pct": float(row["rh_pct"]) if row["rh_src"] in measured else None,
        "dew_point_c": float(row["dew_point_c"]) if row["dew_point_src"] in measured else None,
        "wind_speed_ms": float(row["wind_ms"]) if row["wind_src"] in measured else None,
        "visibility_m": float(row["visibility_km"]) * 1000 if row["visibility_src"] in measured else None,
        # solar flags differ: A/B post-1976 measured, C pre-1976 measured, D-H derived or modelled, ? night/missing
        "solar_w_m2": float(row["ghi_w_m2"]) if row["ghi_src"] in ("A", "B", "C") else None,
        "daylight": int(row["etr_w_m2"]) > 0,  # extraterrestrial radiation: the sun is up
        # the station has no gust or precipitation rate: the fields are left out, i.e. unknown
    }


@pytest.fixture(scope="module")
def miami() -> list[tuple[dict[str, str], WeatherObservation]]:
    with (DATA / "miami_tmy2_jul_aug.csv").open() as f:
        rows = list(csv.DictReader(f))
    return [(row, parse(WeatherObservation, value)) for row in rows if (value := weather_value(row)) is not None]


def test_every_observed_hour_is_a_sound_record_and_the_gap_is_not_sent(miami: list) -> None:
    assert len(miami) == 1464  # 1488 hours, 24 of them the station's interpolated gap (July 1964)
    assert all(obs.wind_gust_ms is None and obs.precipitation_mm_h is None for _, obs in miami)
    assert sum(obs.solar_w_m2 is None and obs.daylight for _, obs in miami) > 400  # modelled sun is not a reading


def test_real_humidity_and_dew_point_agree_within_the_tolerance(miami: list) -> None:
    """The plausibility check keeps every real observation: not one of 1,464 rows loses its humidity."""
    assert all(obs.relative_humidity_pct is not None for _, obs in miami)


def test_heat_index_matches_the_worlds_independent_implementation(miami: list) -> None:
    zone = None
    for row, obs in miami:
        zone = update_zone_weather(zone, obs, CFG)
        f = weather_features(zone, obs.epoch, CFG)
        t, rh = float(row["dry_bulb_c"]), float(row["rh_pct"])
        world_f = true_heat_index_f(t, rh)
        if world_f >= 80.0:  # where the Rothfusz regression applies the two must agree
            assert f["heat_index_c"] * 9 / 5 + 32 == pytest.approx(world_f, abs=0.01)
        assert f["heat_index_c"] == pytest.approx(heat_index_c(t, rh))


def test_heat_alerts_iff_the_heat_index_crosses_the_thresholds(miami: list) -> None:
    """A rider on shift (10:00-20:00 local) every day: the heat level follows the NWS lines with hysteresis."""
    policy, state, zone = AlertPolicy(AlertConfig()), AlertState(), None
    cfg = AlertConfig()
    sent: list[tuple[float, Any]] = []
    checked = {"danger": 0, "warning": 0, "none": 0}
    for _, obs in miami:
        zone = update_zone_weather(zone, obs, CFG)
        if not 10 <= obs.ts.astimezone(MIAMI).hour <= 20:
            continue
        hi = weather_features(zone, obs.epoch, CFG)["heat_index_c"]
        sent += [(hi, d) for d in policy.evaluate(state, {"heat_index_c": hi}, None, obs.epoch) if d.kind == "heat"]
        level = state.level("heat")
        if hi >= cfg.heat_index_danger_c:
            assert level is Severity.danger, hi
            checked["danger"] += 1
        elif hi >= cfg.heat_index_warning_c:
            assert level in (Severity.warning, Severity.danger), hi
            checked["warning"] += 1
        elif hi < cfg.heat_index_warning_exit_c:
            assert level is None, hi
            checked["none"] += 1
    assert checked["danger"] >= 1 and checked["warning"] > 100 and checked["none"] > 10, checked
    assert sent and all(hi >= cfg.heat_index_warning_exit_c for hi, _ in sent)  # never an alert below the exit line
    for _, decision in sent:  # and no text states a line the value is below
        for reason in decision.reasons:
            if reason.value is not None:
                shown = float(reason.text["en"].split("≥ ")[1].split(" ")[0])
                assert reason.value >= shown, reason.text["en"]


def test_unknown_sun_in_daylight_never_lowers_the_wbgt_estimate(miami: list) -> None:
    zone, n = None, 0
    for row, obs in miami:
        zone = update_zone_weather(zone, obs, CFG)
        if obs.solar_w_m2 is None and obs.daylight:
            t, rh = obs.air_temp_c, float(row["rh_pct"])
            modelled = float(row["ghi_w_m2"])  # the TMY2's own modelled value, not sent
            estimate = weather_features(zone, obs.epoch, CFG)["wbgt_c_est"]
            assert estimate >= wbgt_outdoor_estimate_c(t, rh, None, modelled) - 1e-9
            n += 1
    assert n > 400


def test_an_hour_whose_humidity_is_only_derived_is_still_known_from_its_dew_point(miami: list) -> None:
    row, obs = next((r, o) for r, o in miami if o.dew_point_c is not None)
    value = {**weather_value(row), "relative_humidity_pct": None}  # as a station that reports only the dew point
    zone = update_zone_weather(None, parse(WeatherObservation, value), CFG)
    assert zone.relative_humidity_pct == pytest.approx(float(row["rh_pct"]), abs=1.0)


# ----------------------------------------------------------------------------- a real drive


def test_a_real_gps_track_without_accelerometer_counts_no_harsh_event_and_no_riding_alert() -> None:
    with (DATA / "visnjan_drive_gpx.csv").open() as f:
        points = list(csv.DictReader(f))
    state, prev, speeds = RiderState("gps-1"), None, []
    for i, p in enumerate(points):
        t = datetime.fromisoformat(p["time_utc"].replace("Z", "+00:00")).timestamp()
        lat, lon = float(p["lat"]), float(p["lon"])
        speed = 0.0
        if prev is not None and t > prev[0]:
            dy = math.radians(lat - prev[1]) * 6371e3
            dx = math.radians(lon - prev[2]) * 6371e3 * math.cos(math.radians(lat))
            speed = math.hypot(dx, dy) / (t - prev[0]) * 3.6
        prev = (t, lat, lon)
        speeds.append(speed)
        rec = parse(TripPoint, {"event_id": f"g{i}", "ts": p["time_utc"], "rider_id": "gps-1", "zone_id": "visnjan",
                                "status": "riding", "lat": lat, "lon": lon, "speed_kmh": min(speed, 200.0),
                                "accel_long_g": None, "accel_lat_g": None})
        assert rec.accel_lat_g is None and rec.accel_long_g is None
        update_trip(state, rec, CFG)
    f = rider_features(state, None, prev[0], CFG)
    assert max(speeds) > 25.0 and f["over_ebike_limit_s_10m"] > 0  # the track is real and fast enough to count
    assert f["harsh_brakes_10m"] == 0  # no accelerometer: nothing is made up
    riding = [d for d in AlertPolicy(AlertConfig()).evaluate(AlertState(), f, None, prev[0]) if d.kind == "riding"]
    assert riding == []


# ----------------------------------------------------------------------------- real motion, no fall


def seconds_of_motion() -> list[dict[str, float]]:
    """Per-second peak, mean and variance of |a| in g from the 10 Hz traces, recordings one after another.

    BasicMotions gives acceleration without gravity (m/s²: running averages 14-19, walking 3-4); the
    magnitude with gravity is at most 1 g more, so 1 + |a|/g is used: it can only overstate an impact.
    """
    with (DATA / "basicmotions_accel.csv").open() as f:
        samples = list(csv.DictReader(f))
    out = []
    for k in range(0, len(samples), 10):
        mags = [1.0 + math.sqrt(float(s["ax"]) ** 2 + float(s["ay"]) ** 2 + float(s["az"]) ** 2) / G
                for s in samples[k:k + 10]]
        mean = sum(mags) / len(mags)
        out.append({"accel_peak_g": max(mags), "accel_mean_g": mean,
                    "accel_var": sum((m - mean) ** 2 for m in mags) / len(mags)})
    return out


def feed_motion(state: RiderState, seconds: list[dict[str, float]], t0: float) -> None:
    for i, sec in enumerate(seconds):
        ts = datetime.fromtimestamp(t0 + i, timezone.utc).isoformat()
        rec = parse(WearableReading, {"event_id": f"m{i}", "ts": ts, "rider_id": "walker", **sec})
        assert rec.heart_rate_bpm is None  # the watch's heart rate is not in the data set: unknown
        update_wearable(state, rec, CFG)


def test_real_walking_and_badminton_raise_no_fall_question() -> None:
    seconds, t0 = seconds_of_motion(), datetime(2026, 7, 15, 2, tzinfo=timezone.utc).timestamp()
    assert len(seconds) == 200 and sum(s["accel_peak_g"] >= CFG.fall_impact_g for s in seconds) >= 5  # real impacts
    state = RiderState("walker")
    feed_motion(state, seconds, t0)
    assert state.fall_ts is None
    assert rider_features(state, None, t0 + len(seconds), CFG)["fall_suspected"] == 0.0


def test_the_same_impact_followed_by_stillness_is_a_suspected_fall() -> None:
    """The control: the detector is not blind to these impacts."""
    seconds, t0 = seconds_of_motion(), datetime(2026, 7, 15, 2, tzinfo=timezone.utc).timestamp()
    strongest = max(range(len(seconds)), key=lambda i: seconds[i]["accel_peak_g"])
    still = {"accel_peak_g": 1.0, "accel_mean_g": 1.0, "accel_var": 0.0}
    state = RiderState("faller")
    feed_motion(state, seconds[: strongest + 1] + [still] * (CFG.fall_stillness_seconds + 1), t0)
    assert state.fall_ts is not None
