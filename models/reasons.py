"""Reason codes: which feature pushed a risk up, in plain words (zh-CN and en).

Every feature in :data:`features.catalog.FEATURE_NAMES` has a stable code and a text
template with the feature's value in it. A missing value gets its own text, because a
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
from riskstream.contracts.records import Reason


class ReasonText(NamedTuple):
    code: str
    en: str  #: ``{v}`` is replaced by the formatted value
    zh: str
    fmt: str = ".1f"


#: Text for a feature whose value is missing (the input is absent or stale).
_MISSING = ReasonText("DATA_MISSING", "No recent data for {name}", "缺少最新数据：{name}")
_MISSING_BY_SOURCE = {
    "wearable": ReasonText("WEARABLE_STALE", "No recent wearable data", "手环数据缺失或过期"),
    "trip": ReasonText("TRIP_STALE", "No recent trip data", "行程数据缺失或过期"),
    "weather": ReasonText("WEATHER_STALE", "No recent weather for the zone", "所在区域天气数据缺失或过期"),
}

REASONS: dict[str, ReasonText] = {
    "heat_index_c": ReasonText("HEAT_INDEX", "Heat index {v} °C", "体感温度（热指数）{v}°C"),
    "heat_category": ReasonText("HEAT_CATEGORY", "Heat danger level {v} of 4", "高温危险等级 {v}/4", "d"),
    "wbgt_c_est": ReasonText("WBGT", "Estimated WBGT {v} °C", "湿球黑球温度估计 {v}°C"),
    "heat_exposure_min_today": ReasonText("HEAT_EXPOSURE", "{v} min in high heat today", "今日高温暴露 {v} 分钟", ".0f"),
    "cn_heat_35": ReasonText("CN_HEAT_35", "Daily maximum ≥ 35 °C: shorten outdoor work", "日最高气温≥35°C：应缩短连续户外作业", "d"),
    "cn_heat_40": ReasonText("CN_HEAT_40", "Daily maximum ≥ 40 °C: stop outdoor work", "日最高气温≥40°C：应停止户外作业", "d"),
    "precip_mm_h": ReasonText("RAIN", "Rain {v} mm/h", "降雨 {v} 毫米/小时"),
    "rain_onset": ReasonText("RAIN_ONSET", "Rain just started after a dry spell: roads are slippery", "久晴后刚开始下雨，路面湿滑", "d"),
    "wind_gust_ms": ReasonText("WIND_GUST", "Wind gusts {v} m/s", "阵风 {v} 米/秒"),
    "visibility_m": ReasonText("LOW_VISIBILITY", "Visibility {v} m", "能见度 {v} 米", ".0f"),
    "freezing": ReasonText("ICE", "Freezing: ice on roads is possible", "低温结冰，路面可能有冰", "d"),
    "darkness": ReasonText("DARKNESS", "Riding in the dark", "夜间/光线不足骑行", "d"),
    "road_flooding": ReasonText("ROAD_FLOODING", "Roads flooded in your zone", "所在区域道路积水", "d"),
    "hr_mean_1m": ReasonText("HEART_RATE", "Heart rate {v} bpm", "心率 {v} 次/分", ".0f"),
    "hr_mean_5m": ReasonText("HEART_RATE_5M", "Heart rate {v} bpm over 5 min", "5 分钟平均心率 {v} 次/分", ".0f"),
    "hr_max_5m": ReasonText("HEART_RATE_PEAK", "Peak heart rate {v} bpm", "最高心率 {v} 次/分", ".0f"),
    "hr_mean_15m": ReasonText("HEART_RATE_15M", "Heart rate {v} bpm over 15 min", "15 分钟平均心率 {v} 次/分", ".0f"),
    "hrr_pct": ReasonText("HEART_RATE_RESERVE", "Using {v} % of heart-rate reserve", "心率储备使用 {v}%", ".0f"),
    "time_above_85pct_hrmax_15m": ReasonText("HIGH_HEART_RATE_TIME", "{v} min above 85 % of max heart rate", "{v} 分钟心率超过最大心率的 85%"),
    "hr_recovery_bpm": ReasonText("SLOW_HR_RECOVERY", "Heart rate fell only {v} bpm after stopping", "停车后心率仅下降 {v} 次/分", ".0f"),
    "skin_temp_c": ReasonText("SKIN_TEMP", "Skin temperature {v} °C", "皮肤温度 {v}°C"),
    "skin_temp_trend_c_10m": ReasonText("SKIN_TEMP_RISING", "Skin temperature changed {v} °C in 10 min", "10 分钟内皮肤温度变化 {v}°C"),
    "strain_index_est": ReasonText("PHYSIOLOGICAL_STRAIN", "Body strain {v} of 10 (estimate)", "身体负荷指数 {v}/10（估计）"),
    "wearable_quality": ReasonText("WEARABLE_QUALITY", "Wearable signal quality {v}", "手环信号质量 {v}", ".2f"),
    "continuous_riding_min": ReasonText("CONTINUOUS_RIDING", "{v} min without a 15-min break", "连续骑行 {v} 分钟未休息", ".0f"),
    "online_hours_today": ReasonText("LONG_HOURS", "{v} h online today", "今日在线 {v} 小时"),
    "online_hours_24h": ReasonText("LONG_HOURS_24H", "{v} h online in the last 24 h", "过去 24 小时在线 {v} 小时"),
    "online_hours_7d": ReasonText("LONG_HOURS_7D", "{v} h online in the last 7 days", "过去 7 天在线 {v} 小时", ".0f"),
    "night_riding_min_today": ReasonText("NIGHT_RIDING", "{v} min riding between 00:00 and 05:00", "凌晨 0-5 点骑行 {v} 分钟", ".0f"),
    "breaks_today": ReasonText("FEW_BREAKS", "{v} breaks today", "今日休息 {v} 次", ".0f"),
    "harsh_brakes_10m": ReasonText("HARSH_BRAKING", "{v} harsh brakes in 10 min", "10 分钟内急刹车 {v} 次", ".0f"),
    "harsh_brakes_60m": ReasonText("HARSH_BRAKING_60M", "{v} harsh brakes in 60 min", "60 分钟内急刹车 {v} 次", ".0f"),
    "harsh_accels_10m": ReasonText("HARSH_ACCELERATION", "{v} harsh accelerations in 10 min", "10 分钟内急加速 {v} 次", ".0f"),
    "harsh_corners_10m": ReasonText("HARSH_CORNERING", "{v} sharp turns in 10 min", "10 分钟内急转弯 {v} 次", ".0f"),
    "speeding_s_10m": ReasonText("SPEEDING", "{v} s over the speed limit in 10 min", "10 分钟内超速 {v} 秒", ".0f"),
    "over_ebike_limit_s_10m": ReasonText("OVER_EBIKE_LIMIT", "{v} s above 25 km/h in 10 min", "10 分钟内超过 25 公里/小时 {v} 秒", ".0f"),
    "phone_handling_s_10m": ReasonText("PHONE_WHILE_RIDING", "{v} s handling the phone while riding", "骑行中操作手机 {v} 秒", ".0f"),
    "speed_mean_5m": ReasonText("SPEED", "Average speed {v} km/h", "平均车速 {v} 公里/小时"),
    "speed_std_5m": ReasonText("SPEED_VARIABILITY", "Speed varies by {v} km/h", "车速波动 {v} 公里/小时"),
    "impact_peak_g_1m": ReasonText("IMPACT", "Impact of {v} g detected", "检测到 {v}g 的冲击"),
    "fall_suspected": ReasonText("FALL_SUSPECTED", "Possible fall detected", "疑似摔倒", "d"),
    "wearable_age_s": ReasonText("WEARABLE_AGE", "Last wearable data {v} s ago", "手环数据已 {v} 秒未更新", ".0f"),
    "trip_age_s": ReasonText("TRIP_AGE", "Last trip data {v} s ago", "行程数据已 {v} 秒未更新", ".0f"),
    "weather_age_s": ReasonText("WEATHER_AGE", "Last weather data {v} s ago", "天气数据已 {v} 秒未更新", ".0f"),
}


def _source(feature: str) -> str:
    return FEATURE_BY_NAME[feature].source.split("+")[0] if feature in FEATURE_BY_NAME else ""


def reason_for(feature: str, value: float | None) -> Reason:
    """The :class:`~riskstream.contracts.records.Reason` for ``feature`` at ``value`` (``None``/NaN = missing)."""
    missing = value is None or not math.isfinite(float(value))
    if missing:
        tpl = _MISSING_BY_SOURCE.get(_source(feature), _MISSING)
        return Reason(code=tpl.code, value=None, text={"zh-CN": tpl.zh.format(name=feature), "en": tpl.en.format(name=feature)})
    tpl = REASONS.get(feature) or ReasonText(feature.upper(), feature + " {v}", feature + " {v}")
    v = float(value)  # type: ignore[arg-type]
    shown = format(int(round(v)), "d") if tpl.fmt == "d" else format(v, tpl.fmt)
    return Reason(
        code=tpl.code,
        value=round(v, 2),
        text={"zh-CN": tpl.zh.format(v=shown), "en": tpl.en.format(v=shown)},
    )


def missing_reasons() -> set[str]:
    """Features the catalog lists but this table has no text for (should be empty; checked by tests)."""
    return set(FEATURE_NAMES) - set(REASONS)
