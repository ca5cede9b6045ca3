"""Thresholds of the feature code, with their sources (see docs/domain.md).

Where sources disagree the value is configurable; the defaults are documented choices.
``streams.settings`` embeds this model, so each value can be set from the environment,
e.g. ``RISKSTREAM_FEATURES__HARSH_BRAKE_G=0.4``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class FeatureConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # Telematics: industry thresholds range 0.25-0.45 g; no single standard.
    harsh_brake_g: float = Field(0.35, description="Braking at or beyond this deceleration (g) is harsh.")
    harsh_accel_g: float = Field(0.35, description="Acceleration at or beyond this (g) is harsh.")
    harsh_corner_g: float = Field(0.40, description="Lateral acceleration at or beyond this (g) is harsh cornering.")
    # Common speeding rule: +5 mph (8 km/h) over limits ≤ 30 mph, +10 mph (16 km/h) above.
    speeding_tolerance_low_kmh: float = 8.0
    speeding_tolerance_high_kmh: float = 16.0
    ebike_limit_kmh: float = Field(25.0, description="GB 17761-2018 e-bike speed limit.")
    phone_handling_min_speed_kmh: float = Field(18.0, description="Phone handling counts at ≥ 11 mph.")
    # Fatigue: a break is ≥ 15 min off the road (EU 561/2006 split break).
    break_min_minutes: float = 15.0
    # Physiology: HR_max is a per-rider profile value when known (never age, a protected attribute).
    default_hr_max_bpm: float = 190.0
    default_hr_rest_bpm: float = 65.0
    # Fall: impact peak then stillness (Huynh 2015: 2.5-3 g and above).
    fall_impact_g: float = 3.0
    fall_stillness_var_g2: float = 0.005
    fall_stillness_seconds: int = 5
    fall_stillness_mean_tol_g: float = Field(0.15, description="Still means |mean accel - 1 g| at most this.")
    fall_flag_seconds: float = Field(300.0, description="fall_suspected stays 1 this long after detection.")
    # Physiology thresholds (docs/domain.md stop-work guidance; NWS/China heat rules)
    hr_high_fraction: float = Field(0.85, description="HR above this share of HR_max counts as high effort.")
    hr_rest_floor_bpm: float = Field(35.0, description="The learned resting HR never goes below this.")
    hr_rest_alpha_down: float = Field(0.2, description="Per-minute EW weight when a minute mean is below HR_rest (fast).")
    hr_rest_alpha_up: float = Field(0.002, description="Per-minute EW weight when above HR_rest (slow): tracks a low percentile.")
    stop_min_seconds: float = Field(60.0, description="A stop lasting this long gives an HR-recovery reading.")
    heat_exposure_hi_c: float = Field(32.2, description="Heat index ≥ 90 °F (NWS extreme caution) counts as heat exposure.")
    cn_heat_shorten_c: float = Field(35.0, description="安监总安健〔2012〕89号: ≥ 35 °C shorten continuous outdoor work.")
    cn_heat_stop_c: float = Field(40.0, description="安监总安健〔2012〕89号: ≥ 40 °C stop outdoor work.")
    # Weather
    rain_mm_h: float = Field(0.1, description="Precipitation at or above this is rain; below is dry.")
    rain_onset_window_min: float = Field(60.0, description="Rain onset lasts this long after the rain begins.")
    rain_onset_dry_h: float = Field(24.0, description="Dry spell before rain that makes the first rain slippery (Brodsky & Hakkert 1988).")
    freezing_wet_c: float = Field(0.0, description="At or below this with precipitation: ice risk.")
    freezing_dry_c: float = Field(-2.0, description="At or below this even without precipitation: ice risk.")
    # Weather freshness at the rider's event time (docs/weather-feed.md, "As of the rider's event time")
    weather_heat_max_age_s: float = Field(
        10800.0, gt=0, description="Temperature and humidity (heat index, WBGT, China heat rules, ice) older than "
        "this at the rider's event time are stale: the last known values are used, marked WEATHER_STALE, and the "
        "risk is never lower than with those values as current.")
    weather_precip_max_age_s: float = Field(
        3600.0, gt=0, description="Precipitation, rain onset, wind gust, visibility and road flooding older than "
        "this at the rider's event time are unknown (NaN, never dry or clear) and marked WEATHER_STALE; rain starts "
        "and stops within the hour, so this limit is shorter than the heat one.")
    weather_history_max_observations: int = Field(
        512, ge=1, description="Most observations kept per zone for the as-of lookup (besides the hours of "
        "features.weather_history_s): 25.6 h at one observation per 3 min.")
    # Trip time accounting
    trip_gap_cap_s: int = Field(5, description="A trip record covers at most this many seconds, so a dropout is not riding.")
    night_start_hour: float = 0.0
    night_end_hour: float = Field(5.0, description="Night riding 00:00-05:00 local (FHWA crash causation study).")
    # Event time
    allowed_lateness_s: float = Field(120.0, description="Events older than this behind the rider's clock are dropped and counted.")
    local_utc_offset_h: float = Field(8.0, description="Local time offset for 'today' and night riding (China: UTC+8).")
