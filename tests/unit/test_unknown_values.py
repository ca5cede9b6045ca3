"""Unknown is a value (issue 14, finding 5): null and absent mean unknown, end to end, never a safe-looking default.

The rule for a bad field: an out-of-range or non-finite *optional* measurement becomes unknown (counted by
``riskstream_unknown_fields_total``) and the rest of the record is used; a bad required field dead-letters it.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Any

import jsonschema
import pytest

from features import FeatureConfig, update_zone_weather, weather_features
from features.heat import heat_index_c, wbgt_outdoor_estimate_c
from features.rider_state import RiderState, update_trip, update_wearable
from riskstream.contracts.errors import InputError
from riskstream.contracts.export import topic_schemas
from riskstream.contracts.records import OPTIONAL_MEASUREMENTS, TripPoint, WearableReading, WeatherObservation
from streams.parsing import UnknownField, parse_input

CFG = FeatureConfig()
TS = "2026-07-15T04:00:00Z"
EPOCH = datetime(2026, 7, 15, 4, tzinfo=timezone.utc).timestamp()
WEATHER = {"event_id": "x1", "ts": TS, "zone_id": "z1", "air_temp_c": 33.0, "relative_humidity_pct": 60.0}
WEARABLE = {"event_id": "w1", "ts": TS, "rider_id": "r1", "heart_rate_bpm": 130, "accel_peak_g": 1.2,
            "accel_mean_g": 1.0, "accel_var": 0.02}
TRIP = {"event_id": "t1", "ts": TS, "rider_id": "r1", "zone_id": "z1", "status": "riding", "lat": 31.2, "lon": 121.5,
        "speed_kmh": 18.0}


def parse(model: type[Any], record: dict[str, Any]) -> tuple[Any, tuple[UnknownField, ...]]:
    return parse_input(model, json.dumps(record).encode(), max_bytes=4096)


OPTIONAL_WEATHER = ("relative_humidity_pct", "dew_point_c", "wind_speed_ms", "wind_gust_ms", "precipitation_mm_h",
                    "visibility_m", "solar_w_m2", "road_flooding", "daylight", "daily_max_temp_c")


@pytest.mark.parametrize("name", OPTIONAL_WEATHER)
def test_null_and_absent_mean_the_same_unknown(name: str) -> None:
    with_null, _ = parse(WeatherObservation, {**WEATHER, name: None})
    absent, _ = parse(WeatherObservation, {k: v for k, v in WEATHER.items() if k != name})
    assert getattr(with_null, name) is None and getattr(absent, name) is None
    assert with_null == absent


@pytest.mark.parametrize(("model", "base", "role"), [(WeatherObservation, WEATHER, "telemetry.weather"),
                                                     (WearableReading, WEARABLE, "telemetry.wearable"),
                                                     (TripPoint, TRIP, "telemetry.trip")])
def test_the_exported_schema_accepts_null_for_every_optional_measurement(model: type[Any], base: dict[str, Any],
                                                                         role: str) -> None:
    validator = jsonschema.Draft202012Validator(topic_schemas()[role])
    for name in OPTIONAL_MEASUREMENTS[model]:
        record = {**base, name: None}
        assert validator.is_valid(record), name
        assert parse(model, record)[0] is not None
    assert not validator.is_valid({**base, "event_id": None})  # identity stays required


def test_a_weather_row_without_gust_precipitation_visibility_or_sun_is_unknown_there_not_safe() -> None:
    obs, _ = parse(WeatherObservation, WEATHER)  # only temperature and humidity: 84 % of real July rows lack a gust
    f = weather_features(update_zone_weather(None, obs, CFG), EPOCH + 60, CFG)
    for name in ("wind_gust_ms", "precip_mm_h", "visibility_m", "darkness", "road_flooding"):
        assert math.isnan(f[name]), name
    assert f["heat_index_c"] == pytest.approx(heat_index_c(33.0, 60.0))
    # unknown sun is full sun, not night: the WBGT estimate is the sunny one (about 5 °C above the shade one here)
    sunny, shade = wbgt_outdoor_estimate_c(33.0, 60.0, None, 600.0), wbgt_outdoor_estimate_c(33.0, 60.0, None, 0.0)
    assert f["wbgt_c_est"] == pytest.approx(sunny) and sunny - shade > 4.0


def test_unknown_sun_is_no_sun_only_when_daylight_is_known_false() -> None:
    night, _ = parse(WeatherObservation, {**WEATHER, "daylight": False})
    f = weather_features(update_zone_weather(None, night, CFG), EPOCH, CFG)
    assert f["wbgt_c_est"] == pytest.approx(wbgt_outdoor_estimate_c(33.0, 60.0, None, 0.0))
    assert f["darkness"] == 1.0


def test_unknown_humidity_leaves_heat_index_unknown_not_zero() -> None:
    obs, _ = parse(WeatherObservation, {**WEATHER, "relative_humidity_pct": None, "daily_max_temp_c": 36.0})
    f = weather_features(update_zone_weather(None, obs, CFG), EPOCH, CFG)
    assert math.isnan(f["heat_index_c"]) and math.isnan(f["heat_category"]) and math.isnan(f["wbgt_c_est"])
    assert f["cn_heat_35"] == 1.0  # the temperature rules still hold


def test_humidity_is_derived_from_the_dew_point_when_only_that_is_sent() -> None:
    obs, unknown = parse(WeatherObservation, {**WEATHER, "relative_humidity_pct": None, "dew_point_c": 24.0})
    zone = update_zone_weather(None, obs, CFG)
    assert unknown == () and zone.relative_humidity_pct == pytest.approx(59.3, abs=0.1)


def test_an_unknown_rain_reading_is_unknown_and_freezing_is_unknown_when_only_wet_would_freeze() -> None:
    obs, _ = parse(WeatherObservation, {**WEATHER, "air_temp_c": -0.5, "precipitation_mm_h": None})
    f = weather_features(update_zone_weather(None, obs, CFG), EPOCH, CFG)
    assert math.isnan(f["precip_mm_h"]) and math.isnan(f["freezing"])
    cold, _ = parse(WeatherObservation, {**WEATHER, "air_temp_c": -3.0, "precipitation_mm_h": None})
    assert weather_features(update_zone_weather(None, cold, CFG), EPOCH, CFG)["freezing"] == 1.0


def test_an_accelerometer_value_out_of_range_does_not_discard_the_heart_rate() -> None:
    rec, unknown = parse(WearableReading, {**WEARABLE, "accel_peak_g": 40.0, "accel_var": float("nan")})
    assert rec.heart_rate_bpm == 130.0 and rec.accel_peak_g is None and rec.accel_var is None
    assert sorted(unknown) == [UnknownField("accel_peak_g", "out_of_range"), UnknownField("accel_var", "out_of_range")]
    state = RiderState("r1")
    assert update_wearable(state, rec, CFG).value == "applied"


def test_unknown_acceleration_is_neither_an_impact_nor_stillness() -> None:
    state = RiderState("r1")
    t0 = datetime(2026, 7, 15, 4, tzinfo=timezone.utc).timestamp()
    for i in range(40):  # 40 s of a device that reports heart rate only
        rec = WearableReading(event_id=f"w{i}", ts=datetime.fromtimestamp(t0 + i, timezone.utc), rider_id="r1",
                              heart_rate_bpm=110.0)
        update_wearable(state, rec, CFG)
    assert state.fall_ts is None and state.impact_bits == 0 and state.still_bits == 0


@pytest.mark.parametrize(("record", "field"), [({**WEARABLE, "rider_id": ""}, "rider_id"),
                                               ({**WEARABLE, "ts": "yesterday"}, "ts"),
                                               ({**WEARABLE, "heart_rate_bpm": "fast"}, "heart_rate_bpm")])
def test_a_bad_required_field_or_a_wrong_type_dead_letters_the_record(record: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as info:
        parse(WearableReading, record)
    assert info.value.error_class == "validation_error" and field in info.value.reason


def test_a_required_field_out_of_range_dead_letters_even_with_a_bad_optional_one() -> None:
    with pytest.raises(InputError) as info:
        parse(WeatherObservation, {**WEATHER, "air_temp_c": 303.15, "wind_gust_ms": -1})
    assert "air_temp_c" in info.value.reason


def test_lateral_g_can_be_unknown_and_counts_no_harsh_event() -> None:
    rec, unknown = parse(TripPoint, {**TRIP, "accel_lat_g": None, "accel_long_g": 9.0})
    assert rec.accel_lat_g is None and rec.accel_long_g is None and unknown == (UnknownField("accel_long_g", "out_of_range"),)
    state = RiderState("r1")
    assert update_trip(state, rec, CFG).value == "applied"


def test_a_humidity_the_dew_point_contradicts_is_unknown() -> None:
    """The issue's 49 °C danger alert: a real row whose humidity disagreed with its dew point."""
    row = {**WEATHER, "air_temp_c": 35.0, "relative_humidity_pct": 95.0, "dew_point_c": 20.0}  # Magnus: 43 %
    obs, unknown = parse(WeatherObservation, row)
    assert obs.relative_humidity_pct is None and obs.dew_point_c is None and obs.air_temp_c == 35.0
    assert {u.field for u in unknown} == {"relative_humidity_pct", "dew_point_c"}
    assert all(u.why == "inconsistent" for u in unknown)
    f = weather_features(update_zone_weather(None, obs, CFG), EPOCH, CFG)
    assert math.isnan(f["heat_index_c"])  # not 68 °C from RH 95 %
    above, _ = parse(WeatherObservation, {**WEATHER, "dew_point_c": 36.0})  # dew point above the air temperature
    assert above.relative_humidity_pct is None
    fine, unknown = parse(WeatherObservation, {**row, "relative_humidity_pct": 43.0})
    assert fine.relative_humidity_pct == 43.0 and unknown == ()


