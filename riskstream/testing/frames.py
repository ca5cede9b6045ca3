"""Synthetic feature frames with a known hazard, for tests, doctests and benchmarks.

Not a simulator (that is ``riskstream.simulation``): every row is drawn independently from
plausible ranges, and the labels come from a logistic hazard of a few features, so a
model trained on it has a known ceiling (the AUC of the true probability).

>>> df = synthetic_frame(200, seed=1)
>>> {"rider_id", "ts", "y_injury", "p_accident_true"} <= set(df.columns), len(df)
(True, 200)
>>> bool(df["heat_index_c"].isna().any())   # some values are missing on purpose
True
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.catalog import FEATURE_NAMES

_RANGES: dict[str, tuple[float, float]] = {
    "heat_index_c": (15, 50), "heat_category": (0, 4), "wbgt_c_est": (15, 35), "heat_exposure_min_today": (0, 300),
    "precip_mm_h": (0, 20), "wind_gust_ms": (0, 25), "visibility_m": (100, 10000),
    "hr_mean_1m": (60, 185), "hr_mean_5m": (60, 180), "hr_max_5m": (70, 195), "hr_mean_15m": (60, 175),
    "hrr_pct": (0, 100), "time_above_85pct_hrmax_15m": (0, 15), "hr_recovery_bpm": (0, 50),
    "skin_temp_c": (30, 38), "skin_temp_trend_c_10m": (-1, 2), "strain_index_est": (0, 10), "wearable_quality": (0, 1),
    "continuous_riding_min": (0, 400), "online_hours_today": (0, 14), "online_hours_24h": (0, 16),
    "online_hours_7d": (0, 80), "night_riding_min_today": (0, 120), "breaks_today": (0, 6),
    "harsh_brakes_10m": (0, 8), "harsh_brakes_60m": (0, 30), "harsh_accels_10m": (0, 8), "harsh_corners_10m": (0, 8),
    "speeding_s_10m": (0, 200), "over_ebike_limit_s_10m": (0, 300), "phone_handling_s_10m": (0, 60),
    "speed_mean_5m": (0, 35), "speed_std_5m": (0, 10), "impact_peak_g_1m": (1, 6),
    "wearable_age_s": (0, 600), "trip_age_s": (0, 600), "weather_age_s": (0, 3600),
}
_FLAGS = ("cn_heat_35", "cn_heat_40", "rain_onset", "freezing", "darkness", "road_flooding", "fall_suspected")


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def synthetic_frame(n: int, seed: int = 0, riders: int = 50, missing_rate: float = 0.05) -> pd.DataFrame:
    """``n`` rows: ``rider_id``, ``ts``, ``zone_id``, the features, labels and true probabilities."""
    rng = np.random.default_rng(seed)
    data: dict[str, np.ndarray] = {}
    for name in FEATURE_NAMES:
        if name in _FLAGS:
            data[name] = (rng.random(n) < 0.1).astype(float)
        else:
            lo, hi = _RANGES[name]
            data[name] = rng.uniform(lo, hi, n)
    z_inj = -6.0 + 0.12 * (data["heat_index_c"] - 32) + 0.35 * data["strain_index_est"] + 2.0 * data["fall_suspected"]
    z_acc = -6.0 + 1.2 * data["road_flooding"] + 0.08 * data["precip_mm_h"] + 0.25 * data["harsh_brakes_10m"] + 0.02 * data["phone_handling_s_10m"]
    p_inj, p_acc = _sigmoid(z_inj), _sigmoid(z_acc)
    for name in FEATURE_NAMES:
        data[name][rng.random(n) < missing_rate] = np.nan
    frame = pd.DataFrame(data, columns=list(FEATURE_NAMES))
    frame.insert(0, "rider_id", [f"r{i % riders:04d}" for i in range(n)])
    frame.insert(1, "ts", 1_780_000_000.0 + np.arange(n, dtype=float) * 60.0)
    frame.insert(2, "zone_id", [f"z{i % 7}" for i in range(n)])
    frame["p_injury_true"] = p_inj
    frame["p_accident_true"] = p_acc
    frame["y_injury"] = (rng.random(n) < p_inj).astype(int)
    frame["y_accident"] = (rng.random(n) < p_acc).astype(int)
    return frame
