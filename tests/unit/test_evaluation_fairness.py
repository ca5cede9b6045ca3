"""Fairness computations on hand-made frames and insurer records."""

from __future__ import annotations

import pandas as pd
import pytest

from alerts import pseudonymize
from features import FEATURE_NAMES
from riskstream.lab.fairness import (
    disparity_ratio, group_table, premium_ratios, protected_features, ratio_interval, reference_group, rider_frame,
)
from riskstream.lab.run import scan_protected

KEY = b"0123456789abcdef0123"


def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "sex": ["male"] * 4 + ["female"] * 2,
        "age_band": ["25-34", "25-34", "35-44", "18-24", "25-34", "35-44"],
        "premium_multiplier": [1.0, 1.2, 1.1, 0.9, 0.8, 1.0],
        "risk_score": [0.01, 0.03, 0.02, 0.02, 0.01, 0.01],
        "high_band": [False, True, False, False, False, True],
    })


def test_ratio_of_mean_premiums_to_the_largest_group() -> None:
    f = frame()
    assert reference_group(f, "sex") == "male"
    assert premium_ratios(f, "sex") == {"female": round(0.9 / 1.05, 3), "male": 1.0}
    assert disparity_ratio(f, "sex") == pytest.approx(0.9 / 1.05)
    assert premium_ratios(f, "age_band") == {"18-24": round(0.9 / 1.0, 3), "25-34": 1.0, "35-44": 1.05}


def test_group_table_counts_shares_and_ratios() -> None:
    t = group_table(frame(), "sex")
    assert t.loc["female", "riders"] == 2 and t.loc["male", "riders"] == 4
    assert t.loc["female", "high_severe_share"] == 0.5 and t.loc["male", "high_severe_share"] == 0.25
    assert t.loc["female", "premium_mean"] == pytest.approx(0.9)
    assert t.loc["female", "premium_ratio"] == round(0.9 / 1.05, 3)


def test_bootstrap_interval_contains_the_ratio_and_is_deterministic() -> None:
    f = frame()
    lo, hi = ratio_interval(f, "sex", "female", seed=3)
    assert lo < 0.9 / 1.05 < hi
    assert (lo, hi) == ratio_interval(f, "sex", "female", seed=3)


def test_rider_frame_joins_by_pseudonym_last_premium_mean_score() -> None:
    profiles = {"r1": {"sex": "female", "age_band": "18-24"}, "r2": {"sex": "male", "age_band": "55+"}}
    p1, p2 = pseudonymize("r1", KEY), pseudonymize("r2", KEY)
    insurer = [
        {"pseudonym": p1, "epoch": 2.0, "risk_score": 0.04, "premium_multiplier": 1.1, "risk_band": "high"},
        {"pseudonym": p1, "epoch": 1.0, "risk_score": 0.02, "premium_multiplier": 1.0, "risk_band": "moderate"},
        {"pseudonym": p2, "epoch": 1.0, "risk_score": 0.01, "premium_multiplier": 0.95, "risk_band": "low"},
    ]
    f = rider_frame(insurer, profiles, KEY).set_index("rider_id")
    assert f.loc["r1", "premium_multiplier"] == 1.1 and f.loc["r1", "risk_band"] == "high"  # last by time
    assert f.loc["r1", "risk_score"] == pytest.approx(0.03) and f.loc["r1", "high_share"] == 0.5
    assert (f.loc["r1", "sex"], f.loc["r2", "age_band"]) == ("female", "55+")
    with pytest.raises(ValueError, match="pseudonym key"):
        rider_frame(insurer, profiles, b"another-key-of-16-bytes")


def test_no_model_feature_is_a_protected_attribute_and_the_check_can_fire() -> None:
    assert protected_features(FEATURE_NAMES) == []
    extra = ["sex", "age_band", "rider_gender"]
    assert protected_features([*FEATURE_NAMES, *extra]) == extra


def test_output_scan_finds_protected_keys_and_values() -> None:
    clean = {"rider_pseudonym": "ab", "reasons": [{"code": "X", "text": {"en": "male riders"}}]}
    assert scan_protected(clean, {"male", "25-34"}) == []
    leaky = {"risk": {"age_band": "25-34"}, "reasons": [{"value": "female"}]}
    assert scan_protected(leaky, {"female", "25-34"}) == [
        "risk.age_band", "risk.age_band=25-34", "reasons[0].value=female"]


def test_loss_ratio_is_own_expected_loss_over_the_fleet_mean() -> None:
    profiles = {"r1": {"sex": "female", "age_band": "18-24"}, "r2": {"sex": "male", "age_band": "25-34"}}
    p1, p2 = pseudonymize("r1", KEY), pseudonymize("r2", KEY)
    base = {"epoch": 1.0, "risk_score": 0.1, "premium_multiplier": 1.1, "risk_band": "high"}
    insurer = [{**base, "pseudonym": p1, "p_injury": 0.01, "p_accident": 0.0},   # 20 per hour
               {**base, "pseudonym": p2, "p_injury": 0.0, "p_accident": 0.012}]  # 60 per hour
    f = rider_frame(insurer, profiles, KEY, severity_injury=2000.0, severity_accident=5000.0).set_index("rider_id")
    assert f.loc["r1", "loss_ratio"] == pytest.approx(0.5) and f.loc["r2", "loss_ratio"] == pytest.approx(1.5)
    assert premium_ratios(f, "sex", "loss_ratio") == {"female": 1.0, "male": 3.0}  # tie: first group is the reference
