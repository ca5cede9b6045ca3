"""What the safety console shows, built from the records of the topics it reads (pure: no I/O).

:class:`ConsoleState` takes one record at a time (:meth:`ConsoleState.apply`, by topic role) and
keeps only what the page needs: each zone's weather and heat index, each rider's zone, status and
risk band (no positions, no biometrics), the suspected falls and their escalations, the live feed,
the model versions, dead letters per minute and each rider's latest audit records (for the rider page). Time on the page is the stream's event time: the
newest event time seen (:attr:`ConsoleState.clock`), so a replay or a sped-up simulation reads
the same as live traffic.

>>> s = ConsoleState()
>>> _ = s.apply("weather", {"zone_id": "z1", "ts": "2026-07-15T02:00:00Z", "air_temp_c": 34, "relative_humidity_pct": 60})
>>> _ = s.apply("trip", {"rider_id": "r1", "zone_id": "z1", "status": "riding", "ts": "2026-07-15T02:01:00Z"})
>>> fall = {"rider_id": "r1", "alert_id": "a1", "kind": "fall", "severity": "danger", "ts": "2026-07-15T02:02:00Z",
...         "requires_response": True, "title": {"en": "Are you OK?"}, "message": {"en": "We noticed a fall."},
...         "model_versions": {"rules": "1"}}
>>> [item["text"] for item in s.apply("alerts", fall)]
['r1: Are you OK? (fall/danger) in z1']
>>> z = s.zones()[0]
>>> z["zone_id"], round(z["heat_index_c"], 1), z["heat_category"], z["riders_online"], z["alerts_last_hour"]
('z1', 42.2, 'danger', 1, 1)
>>> [(q["alert_id"], q["status"], q["age_s"]) for q in s.open_questions()]
[('a1', 'asked', 0.0)]
>>> _ = s.apply("acknowledgements", {"alert_id": "a1", "rider_id": "r1", "action": "resolve", "by": "ops",
...                                  "ts": "2026-07-15T02:05:00Z"})
>>> s.open_questions()
[]
"""

from __future__ import annotations

import re
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from features.heat import c_to_f, heat_category, heat_index_c

#: NWS heat categories (features.heat.heat_category) in words.
HEAT_CATEGORIES = ("none", "caution", "extreme caution", "danger", "extreme danger")
HOUR_S = 3600.0
#: A question is open until the rider answers OK or the safety team resolves it.
OPEN = ("asked", "escalated", "acknowledged")
_BAND = re.compile(r", band (\w+), ")
_MINUTES_KEPT = 60
#: Topics whose ``ts`` is event time and moves the clock (an acknowledgement's is the wall time it was made).
CLOCK_ROLES = frozenset({"weather", "trip", "alerts", "escalations"})
#: Records between two prunes of riders and questions older than ``ConsoleState.retain_s``: memory stays bounded by the
#: riders active in that window, not by every rider ever seen.
PRUNE_EVERY = 10_000


def _epoch(value: Any) -> float | None:
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


def _text(value: Any, lang: str = "en") -> str:
    if isinstance(value, dict):
        return str(value.get(lang) or value.get("en") or "")
    return ""


@dataclass
class Question:
    """A suspected fall: the rider was asked "Are you OK?"; what happened since."""

    alert_id: str
    rider_id: str
    asked_at: float
    zone_id: str | None
    last_alert: str
    status: str = "asked"
    escalation_id: str | None = None
    escalation_reason: str | None = None
    handled_by: str | None = None
    updated_at: float = 0.0


@dataclass
class _Rider:
    zone_id: str | None = None
    status: str = "offline"
    last_seen: float = 0.0
    band: str | None = None


