"""A suspected fall asks the rider; no answer escalates to the safety team, an OK cancels."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from streams.processor import Processor, RawRecord
from streams.settings import Settings, WorkerSettings
from tests.unit.test_streams_processor import Harness

T0 = datetime(2026, 7, 15, 2, 0, tzinfo=timezone.utc)


def _rec(topic: str, offset: int, value: dict[str, Any]) -> RawRecord:
    return RawRecord(topic, 0, offset, b"r-fall", json.dumps(value, default=str).encode(), 1.0)


def fall_ride(s: Settings, seconds_after: int) -> list[RawRecord]:
    """Two minutes of riding, an 6 g impact, then stillness (a fall) for ``seconds_after`` seconds."""
    out: list[RawRecord] = []
    weather = {"event_id": "wx", "ts": T0, "zone_id": "z1", "air_temp_c": 25, "relative_humidity_pct": 50}
    out.append(_rec(s.topics.weather, 0, weather))
    for t in range(120 + seconds_after):
        ts = T0 + timedelta(seconds=t)
        riding = t < 120
        peak, var = (6.0, 0.8) if t == 120 else ((1.6, 0.05) if riding else (1.0, 0.0005))
        out.append(_rec(s.topics.wearable, t, {
            "event_id": f"w{t}", "ts": ts, "rider_id": "r-fall", "heart_rate_bpm": 120 if riding else 100,
            "skin_temp_c": 33.5, "accel_peak_g": peak, "accel_mean_g": 1.0, "accel_var": var}))
        out.append(_rec(s.topics.trip, t, {
            "event_id": f"t{t}", "ts": ts, "rider_id": "r-fall", "zone_id": "z1",
            "status": "riding" if riding else "waiting", "lat": 31.2, "lon": 121.5,
            "speed_kmh": 18.0 if riding else 0.0}))
    return out


def run(tmp: Path, records: list[RawRecord]) -> Harness:
    s = Settings(worker=WorkerSettings(state_dir=tmp, fall_response_timeout_s=60))
    h = Harness(Processor(s))
    h.feed(records, batch_size=50)
    return h


def test_unanswered_fall_is_escalated_once_with_an_audit_record(tmp_path: Path) -> None:
    s = Settings()
    h = run(tmp_path, fall_ride(s, seconds_after=200))
    falls = [a for a in h.of("alerts") if a["kind"] == "fall"]
    assert len(falls) == 1 and falls[0]["requires_response"]
    asked = datetime.fromisoformat(falls[0]["ts"])
    assert asked - T0 < timedelta(seconds=120 + 30), "a suspected fall is decided at once, not at the next cadence"
    escalations = h.of("escalations")
    assert len(escalations) == 1
    esc = escalations[0]
    assert esc["reason"] == "no_response" and esc["alert_id"] == falls[0]["alert_id"]
    assert 60 <= esc["waited_s"] < 60 + 30
    audits = [a for a in h.of("audit") if a["decision_type"] == "escalation"]
    assert [a["decision_id"] for a in audits] == [esc["escalation_id"]]


def test_an_ok_answer_cancels_the_escalation(tmp_path: Path) -> None:
    s = Settings()
    ride = fall_ride(s, seconds_after=30)
    first = run(tmp_path / "probe", ride)
    alert_id = next(a["alert_id"] for a in first.of("alerts") if a["kind"] == "fall")
    answer = _rec(s.topics.responses, 0, {"event_id": "ans", "ts": T0 + timedelta(seconds=150),
                                          "rider_id": "r-fall", "alert_id": alert_id, "answer": "ok"})
    h = run(tmp_path / "answered", ride + [answer] + fall_ride(s, seconds_after=200)[len(ride):])
    assert not h.of("escalations")
    outcomes = [a["outcome"] for a in h.of("audit") if a["decision_type"] == "escalation"]
    assert len(outcomes) == 1 and outcomes[0].startswith("escalation cancelled")


def test_a_call_for_help_escalates_at_once(tmp_path: Path) -> None:
    s = Settings()
    ride = fall_ride(s, seconds_after=30)
    alert_id = next(a["alert_id"] for a in run(tmp_path / "probe", ride).of("alerts") if a["kind"] == "fall")
    answer = _rec(s.topics.responses, 0, {"event_id": "ans", "ts": T0 + timedelta(seconds=140),
                                          "rider_id": "r-fall", "alert_id": alert_id, "answer": "need_help"})
    h = run(tmp_path / "help", ride + [answer])
    assert [e["reason"] for e in h.of("escalations")] == ["rider_needs_help"]


def test_a_silent_device_escalates_by_wall_clock(tmp_path: Path) -> None:
    s = Settings()
    h = run(tmp_path, fall_ride(s, seconds_after=10))  # the device stops right after the fall
    assert not h.of("escalations")
    slot = h.proc.hot["r-fall"]
    assert slot.pending is not None
    result = h.proc.check_escalations(slot.pending["asked_wall"] + 61)
    assert [json.loads(v)["reason"] for role, _, v in result.outputs if role == "escalations"] == ["no_response"]
    assert "r-fall" in result.states
