"""Reason codes and texts."""

from __future__ import annotations

import pytest

from features.catalog import FEATURE_NAMES, PROTECTED_ATTRIBUTES
from models.reasons import REASONS, missing_reasons, reason_for
from riskstream.contracts.reasons import placeholders


def test_every_feature_has_a_reason():
    assert missing_reasons() == set()
    assert not PROTECTED_ATTRIBUTES & set(REASONS)


def test_codes_are_unique_and_upper_case():
    codes = [r.code for r in REASONS.values()]
    assert len(codes) == len(set(codes)) and all(c == c.upper() for c in codes)


@pytest.mark.parametrize("feature", FEATURE_NAMES)
def test_texts_carry_the_value(feature):
    r = reason_for(feature, 7.0)
    assert r.value == 7.0 and set(r.text) == {"zh-CN", "en"}
    if "value" in placeholders(REASONS[feature].en):
        assert "7" in r.text["en"] and "7" in r.text["zh-CN"]


@pytest.mark.parametrize("missing", [None, float("nan"), float("inf")])
def test_missing_value_has_its_own_reason(missing):
    assert reason_for("hr_mean_1m", missing).code == "WEARABLE_STALE"
    assert reason_for("precip_mm_h", missing).code == "WEATHER_STALE"
    assert reason_for("harsh_brakes_10m", missing).code == "TRIP_STALE"
    assert reason_for("hr_mean_1m", missing).value is None


def test_examples_from_the_brief():
    assert reason_for("heat_index_c", 41.0).code == "HEAT_INDEX"
    assert reason_for("harsh_brakes_10m", 4).code == "HARSH_BRAKING"
    assert reason_for("harsh_brakes_10m", 4).text["en"] == "4 harsh brakes in 10 min"
