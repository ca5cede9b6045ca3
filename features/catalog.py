"""The one list of model features: name, unit, window, source and meaning.

Feature names are stable: models, reason codes and the docs table are keyed by them.
The model input vector follows the order of :data:`FEATURE_NAMES`. Protected
attributes (sex, age band) are not features and must never become one.

>>> FEATURE_NAMES[:3]
('heat_index_c', 'heat_category', 'wbgt_c_est')
>>> len(FEATURE_NAMES) == len(set(FEATURE_NAMES))
True
"""

from __future__ import annotations

from typing import NamedTuple


class Feature(NamedTuple):
    name: str
    unit: str
    window: str
    source: str
    meaning: str


FEATURES: tuple[Feature, ...] = (
    # --- heat (zone weather; NWS heat index, WBGT estimate, China high-temperature rules)
    Feature("heat_index_c", "°C", "latest", "weather", "NWS heat index (Rothfusz, with adjustments), converted to °C"),
    Feature("heat_category", "0-4", "latest", "weather", "NWS heat category: 0 none, 1 caution, 2 extreme caution, 3 danger, 4 extreme danger"),
    Feature("wbgt_c_est", "°C", "latest", "weather", "Outdoor WBGT estimate from temperature, humidity and sun (BoM approximation, about ±2-3 °C; wind not used)"),
    Feature("heat_exposure_min_today", "min", "day", "weather+trip", "Minutes online today with heat index ≥ 32.2 °C (90 °F)"),
    Feature("cn_heat_35", "flag", "day", "weather", "Daily max ≥ 35 °C: China rule, shorten continuous outdoor work"),
    Feature("cn_heat_40", "flag", "day", "weather", "Daily max ≥ 40 °C: China rule, stop outdoor work"),
    # --- weather and road
    Feature("precip_mm_h", "mm/h", "latest", "weather", "Precipitation intensity"),
    Feature("rain_onset", "flag", "latest", "weather", "Rain began within 60 min after ≥ 24 h dry (first rain is most slippery)"),
    Feature("wind_gust_ms", "m/s", "latest", "weather", "Wind gust"),
    Feature("visibility_m", "m", "latest", "weather", "Visibility"),
    Feature("freezing", "flag", "latest", "weather", "Air temperature ≤ 0 °C with precipitation or ≤ -2 °C (ice risk)"),
    Feature("darkness", "flag", "latest", "weather", "No daylight"),
    Feature("road_flooding", "flag", "latest", "weather", "Waterlogged roads reported in the rider's zone"),
    # --- physiology (wearable); core temperature is not measured
    Feature("hr_mean_1m", "bpm", "1 min", "wearable", "Mean heart rate"),
    Feature("hr_mean_5m", "bpm", "5 min", "wearable", "Mean heart rate"),
    Feature("hr_max_5m", "bpm", "5 min", "wearable", "Max heart rate"),
    Feature("hr_mean_15m", "bpm", "15 min", "wearable", "Mean heart rate"),
    Feature("hrr_pct", "%", "1 min", "wearable", "Heart-rate reserve used: (HR - HR_rest)/(HR_max - HR_rest)"),
    Feature("time_above_85pct_hrmax_15m", "min", "15 min", "wearable", "Minutes with HR above 85 % of HR_max"),
    Feature("hr_recovery_bpm", "bpm", "last stop", "wearable+trip", "Heart-rate drop in the first minute after the last stop"),
    Feature("skin_temp_c", "°C", "1 min", "wearable", "Mean skin temperature"),
    Feature("skin_temp_trend_c_10m", "°C", "10 min", "wearable", "Skin temperature change over 10 min"),
    Feature("strain_index_est", "0-10", "latest", "wearable", "PSI-style strain with core temperature estimated from HR and skin temperature"),
    Feature("wearable_quality", "0-1", "5 min", "wearable", "Share of expected wearable seconds with a valid on-body reading"),
    # --- fatigue and working time
    Feature("continuous_riding_min", "min", "since break", "trip", "Minutes online since the last break of ≥ 15 min"),
    Feature("online_hours_today", "h", "day", "trip", "Hours online today (UTC+8 day)"),
    Feature("online_hours_24h", "h", "24 h", "trip", "Hours online in the last 24 h"),
    Feature("online_hours_7d", "h", "7 d", "trip", "Hours online in the last 7 days"),
    Feature("night_riding_min_today", "min", "day", "trip", "Minutes riding 00:00-05:00 local time"),
    Feature("breaks_today", "count", "day", "trip", "Breaks of ≥ 15 min taken today"),
    # --- riding behaviour (telematics)
    Feature("harsh_brakes_10m", "count", "10 min", "trip", "Braking at or beyond the harsh-brake threshold"),
    Feature("harsh_brakes_60m", "count", "60 min", "trip", "Braking at or beyond the harsh-brake threshold"),
    Feature("harsh_accels_10m", "count", "10 min", "trip", "Acceleration at or beyond the harsh-acceleration threshold"),
    Feature("harsh_corners_10m", "count", "10 min", "trip", "Lateral acceleration at or beyond the cornering threshold"),
    Feature("speeding_s_10m", "s", "10 min", "trip", "Seconds over the road limit plus tolerance"),
    Feature("over_ebike_limit_s_10m", "s", "10 min", "trip", "Seconds above the 25 km/h e-bike limit (GB 17761-2018)"),
    Feature("phone_handling_s_10m", "s", "10 min", "trip", "Seconds handling the phone at ≥ 18 km/h"),
    Feature("speed_mean_5m", "km/h", "5 min", "trip", "Mean speed while riding"),
    Feature("speed_std_5m", "km/h", "5 min", "trip", "Speed variability while riding"),
    # --- fall / crash detection
    Feature("impact_peak_g_1m", "g", "1 min", "wearable", "Largest acceleration peak"),
    Feature("fall_suspected", "flag", "5 min", "wearable", "Impact peak followed by stillness, not yet answered"),
    # --- freshness ("never silently safe")
    Feature("wearable_age_s", "s", "latest", "wearable", "Age of the last wearable record at scoring time"),
    Feature("trip_age_s", "s", "latest", "trip", "Age of the last trip record at scoring time"),
    Feature("weather_age_s", "s", "latest", "weather", "Age of the zone's last weather record at scoring time"),
)

FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
FEATURE_BY_NAME: dict[str, Feature] = {f.name: f for f in FEATURES}

#: Never model or pricing inputs (docs/domain.md, regulation); checked by tests.
PROTECTED_ATTRIBUTES = frozenset({"sex", "gender", "age", "age_band", "ethnicity"})
