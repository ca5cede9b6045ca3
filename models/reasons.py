"""Reason codes: which feature pushed a risk up, in plain words (zh-CN and en).

Every feature in :data:`features.catalog.FEATURE_NAMES` has a stable code; its text
template (with the feature's value in it) is in the one reason catalog,
``riskstream/contracts/reasons.json``, which the alert and premium reasons share, so a
code has one text wherever it is shown. A missing value gets its own text, because a
silent sensor is itself a reason ("never silently safe").

>>> r = reason_for("heat_index_c", 41.04)
>>> r.code, r.value, r.text["en"]
('HEAT_INDEX', 41.04, 'Heat index 41.0 °C')
>>> reason_for("harsh_brakes_10m", 3).text["zh-CN"]
'10 分钟内急刹车 3 次'
>>> reason_for("wearable_age_s", None).code
'WEARABLE_STALE'
"""

from __future__ import annotations

import math
from typing import NamedTuple

from features.catalog import FEATURE_BY_NAME, FEATURE_NAMES
from riskstream.contracts.reasons import reason_catalog, reason_text
from riskstream.contracts.records import Reason


class ReasonText(NamedTuple):
    code: str
    en: str  #: template from the reason catalog; ``{value}`` is the feature's value
    zh: str


#: Code for a feature whose value is missing (the input is absent or stale); ``{name}`` is the feature.
MISSING_CODE = "DATA_MISSING"
MISSING_CODE_BY_SOURCE = {"wearable": "WEARABLE_STALE", "trip": "TRIP_STALE", "weather": "WEATHER_STALE"}

#: Feature -> reason code; the texts are in ``riskstream/contracts/reasons.json``.
REASON_CODES: dict[str, str] = {
    "heat_index_c": "HEAT_INDEX",
    "heat_category": "HEAT_CATEGORY",
    "wbgt_c_est": "WBGT",
    "heat_exposure_min_today": "HEAT_EXPOSURE",
    "cn_heat_35": "CN_HEAT_35",
    "cn_heat_40": "CN_HEAT_40",
    "precip_mm_h": "RAIN",
    "rain_onset": "RAIN_ONSET",
    "wind_gust_ms": "WIND_GUST",
    "visibility_m": "LOW_VISIBILITY",
    "freezing": "ICE",
    "darkness": "DARKNESS",
    "road_flooding": "ROAD_FLOODING",
    "hr_mean_1m": "HEART_RATE",
    "hr_mean_5m": "HEART_RATE_5M",
    "hr_max_5m": "HEART_RATE_PEAK",
    "hr_mean_15m": "HEART_RATE_15M",
    "hrr_pct": "HEART_RATE_RESERVE",
    "time_above_85pct_hrmax_15m": "HIGH_HEART_RATE_TIME",
    "hr_recovery_bpm": "SLOW_HR_RECOVERY",
    "skin_temp_c": "SKIN_TEMP",
    "skin_temp_trend_c_10m": "SKIN_TEMP_RISING",
    "strain_index_est": "PHYSIOLOGICAL_STRAIN",
    "wearable_quality": "WEARABLE_QUALITY",
    "continuous_riding_min": "CONTINUOUS_RIDING",
    "online_hours_today": "LONG_HOURS",
    "online_hours_24h": "LONG_HOURS_24H",
    "online_hours_7d": "LONG_HOURS_7D",
    "night_riding_min_today": "NIGHT_RIDING",
    "breaks_today": "FEW_BREAKS",
    "harsh_brakes_10m": "HARSH_BRAKING",
    "harsh_brakes_60m": "HARSH_BRAKING_60M",
    "harsh_accels_10m": "HARSH_ACCELERATION",
    "harsh_corners_10m": "HARSH_CORNERING",
    "speeding_s_10m": "SPEEDING",
    "over_ebike_limit_s_10m": "OVER_EBIKE_LIMIT",
    "phone_handling_s_10m": "PHONE_WHILE_RIDING",
    "speed_mean_5m": "SPEED",
    "speed_std_5m": "SPEED_VARIABILITY",
    "impact_peak_g_1m": "IMPACT",
    "fall_suspected": "FALL_SUSPECTED",
    "wearable_age_s": "WEARABLE_AGE",
    "trip_age_s": "TRIP_AGE",
    "weather_age_s": "WEATHER_AGE",
}


def _texts(code: str) -> ReasonText:
    texts = reason_catalog()[code]
    return ReasonText(code, texts["en"], texts["zh-CN"])


#: Feature -> code and its catalog texts (a view of :data:`REASON_CODES` and the catalog).
REASONS: dict[str, ReasonText] = {feature: _texts(code) for feature, code in REASON_CODES.items()}


def _source(feature: str) -> str:
    return FEATURE_BY_NAME[feature].source.split("+")[0] if feature in FEATURE_BY_NAME else ""


def reason_for(feature: str, value: float | None) -> Reason:
    """The :class:`~riskstream.contracts.records.Reason` for ``feature`` at ``value`` (``None``/NaN = missing)."""
    missing = value is None or not math.isfinite(float(value))
    if missing:
        code = MISSING_CODE_BY_SOURCE.get(_source(feature), MISSING_CODE)
        return Reason(code=code, value=None, text=reason_text(code, None, name=feature))
    v = float(value)  # type: ignore[arg-type]
    known = REASON_CODES.get(feature)
    if known is None:  # not in the table (a test keeps this empty): the feature's name and value
        shown = format(v, ".1f")
        return Reason(code=feature.upper(), value=round(v, 2), text={"zh-CN": f"{feature} {shown}", "en": f"{feature} {shown}"})
    return Reason(code=known, value=round(v, 2), text=reason_text(known, v))


def missing_reasons() -> set[str]:
    """Features the catalog lists but this table has no text for (should be empty; checked by tests)."""
    return set(FEATURE_NAMES) - set(REASON_CODES)
