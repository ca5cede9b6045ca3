"""Did an alert warn ahead of an incident? Pure matching of alerts to incidents, and alert rates.

An incident (its *true* event time from the simulator's incident log, not the delayed
report) counts as **warned** when the same rider got a *relevant* alert within the
horizon before it (``incident − horizon ≤ alert < incident``). Relevance by incident kind
is :data:`RELEVANT`; a fall prompt is a detection after an impact, never a warning, so it
is left out of "any alert" too. Because frequent alerts make "warned" cheap, every share
comes with its **chance level**: the same test applied to random online moments of the
same riders (see :func:`warned_share`).

>>> alerts = [AlertEvent("r1", 1000.0, "heat", "warning"), AlertEvent("r1", 5000.0, "riding", "warning")]
>>> idx = AlertIndex(alerts)
>>> idx.lead_time(IncidentEvent("r1", 2000.0, "heat_illness"))   # heat alert 1000 s before
1000.0
>>> idx.lead_time(IncidentEvent("r1", 5500.0, "heat_illness")) is None   # heat alert 4500 s before: too early
True
>>> idx.lead_time(IncidentEvent("r1", 5500.0, "heat_illness"), any_alert=True)   # the riding alert counts
500.0
"""

from __future__ import annotations

import bisect
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

#: Seconds before an incident in which an alert counts as a warning: the models' 60-min horizon
#: (``RiskScores.horizon_min``).
HORIZON_S = 3600.0
#: Alert kinds that warn of each incident kind. The issue names heat/strain for heat illness and
#: exhaustion and riding/weather/fatigue/model_risk for crashes; the rest are project choices that
#: follow the simulator's true hazard (fatigue drives exhaustion; flooding, ice and strain drive falls;
#: model risk is the models' injury/accident probability, relevant to every kind).
RELEVANT: dict[str, frozenset[str]] = {
    "heat_illness": frozenset({"heat", "strain", "model_risk"}),
    "exhaustion": frozenset({"heat", "strain", "fatigue", "model_risk"}),
    "crash": frozenset({"riding", "weather", "fatigue", "model_risk"}),
    "fall": frozenset({"weather", "strain", "fatigue", "model_risk"}),
}
#: Alerts that are not warnings (a suspected-fall prompt follows the impact).
NOT_A_WARNING = frozenset({"fall"})
#: A fall prompt within this many seconds after a crash or fall counts as detecting it.
DETECTION_WINDOW_S = 180.0


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One alert sent to a rider at event time ``epoch``."""

    rider_id: str
    epoch: float
    kind: str
    severity: str


@dataclass(frozen=True, slots=True)
class IncidentEvent:
    """One incident at its true event time."""

    rider_id: str
    epoch: float
    kind: str


class AlertIndex:
    """Alerts by rider and kind, sorted by time, for window look-ups."""

    def __init__(self, alerts: Iterable[AlertEvent]) -> None:
        self._times: dict[tuple[str, str], list[float]] = defaultdict(list)
        for a in alerts:
            self._times[(a.rider_id, a.kind)].append(a.epoch)
        for times in self._times.values():
            times.sort()
        self.kinds = sorted({kind for _, kind in self._times})

    def last_before(self, rider_id: str, kinds: Iterable[str], epoch: float) -> float | None:
        """Time of the rider's latest alert of ``kinds`` strictly before ``epoch``."""
        best: float | None = None
        for kind in kinds:
            times = self._times.get((rider_id, kind))
            if not times:
                continue
            i = bisect.bisect_left(times, epoch)
            if i and (best is None or times[i - 1] > best):
                best = times[i - 1]
        return best

    def first_after(self, rider_id: str, kind: str, epoch: float) -> float | None:
        """Time of the rider's first alert of ``kind`` at or after ``epoch``."""
        times = self._times.get((rider_id, kind), [])
        i = bisect.bisect_left(times, epoch)
        return times[i] if i < len(times) else None

    def lead_time(self, incident: IncidentEvent, any_alert: bool = False, horizon_s: float = HORIZON_S,
                  relevant: dict[str, frozenset[str]] = RELEVANT) -> float | None:
        """Seconds from the latest warning within the horizon to the incident, or None if unwarned."""
        kinds = [k for k in self.kinds if k not in NOT_A_WARNING] if any_alert else relevant.get(incident.kind, ())
        last = self.last_before(incident.rider_id, kinds, incident.epoch)
        if last is None or incident.epoch - last > horizon_s:
            return None
        return incident.epoch - last


