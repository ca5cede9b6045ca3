"""Zone weather: newest observation wins, rain onset, China heat flags, NaN when missing, JSON round trip."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone

import pytest

from features import FeatureConfig, ZoneWeather, update_zone_weather, weather_features
from features.weather import WEATHER_FEATURE_NAMES
from riskstream.contracts.records import WeatherObservation

CFG = FeatureConfig()
T0 = 1_782_864_000.0  # 08:00 UTC+8


def obs(t: float, temp: float = 30.0, rain: float = 0.0, eid: str | None = None, **kw: object) -> WeatherObservation:
    return WeatherObservation(event_id=eid or f"x{t}", ts=datetime.fromtimestamp(T0 + t, tz=timezone.utc), zone_id="z1",
                              air_temp_c=temp, relative_humidity_pct=50.0, precipitation_mm_h=rain, **kw)


def run(*observations: WeatherObservation) -> ZoneWeather:
    zone = None
    for o in observations:
        zone = update_zone_weather(zone, o, CFG)
    assert zone is not None
    return zone


def test_no_weather_is_all_nan() -> None:
    f = weather_features(None, T0, CFG)
    assert tuple(f) == WEATHER_FEATURE_NAMES and all(math.isnan(v) for v in f.values())


def test_update_returns_a_new_state_and_leaves_the_old_one() -> None:
    before = run(obs(0, temp=30.0))
    after = update_zone_weather(before, obs(300, temp=34.0), CFG)
    assert (before.air_temp_c, after.air_temp_c) == (30.0, 34.0)


def test_older_observation_does_not_overwrite_newer() -> None:
    zone = run(obs(600, temp=31.0), obs(300, temp=20.0))
    assert zone.air_temp_c == 31.0 and zone.ts == T0 + 600
    assert weather_features(zone, T0 + 660, CFG)["weather_age_s"] == 60.0


def test_rain_onset_after_a_long_dry_spell_lasts_an_hour() -> None:
    dry = [obs(h * 3600.0) for h in range(26)]
    zone = run(*dry, obs(26 * 3600.0, rain=2.0))
    start = T0 + 26 * 3600
    assert weather_features(zone, start + 59 * 60, CFG)["rain_onset"] == 1.0
    assert weather_features(zone, start + 60 * 60, CFG)["rain_onset"] == 0.0
    assert math.isnan(weather_features(run(*dry[:5], obs(5 * 3600.0, rain=2.0)), T0 + 5 * 3600, CFG)["rain_onset"])


def test_rain_onset_is_unknown_when_history_is_too_short() -> None:
    zone = run(obs(0), obs(3600, rain=1.0))
    assert math.isnan(weather_features(zone, T0 + 3600, CFG)["rain_onset"])
    zone = run(obs(0), obs(1800, rain=1.0), obs(3600), obs(7200, rain=1.0))  # the last dry spell is fully seen: 1 h
    assert weather_features(zone, T0 + 7200, CFG)["rain_onset"] == 0.0


def test_china_heat_flags_from_forecast_or_observed_maximum() -> None:
    f = weather_features(run(obs(0, temp=33.0, daily_max_temp_c=40.5)), T0, CFG)
    assert (f["cn_heat_35"], f["cn_heat_40"]) == (1.0, 1.0)
    f = weather_features(run(obs(0, temp=36.0), obs(600, temp=33.0)), T0 + 600, CFG)
    assert (f["cn_heat_35"], f["cn_heat_40"]) == (1.0, 0.0)
    tomorrow = weather_features(run(obs(0, temp=36.0)), T0 + 86400, CFG)
    assert math.isnan(tomorrow["cn_heat_35"])


@pytest.mark.parametrize(("temp", "rain", "expected"), [(0.0, 1.0, 1.0), (0.0, 0.0, 0.0), (-2.0, 0.0, 1.0), (3.0, 5.0, 0.0)])
def test_freezing(temp: float, rain: float, expected: float) -> None:
    assert weather_features(run(obs(0, temp=temp, rain=rain)), T0, CFG)["freezing"] == expected


def test_darkness_flooding_and_json_round_trip() -> None:
    zone = run(obs(0, daylight=False, road_flooding=True, wind_gust_ms=17.0), obs(60, daylight=False, road_flooding=True))
    again = ZoneWeather.from_dict(json.loads(json.dumps(zone.to_dict())))
    assert again == zone
    f = weather_features(again, T0 + 60, CFG)
    assert (f["darkness"], f["road_flooding"]) == (1.0, 1.0)
