"""Pseudonyms, output records, audit records, privacy of the insurer topic, protected attributes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from alerts.audit import audit_for_alert, audit_for_premium, build_insurer_record, build_rider_alert
from alerts.policy import AlertPolicy, AlertState
from alerts.premium import PremiumCalculator, PremiumState
from alerts.pseudonym import pseudonymize
from features.catalog import FEATURE_BY_NAME, PROTECTED_ATTRIBUTES
from riskstream.contracts.records import AuditRecord, InsurerRiskScore, RiderAlert, RiskScores

KEY = b"k" * 32
VERSIONS = {"lgbm": "2026.07.01", "river": "1"}
ALERTS_DIR = Path(__file__).resolve().parents[2] / "alerts"
RICH = {
    "heat_index_c": 41.0, "continuous_riding_min": 200, "hr_mean_5m": 171.0, "hrr_pct": 93.0,
    "skin_temp_c": 36.1, "strain_index_est": 7.9, "harsh_brakes_60m": 0, "harsh_accels_10m": 0,
    "speeding_s_10m": 0, "phone_handling_s_10m": 0, "fall_suspected": 0,
}


def test_pseudonym_is_stable_key_dependent_and_not_the_id() -> None:
    a = pseudonymize("rider-0001", KEY)
    assert a == pseudonymize("rider-0001", KEY)
    assert a != pseudonymize("rider-0001", b"j" * 32)
    assert a != pseudonymize("rider-0002", KEY)
    assert re.fullmatch(r"[0-9a-f]{32}", a) and "rider" not in a
    with pytest.raises(ValueError, match="at least 16"):
        pseudonymize("rider-0001", b"short")


def test_rider_alert_record_and_its_audit() -> None:
    policy = AlertPolicy()
    risk = RiskScores(injury=0.02, accident=0.01)
    [decision] = policy.evaluate(AlertState(), {"heat_index_c": 41.0, "hr_mean_5m": 150}, risk, now=1_750_000_000.0)
    alert = build_rider_alert("rider-1", decision, 1_750_000_000.0, VERSIONS, risk=risk)
    again = build_rider_alert("rider-1", decision, 1_750_000_000.0, VERSIONS, risk=risk)
    assert alert.event_id == again.event_id  # replay gives the same id
    RiderAlert.model_validate_json(alert.model_dump_json())
    assert alert.ts.timestamp() == 1_750_000_000.0 and alert.reasons and alert.model_versions == VERSIONS
    audit = audit_for_alert("rider-1", decision, 1_750_000_000.0, VERSIONS)
    AuditRecord.model_validate_json(audit.model_dump_json())
    assert audit.decision_id == alert.alert_id and audit.outcome == "alert heat/danger sent"
    # only the features the decision used: not the heart rate it did not look at
    assert "heat_index_c" in audit.inputs and "hr_mean_5m" not in audit.inputs
    assert audit.thresholds["heat_index_c.danger.enter"] == 39.4


def test_suppressed_alert_is_audited_with_why() -> None:
    policy = AlertPolicy()
    state = AlertState(sent_times=[0.0, 1.0, 2.0])
    assert policy.evaluate(state, {"precip_mm_h": 12.0}, None, 3.0) == []
    audit = audit_for_alert("rider-1", policy.last_suppressed[0], 3.0, VERSIONS)
    assert audit.outcome == "alert weather/warning suppressed: hourly_cap"
    assert audit.inputs == {"precip_mm_h": 12.0} and audit.reasons[0].code == "HEAVY_RAIN"


def test_insurer_record_carries_no_rider_id_position_or_biometrics() -> None:
    rider_id = "rider-secret-77"
    state = PremiumState()
    calc = PremiumCalculator()
    decision = calc.update(state, RiskScores(injury=0.003, accident=0.001), RICH, 2.0, 1_750_000_000.0)
    record = build_insurer_record(pseudonymize(rider_id, KEY), decision, VERSIONS)
    payload = record.model_dump_json()
    InsurerRiskScore.model_validate_json(payload)
    text = payload.lower()
    assert rider_id not in payload and "rider_id" not in text
    for forbidden in ("lat", "lon", "zone", "heart", "hr_", "skin", "strain", "heat_index", "accel_peak"):
        assert forbidden not in text.replace("rider_pseudonym", ""), forbidden
    wearable = [n for n, f in FEATURE_BY_NAME.items() if "wearable" in f.source]
    assert not any(name in text for name in wearable)
    body = json.loads(payload)
    assert set(body) == set(InsurerRiskScore.model_fields)


def test_premium_audit_lists_inputs_thresholds_and_reasons() -> None:
    decision = PremiumCalculator().update(PremiumState(), RiskScores(injury=0.003, accident=0.001), RICH, 2.0, 7200.0)
    audit = audit_for_premium("rider-1", decision, VERSIONS, published=True, decision_id="x-1")
    AuditRecord.model_validate_json(audit.model_dump_json())
    assert audit.decision_type == "premium_signal" and audit.decision_id == "x-1"
    assert audit.inputs["p_injury"] == 0.003 and "hr_mean_5m" not in audit.inputs
    assert audit.thresholds["max_change"] == 0.10 and audit.reasons
    assert "new -> " in audit.outcome and "published" in audit.outcome


def test_no_protected_attribute_is_read_anywhere_in_alerts() -> None:
    pattern = re.compile(r"\b(" + "|".join(sorted(PROTECTED_ATTRIBUTES)) + r")\b", re.I)
    hits = []
    for path in sorted(ALERTS_DIR.rglob("*")):
        if path.suffix in {".py", ".json"}:
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if pattern.search(line):
                    hits.append(f"{path.name}:{n}: {line.strip()}")
    assert not hits, "protected attributes mentioned in alerts/:\n" + "\n".join(hits)


def test_protected_attributes_in_the_input_change_nothing() -> None:
    base = dict(RICH, heat_index_c=41.0, speeding_s_10m=90.0)
    risk = RiskScores(injury=0.003, accident=0.001)
    with_protected = dict(base, sex=1.0, gender=1.0, age=63.0, age_band=5.0, ethnicity=2.0)
    a = AlertPolicy().evaluate(AlertState(), base, risk, 0.0)
    b = AlertPolicy().evaluate(AlertState(), with_protected, risk, 0.0)
    assert a == b
    pa = PremiumCalculator().update(PremiumState(), risk, base, 3.0, 3600.0)
    pb = PremiumCalculator().update(PremiumState(), risk, with_protected, 3.0, 3600.0)
    assert pa == pb