def _unknown_count(topic: str, field: str, why: str) -> float:
    from streams import metrics

    return metrics.REGISTRY.get_sample_value("riskstream_unknown_fields_total",
                                             {"topic": topic, "field": field, "why": why}) or 0.0


def test_the_worker_keeps_the_record_counts_the_field_and_dead_letters_nothing(tmp_path: Any) -> None:
    from streams.processor import Processor, RawRecord
    from tests.unit.test_streams_processor import Harness, settings

    s = settings(tmp_path)
    h = Harness(Processor(s))
    topic, wx = s.topics.wearable, s.topics.weather
    before = _unknown_count(topic, "accel_peak_g", "out_of_range")
    hum_before = _unknown_count(wx, "relative_humidity_pct", "inconsistent")
    glitch = json.dumps({**WEARABLE, "accel_peak_g": 40.0}).encode()
    h.rider_batch([RawRecord(topic, 0, 0, b"r1", glitch, 1.0)])
    assert h.of("dlq") == []
    assert _unknown_count(topic, "accel_peak_g", "out_of_range") == before + 1
    slot = h.proc.slot("r1")
    assert slot.features.wearable_ts == EPOCH  # the heart rate's record was applied
    bad_humidity = json.dumps({**WEATHER, "relative_humidity_pct": 95.0, "dew_point_c": 20.0}).encode()
    h.weather([RawRecord(wx, 0, 0, b"z1", bad_humidity, 1.0)], dead_letters=False)  # every worker's feed
    assert _unknown_count(wx, "relative_humidity_pct", "inconsistent") == hum_before  # counted by the agent only
    assert h.proc.zones.get("z1").relative_humidity_pct is None