@dataclass(frozen=True)
class WarnedShare:
    """Share of incidents warned ahead, with the chance level at random online moments."""

    kind: str
    incidents: int
    warned: int
    chance: float  # share of random online moments that would count as "warned" for this kind
    median_lead_min: float

    @property
    def share(self) -> float:
        return self.warned / self.incidents if self.incidents else math.nan


def warned_share(incidents: list[IncidentEvent], alerts: AlertIndex, moments: list[tuple[str, float]],
                 any_alert: bool = False, horizon_s: float = HORIZON_S) -> list[WarnedShare]:
    """Per incident kind and ``all``: warned incidents, chance level and median lead time.

    ``moments`` are (rider id, epoch) samples of riders online; the chance level of a kind is the
    share of them that a relevant alert would have "warned" with the same rule.

    >>> idx = AlertIndex([AlertEvent("r1", 0.0, "riding", "warning")])
    >>> rows = warned_share([IncidentEvent("r1", 600.0, "crash"), IncidentEvent("r1", 9000.0, "crash")], idx,
    ...                     moments=[("r1", 100.0), ("r1", 5000.0), ("r1", 6000.0), ("r1", 7000.0)])
    >>> [(r.kind, r.incidents, r.warned, r.chance, r.median_lead_min) for r in rows]
    [('crash', 2, 1, 0.25, 10.0), ('all', 2, 1, 0.25, 10.0)]
    """
    def chance(kind: str) -> float:
        if not moments:
            return math.nan
        hit = sum(alerts.lead_time(IncidentEvent(r, t, kind), any_alert, horizon_s) is not None for r, t in moments)
        return hit / len(moments)

    rows: list[WarnedShare] = []
    by_kind: dict[str, list[IncidentEvent]] = defaultdict(list)
    for inc in incidents:
        by_kind[inc.kind].append(inc)
    all_leads: list[float] = []
    weighted_chance = 0.0
    for kind in sorted(by_kind, key=lambda k: tuple(RELEVANT).index(k) if k in RELEVANT else 99):
        leads = [lt for lt in (alerts.lead_time(i, any_alert, horizon_s) for i in by_kind[kind]) if lt is not None]
        c = chance(kind)
        weighted_chance += c * len(by_kind[kind])
        all_leads += leads
        rows.append(WarnedShare(kind, len(by_kind[kind]), len(leads), c, _median_min(leads)))
    n = len(incidents)
    rows.append(WarnedShare("all", n, len(all_leads), weighted_chance / n if n else math.nan, _median_min(all_leads)))
    return rows


def _median_min(leads: list[float]) -> float:
    if not leads:
        return math.nan
    s = sorted(leads)
    m = len(s) // 2
    return (s[m] if len(s) % 2 else (s[m - 1] + s[m]) / 2) / 60.0


def detected_share(incidents: list[IncidentEvent], alerts: AlertIndex,
                   window_s: float = DETECTION_WINDOW_S) -> tuple[int, int]:
    """(crashes and falls followed by a fall prompt within ``window_s``, crashes and falls)."""
    impacts = [i for i in incidents if i.kind in ("crash", "fall")]
    hit = 0
    for inc in impacts:
        t = alerts.first_after(inc.rider_id, "fall", inc.epoch)
        hit += t is not None and t - inc.epoch <= window_s
    return hit, len(impacts)


def alert_rates(alerts: Iterable[AlertEvent], rider_hours: float) -> dict[str, float]:
    """Alerts per online rider-hour, by kind and ``all`` (and ``warnings``: all but fall prompts).

    >>> alert_rates([AlertEvent("r", 0.0, "heat", "warning")] * 3 + [AlertEvent("r", 9.0, "fall", "danger")], 2.0)
    {'fall': 0.5, 'heat': 1.5, 'all': 2.0, 'warnings': 1.5}
    """
    if rider_hours <= 0:
        raise ValueError("rider_hours must be positive")
    counts = Counter(a.kind for a in alerts)
    out = {k: n / rider_hours for k, n in sorted(counts.items())}
    out["all"] = sum(counts.values()) / rider_hours
    out["warnings"] = sum(n for k, n in counts.items() if k not in NOT_A_WARNING) / rider_hours
    return out