@dataclass
class ConsoleState:
    """The console's view of the fleet; ``online_window_s`` and ``feed_size`` as in ``ConsoleSettings``."""

    online_window_s: float = 300.0
    feed_size: int = 200
    decisions_per_rider: int = 500
    retain_s: float = 6 * HOUR_S  # riders, their decisions and closed questions not heard of for this long are dropped
    clock: float = 0.0
    weather: dict[str, dict[str, Any]] = field(default_factory=dict)
    riders: dict[str, _Rider] = field(default_factory=dict)
    questions: dict[str, Question] = field(default_factory=dict)
    feed: deque[dict[str, Any]] = field(default_factory=deque)
    alerts_by_kind: Counter[str] = field(default_factory=Counter)
    premium_signals: int = 0
    model_versions: dict[str, str] = field(default_factory=dict)
    conservative_mode: bool = False
    dead_letters: int = 0
    dead_letter_latest: str = ""
    dead_letters_by_minute: Counter[int] = field(default_factory=Counter)
    latest_alert: dict[str, str] = field(default_factory=dict)
    decisions: dict[str, deque[dict[str, Any]]] = field(default_factory=dict)
    _alert_times: deque[tuple[float, str | None]] = field(default_factory=lambda: deque(maxlen=100_000))
    _applied: int = 0
    _heard: dict[str, float] = field(default_factory=dict)  # rider id -> newest event time of any record about it

    def apply(self, role: str, value: dict[str, Any]) -> list[dict[str, Any]]:
        """Take one record of the topic ``role``; return the feed items it makes (for the live feed)."""
        handler = getattr(self, f"_on_{role}", None)
        if handler is None or not isinstance(value, dict):
            return []
        ts = _epoch(value.get("ts"))
        if ts is not None and role in CLOCK_ROLES:
            self.clock = max(self.clock, ts)
        items: list[dict[str, Any]] = handler(value, ts if ts is not None else self.clock)
        if value.get("rider_id") is not None:
            rider_key = str(value["rider_id"])
            self._heard[rider_key] = max(self._heard.get(rider_key, float("-inf")), ts if ts is not None else self.clock)
        self._applied += 1
        if self._applied % PRUNE_EVERY == 0:
            self.prune()
        for item in items:
            self.feed.appendleft(item)
        while len(self.feed) > self.feed_size:
            self.feed.pop()
        return items

    # ------------------------------------------------------------------ records, by role

    def _on_weather(self, v: dict[str, Any], ts: float) -> list[dict[str, Any]]:
        zone = str(v.get("zone_id") or "")
        if zone and ts >= self.weather.get(zone, {}).get("ts", float("-inf")):
            self.weather[zone] = {"ts": ts, **{k: v.get(k) for k in (
                "air_temp_c", "relative_humidity_pct", "wind_speed_ms", "precipitation_mm_h", "road_flooding")}}
        return []

    def _on_trip(self, v: dict[str, Any], ts: float) -> list[dict[str, Any]]:
        rider = self.riders.setdefault(str(v.get("rider_id")), _Rider())
        if ts >= rider.last_seen:  # only the zone and the status: never the position
            rider.zone_id, rider.status, rider.last_seen = v.get("zone_id"), str(v.get("status")), ts
        return []

    def _on_alerts(self, v: dict[str, Any], ts: float) -> list[dict[str, Any]]:
        rider_id, kind, severity = str(v.get("rider_id")), str(v.get("kind")), str(v.get("severity"))
        zone = self.riders[rider_id].zone_id if rider_id in self.riders else None
        self.alerts_by_kind[f"{kind}/{severity}"] += 1
        self._alert_times.append((ts, zone))
        self._models(v)
        title = _text(v.get("title")) or kind
        self.latest_alert = {"rider_id": rider_id, "en": _text(v.get("message")),
                             "zh-CN": _text(v.get("message"), "zh-CN")}
        if v.get("requires_response") and v.get("alert_id"):
            alert_id = str(v["alert_id"])
            if alert_id not in self.questions:
                self.questions[alert_id] = Question(alert_id, rider_id, ts, zone, title, updated_at=ts)
        return [{"ts": ts, "type": "alert", "kind": kind, "severity": severity, "rider_id": rider_id,
                 "zone_id": zone, "text": f"{rider_id}: {title} ({kind}/{severity})" + (f" in {zone}" if zone else "")}]

    def _on_escalations(self, v: dict[str, Any], ts: float) -> list[dict[str, Any]]:
        alert_id, rider_id = str(v.get("alert_id")), str(v.get("rider_id"))
        zone = v.get("zone_id") or (self.riders[rider_id].zone_id if rider_id in self.riders else None)
        q = self.questions.get(alert_id)
        if q is None:  # its alert is older than what the console read back
            asked = _epoch(v.get("asked_at"))
            q = self.questions[alert_id] = Question(alert_id, rider_id, asked if asked is not None else ts, zone,
                                                    "suspected fall")
        q.escalation_id, q.escalation_reason = v.get("escalation_id"), str(v.get("reason"))
        q.zone_id = q.zone_id or zone
        if q.status == "asked":
            q.status, q.updated_at = "escalated", ts
        self._models(v)
        why = "the rider asked for help" if v.get("reason") == "rider_needs_help" else "no answer"
        return [{"ts": ts, "type": "escalation", "kind": "fall", "severity": "danger", "rider_id": rider_id,
                 "zone_id": zone, "text": f"{rider_id}: escalated to the safety team ({why})"
                 + (f" in {zone}" if zone else "")}]

    def _on_responses(self, v: dict[str, Any], ts: float) -> list[dict[str, Any]]:
        q = self.questions.get(str(v.get("alert_id")))
        if q is not None and v.get("answer") == "ok" and q.status in OPEN:
            q.status, q.updated_at = "answered_ok", ts
            return [{"ts": ts, "type": "answer", "kind": "fall", "severity": "info", "rider_id": q.rider_id,
                     "zone_id": q.zone_id, "text": f"{q.rider_id}: answered OK"}]
        return []

    def _on_acknowledgements(self, v: dict[str, Any], ts: float) -> list[dict[str, Any]]:
        q = self.questions.get(str(v.get("alert_id")))
        action = v.get("action")
        if q is None or q.status not in OPEN or action not in ("acknowledge", "resolve"):
            return []
        q.status = "resolved" if action == "resolve" else "acknowledged"
        q.handled_by, q.updated_at = str(v.get("by") or ""), ts
        return [{"ts": ts, "type": "acknowledgement", "kind": "fall", "severity": "info", "rider_id": q.rider_id,
                 "zone_id": q.zone_id, "text": f"{q.rider_id}: {q.status} by {q.handled_by}"}]

    def _on_audit(self, v: dict[str, Any], ts: float) -> list[dict[str, Any]]:
        if v.get("rider_id"):  # the rider page's history; the newest few hundred per rider
            rider_id = str(v["rider_id"])
            if rider_id not in self.decisions:
                self.decisions[rider_id] = deque(maxlen=self.decisions_per_rider)
            self.decisions[rider_id].append(v)
        if v.get("decision_type") == "premium_signal" and (m := _BAND.search(str(v.get("outcome", "")))):
            self.riders.setdefault(str(v.get("rider_id")), _Rider()).band = m[1]
        if v.get("decision_type") in ("alert", "premium_signal"):
            self._models(v)
        return []

    def _on_risk_scores(self, v: dict[str, Any], ts: float) -> list[dict[str, Any]]:
        self.premium_signals += 1
        return []

    def _on_dlq(self, v: dict[str, Any], ts: float) -> list[dict[str, Any]]:
        self.dead_letters += 1
        self.dead_letter_latest = f"{v.get('error_class')}: {str(v.get('reason', ''))[:120]}"
        minute = int(ts // 60)
        self.dead_letters_by_minute[minute] += 1
        for old in [m for m in self.dead_letters_by_minute if m <= minute - _MINUTES_KEPT]:
            del self.dead_letters_by_minute[old]
        return []

    def _models(self, v: dict[str, Any]) -> None:
        if isinstance(v.get("model_versions"), dict) and v["model_versions"]:
            self.model_versions = {str(k): str(x) for k, x in v["model_versions"].items()}
        self.conservative_mode = bool(v.get("conservative_mode", self.conservative_mode))

    def prune(self) -> int:
        """Forget riders not heard of for ``retain_s`` of event time (their zone, band and decisions) and questions
        closed that long ago; an open question is kept whatever its age. Returns how many riders were forgotten.

        >>> s = ConsoleState(retain_s=3600)
        >>> _ = s.apply("trip", {"rider_id": "old", "zone_id": "z", "status": "riding", "ts": "2026-07-15T00:00:00Z"})
        >>> _ = s.apply("trip", {"rider_id": "new", "zone_id": "z", "status": "riding", "ts": "2026-07-15T02:00:00Z"})
        >>> s.prune(), sorted(s.riders)
        (1, ['new'])
        """
        cutoff = self.clock - self.retain_s
        asking = {q.rider_id for q in self.questions.values() if q.status in OPEN}
        gone = [r for r, at in self._heard.items() if at < cutoff and r not in asking]
        for rider_id in gone:
            del self._heard[rider_id]
            self.riders.pop(rider_id, None)
            self.decisions.pop(rider_id, None)
        for alert_id in [a for a, q in self.questions.items() if q.status not in OPEN and q.updated_at < cutoff]:
            del self.questions[alert_id]
        return len(gone)

    # ------------------------------------------------------------------ views

    def zones(self) -> list[dict[str, Any]]:
        """Every zone with weather or riders: heat, weather, riders online, high/severe bands, alerts last hour."""
        online: Counter[str] = Counter()
        banded: Counter[str] = Counter()
        for rider in self.riders.values():
            if (rider.zone_id and rider.status != "offline"
                    and self.clock - rider.last_seen <= self.online_window_s):
                online[rider.zone_id] += 1
                banded[rider.zone_id] += rider.band in ("high", "severe")
        alerts = Counter(zone for ts, zone in self._alert_times if zone and self.clock - ts <= HOUR_S)
        out = []
        for zone in sorted(set(self.weather) | set(online)):
            wx = self.weather.get(zone, {})
            temp, rh = wx.get("air_temp_c"), wx.get("relative_humidity_pct")
            hi = heat_index_c(float(temp), float(rh)) if temp is not None and rh is not None else None
            out.append({
                "zone_id": zone, "heat_index_c": hi,
                "heat_category": HEAT_CATEGORIES[heat_category(c_to_f(hi))] if hi is not None else "unknown",
                "air_temp_c": temp, "relative_humidity_pct": rh, "wind_speed_ms": wx.get("wind_speed_ms"),
                "precipitation_mm_h": wx.get("precipitation_mm_h"), "road_flooding": bool(wx.get("road_flooding")),
                "riders_online": online[zone], "riders_high_or_severe": banded[zone], "alerts_last_hour": alerts[zone],
            })
        return out

    def open_questions(self) -> list[dict[str, Any]]:
        """Open suspected falls and escalations, escalated first, then oldest first; age in event-time seconds."""
        rank = {"escalated": 0, "asked": 1, "acknowledged": 2}
        qs = sorted((q for q in self.questions.values() if q.status in OPEN),
                    key=lambda q: (rank[q.status], q.asked_at))
        return [{"alert_id": q.alert_id, "rider_id": q.rider_id, "zone_id": q.zone_id, "status": q.status,
                 "age_s": max(0.0, self.clock - q.asked_at), "last_alert": q.last_alert,
                 "escalation_id": q.escalation_id, "escalation_reason": q.escalation_reason,
                 "handled_by": q.handled_by} for q in qs]

    def dead_letters_per_minute(self, minutes: int = 10) -> list[tuple[int, int]]:
        """(minute start as epoch seconds, count) for the last ``minutes`` minutes with dead letters' source times."""
        if not self.dead_letters_by_minute:
            return []
        last = max(self.dead_letters_by_minute)
        return [(m * 60, self.dead_letters_by_minute[m]) for m in range(last - minutes + 1, last + 1)]

    def snapshot(self) -> dict[str, Any]:
        """Everything the page and the demo's summary show, as JSON-safe data."""
        return {
            "clock": self.clock, "zones": self.zones(), "open_questions": self.open_questions(),
            "feed": list(self.feed)[:50], "model_versions": self.model_versions,
            "conservative_mode": self.conservative_mode, "alerts_by_kind": dict(self.alerts_by_kind),
            "premium_signals": self.premium_signals, "dead_letters": self.dead_letters,
            "dead_letter_latest": self.dead_letter_latest,
            "dead_letters_per_minute": self.dead_letters_per_minute(), "latest_alert": self.latest_alert,
        }
