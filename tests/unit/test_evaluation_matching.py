"""Matching alerts to incidents: hand-made alerts and incidents, so each rule can be seen to bite."""

from __future__ import annotations

import math

import pytest

from riskstream.lab.matching import (
    HORIZON_S, AlertEvent, AlertIndex, IncidentEvent, alert_rates, detected_share, warned_share,
)


def a(rider: str, t: float, kind: str, severity: str = "warning") -> AlertEvent:
    return AlertEvent(rider, t, kind, severity)


def inc(rider: str, t: float, kind: str) -> IncidentEvent:
    return IncidentEvent(rider, t, kind)


@pytest.mark.parametrize(("alert_kind", "incident_kind", "warned"), [
    ("heat", "heat_illness", True), ("strain", "exhaustion", True), ("riding", "crash", True),
    ("weather", "crash", True), ("fatigue", "crash", True), ("model_risk", "crash", True),
    ("heat", "crash", False), ("riding", "heat_illness", False), ("fall", "fall", False), ("fall", "crash", False),
])
def test_relevance_by_incident_kind(alert_kind: str, incident_kind: str, warned: bool) -> None:
    idx = AlertIndex([a("r1", 1000.0, alert_kind)])
    assert (idx.lead_time(inc("r1", 1600.0, incident_kind)) is not None) is warned


def test_window_is_the_hour_before_and_only_the_same_rider() -> None:
    idx = AlertIndex([a("r1", 0.0, "riding")])
    assert idx.lead_time(inc("r1", HORIZON_S, "crash")) == HORIZON_S  # exactly 60 min before: counts
    assert idx.lead_time(inc("r1", HORIZON_S + 1, "crash")) is None  # 60 min 1 s: too early
    assert idx.lead_time(inc("r1", 0.0, "crash")) is None  # same second: not ahead
    assert idx.lead_time(inc("r1", -5.0, "crash")) is None  # after the incident
    assert idx.lead_time(inc("r2", 600.0, "crash")) is None  # another rider's alert


def test_the_latest_relevant_alert_gives_the_lead_time() -> None:
    idx = AlertIndex([a("r1", 100.0, "weather"), a("r1", 900.0, "riding"), a("r1", 1100.0, "heat")])
    assert idx.lead_time(inc("r1", 1200.0, "crash")) == 300.0  # riding at 900, not the later heat alert
    assert idx.lead_time(inc("r1", 1200.0, "crash"), any_alert=True) == 100.0  # any alert: heat at 1100


def test_any_alert_never_counts_a_fall_prompt() -> None:
    idx = AlertIndex([a("r1", 100.0, "fall", "danger")])
    assert idx.lead_time(inc("r1", 200.0, "crash"), any_alert=True) is None


def test_warned_share_with_chance_level() -> None:
    idx = AlertIndex([a("r1", 0.0, "heat"), a("r2", 0.0, "riding")])
    incidents = [inc("r1", 600.0, "heat_illness"), inc("r2", 600.0, "heat_illness"), inc("r2", 1200.0, "crash")]
    moments = [("r1", 60.0), ("r2", 60.0), ("r1", 9000.0), ("r2", 9000.0)]
    rows = {r.kind: r for r in warned_share(incidents, idx, moments)}
    assert (rows["heat_illness"].incidents, rows["heat_illness"].warned) == (2, 1)
    assert rows["heat_illness"].chance == 0.25  # only r1 at 60 s has a heat alert in the hour before
    assert (rows["crash"].warned, rows["crash"].median_lead_min) == (1, 20.0)
    assert (rows["all"].incidents, rows["all"].warned) == (3, 2)
    assert rows["all"].chance == pytest.approx((0.25 * 2 + 0.25) / 3)
    assert math.isclose(rows["all"].share, 2 / 3)


def test_fall_prompts_detect_crashes_and_falls_shortly_after() -> None:
    idx = AlertIndex([a("r1", 1030.0, "fall", "danger"), a("r2", 5000.0, "fall", "danger")])
    incidents = [inc("r1", 1000.0, "crash"), inc("r2", 1000.0, "fall"), inc("r3", 10.0, "heat_illness")]
    assert detected_share(incidents, idx) == (1, 2)


def test_alert_rates_per_rider_hour() -> None:
    rates = alert_rates([a("r", 0.0, "heat")] * 4 + [a("r", 1.0, "fall")], rider_hours=4.0)
    assert rates == {"fall": 0.25, "heat": 1.0, "all": 1.25, "warnings": 1.0}
    with pytest.raises(ValueError):
        alert_rates([], 0.0)
