"""The feature vector: exactly the catalog, floats, sane ranges, strain, no protected attributes."""

from __future__ import annotations

import math

from features import FEATURE_NAMES, FeatureConfig, rider_features
from features.catalog import PROTECTED_ATTRIBUTES
from features.compute import psi
from features.replay import iter_feature_rows
from riskstream.testing.recording import merged_recording

CFG = FeatureConfig()
START = 1_782_864_000.0
ROWS = list(iter_feature_rows(merged_recording(riders=1, start=START, minutes=30), CFG, snapshot_every_s=120.0))


def test_keys_are_the_catalog_in_order_and_floats() -> None:
    assert ROWS
    for row in ROWS:
        feats = {k: row[k] for k in FEATURE_NAMES}
        assert list(feats) == list(FEATURE_NAMES)
        assert all(type(v) is float for v in feats.values())
    assert not PROTECTED_ATTRIBUTES & set(FEATURE_NAMES)


def test_values_in_range_once_warm() -> None:
    last = ROWS[-1]
    assert 0 <= last["strain_index_est"] <= 10
    assert 0 <= last["wearable_quality"] <= 1
    assert last["heat_category"] == 3.0 and last["cn_heat_35"] == 1.0
    assert last["hr_max_5m"] >= last["hr_mean_5m"]
    assert last["online_hours_7d"] >= last["online_hours_24h"] >= last["online_hours_today"] > 0
    assert all(not math.isnan(last[k]) for k in ("hr_mean_15m", "speed_mean_5m", "trip_age_s", "weather_age_s"))


def test_psi_bounds_and_hand_value() -> None:
    assert psi(39.5, 180.0, 60.0) == 10.0
    assert psi(36.0, 50.0, 60.0) == 0.0
    assert round(psi(37.1 + 1.2, 120.0, 60.0), 6) == round(2.5 + 5 * 60 / 120, 6)


def test_features_do_not_change_the_state() -> None:
    from features import RiderState, update_trip
    from riskstream.testing.recording import rider_recording

    s = RiderState.new("r0")
    for role, rec in rider_recording("r0", START, 3):
        if role == "trip":
            update_trip(s, rec, CFG)
    before = s.to_dict()
    rider_features(s, None, START + 200, CFG)
    assert s.to_dict() == before


def test_docs_table_is_current() -> None:
    from pathlib import Path

    from features.docs_table import features_markdown

    doc = Path(__file__).resolve().parents[2] / "docs" / "features.md"
    assert doc.read_text(encoding="utf-8") == features_markdown(), "run: python -m features.docs_table > docs/features.md"
