"""Thresholds of the feature code, with their sources (see DOMAIN.md).

Where sources disagree the value is configurable; the defaults are documented choices.
``streams.settings`` embeds this model, so each value can be set from the environment,
e.g. ``RISKSTREAM_FEATURES__HARSH_BRAKE_G=0.4``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class FeatureConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

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
    # Event time
    allowed_lateness_s: float = Field(120.0, description="Events older than this behind the rider's clock are dropped and counted.")
    local_utc_offset_h: float = Field(8.0, description="Local time offset for 'today' and night riding (China: UTC+8).")
