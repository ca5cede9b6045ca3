"""The zone store's bounded history, the as-of lookup, and weather freshness at the rider's event time."""

from __future__ import annotations

import math
from datetime import datetime, timezone

from features import FeatureConfig, ZoneStore
from features.weather import (
    FAST_WEATHER_FEATURES,
    HEAT_WEATHER_FEATURES,
    fresh_weather_features,
    last_known_weather_features,
    stale_weather_features,
    weather_features,
    weather_history_s,
)
from riskstream.contracts.records import WeatherObservation

T0 = 1_782_864_000.0  # 08:00 UTC+8


def obs(t: float, temp: float = 30.0, zone: str = "z1", rain: float = 0.0) -> WeatherObservation:
    return WeatherObservation(event_id=f"{zone}-{t}", ts=datetime.fromtimestamp(T0 + t, tz=timezone.utc),
                              zone_id=zone, air_temp_c=temp, relative_humidity_pct=50.0, precipitation_mm_h=rain)


def test_weather_as_of_an_event_time_is_the_newest_observation_at_or_before_it() -> None:
    store = ZoneStore()
    for t, temp in ((0, 25.0), (600, 30.0), (1200, 35.0)):
        store.apply(obs(t, temp))
    assert store.at("z1", T0 - 1) is None  # before the first observation: unknown
    assert [store.at("z1", T0 + t).air_temp_c for t in (0, 599, 600, 1199, 1200, 99999)] == [25, 25, 30, 30, 35, 35]
    assert store.get("z1").air_temp_c == 35.0 and store.at("z2", T0) is None and store.at(None, T0) is None


def test_an_observation_not_newer_than_the_zones_newest_is_ignored() -> None:
    store = ZoneStore()
    store.apply(obs(600, 30.0))
    before, after = store.apply(obs(0, 40.0))
    assert before is after and store.observations() == 1 and store.at("z1", T0 + 300) is None


def test_the_history_is_bounded_in_hours_and_in_observations() -> None:
    cfg = FeatureConfig()
    store = ZoneStore(cfg)
    every = 600.0
    n = int(2 * weather_history_s(cfg) / every)  # two histories' worth
    for i in range(n):
        store.apply(obs(i * every, 20.0 + (i % 10)))
    newest = (n - 1) * every
    kept = store.observations()
    assert kept == int(weather_history_s(cfg) / every) + 1  # 26 h at 10 min, both ends
    assert store.at("z1", T0 + newest - weather_history_s(cfg)) is not None
    assert store.at("z1", T0 + newest - weather_history_s(cfg) - every) is None  # older than the history keeps
    small = ZoneStore(FeatureConfig(weather_history_max_observations=5))
    for i in range(20):
        small.apply(obs(i * 60.0))
    assert small.observations() == 5 and small.at("z1", T0 + 14 * 60.0) is None and small.at("z1", T0 + 15 * 60.0)


def test_fast_weather_goes_unknown_after_its_limit_and_heat_keeps_its_last_value() -> None:
    cfg = FeatureConfig(weather_precip_max_age_s=3600.0, weather_heat_max_age_s=3 * 3600.0)
    store = ZoneStore(cfg)
    store.apply(obs(0, temp=36.0, rain=2.0))
    zone = store.at("z1", T0)
    assert zone is not None
    fresh = fresh_weather_features(zone, T0 + 3600.0, cfg)
    assert fresh == weather_features(zone, T0 + 3600.0, cfg) and stale_weather_features(zone, T0 + 3600.0, cfg) == ()
    later = fresh_weather_features(zone, T0 + 2 * 3600.0, cfg)
    assert all(math.isnan(later[name]) for name in FAST_WEATHER_FEATURES)
    assert later["heat_index_c"] == fresh["heat_index_c"] and later["weather_age_s"] == 7200.0
    assert set(stale_weather_features(zone, T0 + 4 * 3600.0, cfg)) == {*FAST_WEATHER_FEATURES, *HEAT_WEATHER_FEATURES}
    assert store.stale_zones(T0 + 3600.0) == 0 and store.stale_zones(T0 + 3601.0) == 1
    known = last_known_weather_features(zone, cfg)
    assert known["weather_age_s"] == 0.0 and known["precip_mm_h"] == 2.0 and known["heat_index_c"] > 38.0
