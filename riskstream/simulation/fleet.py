"""Deterministic fleet simulator: riders, zone weather and incidents as topic records.

A pure data source (no Kafka): :meth:`FleetSimulator.records` yields
:class:`~riskstream.simulation.records.SimRecord` values in (mostly) event-time order,
one tick at a time for the whole fleet (numpy over riders, a Python loop only to build
records). Incidents are drawn from :func:`~riskstream.simulation.hazard.true_hazard`
each rider-second and reported 1-20 min later. Same config → byte-identical output.

>>> sim = FleetSimulator(SimConfig(riders=3, seed=1))
>>> recs = list(sim.records(900))
>>> sorted({r.role for r in recs})
['trip', 'wearable', 'weather']
>>> [r.value.zone_id for r in recs[:4]]
['sh-pudong', 'sh-jingan', 'sh-minhang', 'sh-baoshan']
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterator

import numpy as np

from riskstream.contracts.records import Incident, IncidentKind, TripPoint, TripStatus, WearableReading, WeatherObservation

from .dynamics import DOWN, OFFLINE, RIDING, WAITING, ON_BREAK, FleetState
from .faults import draw_malformed_kind, malformed_payload
from .hazard import KINDS
from .records import SimRecord, build, constructor as _constructor
from .riders import RiderProfile, make_profile
from .weather import WeatherTruth, ZoneWeatherModel

DEFAULT_ZONES = ("sh-pudong", "sh-jingan", "sh-minhang", "sh-baoshan")
SCENARIOS = ("default", "heatwave", "storm", "mixed")
_STATUS = {RIDING: TripStatus.riding, WAITING: TripStatus.waiting, ON_BREAK: TripStatus.on_break,
           DOWN: TripStatus.waiting, OFFLINE: TripStatus.offline}
_SEVERITY = {"crash": ("minor", "moderate", "severe"), "fall": ("minor", "minor", "moderate"),
             "heat_illness": ("minor", "moderate", "severe"), "exhaustion": ("minor", "minor", "moderate")}
_SOURCE = ("rider", "platform", "insurer_claim")


@dataclass
class SimConfig:
    """What to simulate. Fault rates are fractions of the records of that kind."""

    riders: int = 50
    seed: int = 0
    start: datetime = datetime(2026, 7, 15, 2, 0, tzinfo=timezone.utc)  # 10:00 local (UTC+8)
    zones: tuple[str, ...] = DEFAULT_ZONES
    tick_s: float = 1.0
    weather_interval_s: float = 300.0
    scenario: str = "default"
    wearable_dropout_rate: float = 0.0  # share of wearable seconds lost, in gaps of 10-120 s
    gps_jump_rate: float = 0.0  # share of trip points far off (5-20 km) for one record
    duplicate_rate: float = 0.0  # share of records re-sent with the same event_id
    late_rate: float = 0.0  # share of records delayed 1..max_late_s (out of order)
    max_late_s: float = 90.0
    malformed_rate: float = 0.0  # extra raw malformed records per emitted record
    emit_true_hazard: bool = False
    report_delay_s: tuple[float, float] = (60.0, 1200.0)  # incident label delay
    hazard_scale: float = 1.0  # experiment knob; 1.0 is the documented model
    weather_override: dict[str, float] | None = None  # e.g. {"precipitation_mm_h": 4.0} in every zone
    weather_override_every: int = 1  # the override applies to zones 0, k, 2k, ... (2: every other zone)
    run_id: str | None = None  # event-id prefix; default "s<seed>"
    advice_compliance: float = 0.0  # P(rider follows an alert's advice), see FleetSimulator.advise; 0: ignored
    drift_after_s: float | None = None  # drift experiment: from this many seconds after start ...
    drift_rain_crash_rr: float = 1.0  # ... the crash hazard in rain (≥ 0.5 mm/h) is multiplied by this; 1: no drift
    signatures: str = "classic"  # crash/fall impact signatures and non-incident high-g events (dynamics.SIGNATURES)
    rest_scale: float = 1.0  # followed rest / off-road advice lasts this × 15-30 (30-45) min: the break effect
    rng_keying: str = "sequential"  # "keyed": draws keyed by (seed, tick / rider, event), see dynamics.RNG_KEYINGS

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise ValueError(f"scenario {self.scenario!r} is unknown; choose one of {SCENARIOS}")
        if self.riders < 1 or self.tick_s <= 0 or self.weather_interval_s < self.tick_s or not self.zones:
            raise ValueError("need riders ≥ 1, tick_s > 0, weather_interval_s ≥ tick_s and at least one zone")
        for name in ("wearable_dropout_rate", "gps_jump_rate", "duplicate_rate", "late_rate", "malformed_rate"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.rest_scale <= 0.0:
            raise ValueError(f"rest_scale must be > 0, got {self.rest_scale}")
        if not 0.0 <= self.advice_compliance <= 1.0:
            raise ValueError(f"advice_compliance must be in [0, 1], got {self.advice_compliance}")
        if self.start.tzinfo is None:
            self.start = self.start.replace(tzinfo=timezone.utc)

    def zone_scenarios(self) -> dict[str, str]:
        """Weather scenario of each zone ("mixed": heat wave and storm zones alternate)."""
        if self.scenario == "mixed":
            return {z: ("heatwave", "storm")[i % 2] for i, z in enumerate(self.zones)}
        return {z: self.scenario for z in self.zones}


@dataclass
class SimStats:
    """Exposure and injected-fault counts, for rates per rider-hour."""

    online_s: float = 0.0
    riding_s: float = 0.0
    incidents: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    faults: dict[str, int] = field(default_factory=dict)
    records: dict[str, int] = field(default_factory=dict)


class FleetSimulator:
    """Simulates ``config.riders`` riders; successive :meth:`records` calls continue in time."""

    def __init__(self, config: SimConfig) -> None:
        self.config = c = config
        self.prefix = c.run_id or f"s{c.seed}"
        self.start_epoch = c.start.timestamp()
        self.profiles: list[RiderProfile] = [make_profile(i, c.seed, len(c.zones)) for i in range(c.riders)]
        zs = c.zone_scenarios()
        self.weather_models = [ZoneWeatherModel(i, zs[z], self.start_epoch, c.seed) for i, z in enumerate(c.zones)]
        self.weather: list[WeatherTruth] = []
        self.state = FleetState(self.profiles, c.zones, self.start_epoch, c.seed, c.wearable_dropout_rate,
                                c.signatures, c.rest_scale, c.rng_keying)
        self.fault_rng = np.random.default_rng([c.seed, 3])
        self.stats = SimStats()
        self.incident_log: list[dict[str, object]] = []
        self._k = 0
        self._pending: list[tuple[float, int, SimRecord]] = []
        self._seq = 0
        self._weather_every = max(1, int(round(c.weather_interval_s / c.tick_s)))
        self._ids = [p.rider_id for p in self.profiles]
        self._index = {rid: i for i, rid in enumerate(self._ids)}
        self.advice_rng = np.random.default_rng([c.seed, 6])  # only drawn from when compliance > 0
        self.advice_log: list[dict[str, object]] = []

    def rider_profiles(self) -> dict[str, dict[str, object]]:
        """Rider id → profile incl. the protected ``sex`` and ``age_band`` (never emitted)."""
        return {p.rider_id: {**p.public(), **p.protected()} for p in self.profiles}

    def advise(self, rider_id: str, kind: str, now: float | None = None, severity: str = "warning") -> str | None:
        """Feed an alert back: the rider follows its advice with probability ``advice_compliance``.

        Heat, strain, fatigue and model-risk alerts → a 15-30 min break; riding alerts and
        weather warnings → 30 min of calmer riding; a weather danger → off the road 30-45 min.
        Fall prompts carry no advice. Takes effect from the next simulated tick (``now`` is
        only logged). Returns the action taken, or None. With compliance 0 nothing is drawn,
        so runs stay byte-identical to runs without feedback.

        >>> sim = FleetSimulator(SimConfig(riders=1, seed=0, advice_compliance=1.0))
        >>> _ = list(sim.records(1200, drain=False))
        >>> sim.advise("rider-0000", "heat"), sim.advise("rider-0000", "fall")
        ('rest', None)
        """
        p = self.config.advice_compliance
        action = advice_action(kind, severity)
        i = self._index.get(rider_id)
        if p <= 0.0 or action is None or i is None:
            return None
        rng = (np.random.default_rng([self.config.seed, 6, 1000 + i, self._k, 1]) if self.config.rng_keying == "keyed"
               else self.advice_rng)  # keyed: the same alert at the same tick is followed alike in every arm
        followed = bool(rng.random() < p) and self.state.follow_advice(i, action, self.now, rng)
        self.advice_log.append({"rider_id": rider_id, "kind": kind, "severity": severity, "epoch": self.now,
                                "action": action, "followed": followed})
        return action if followed else None

    @property
    def now(self) -> float:
        """Epoch seconds of the next tick."""
        return self.start_epoch + self._k * self.config.tick_s

    def records(self, duration_s: float, drain: bool = True) -> Iterator[SimRecord]:
        """Records of the next ``duration_s`` seconds of simulated time.

        With ``drain`` the records still held back at the end (late copies, incident
        reports not yet due) are emitted too; pass ``drain=False`` when calling in chunks.
        """
        end = self._k + int(round(duration_s / self.config.tick_s))
        while self._k < end:
            yield from self._tick()
            self._k += 1
        if drain:
            while self._pending:
                yield heapq.heappop(self._pending)[2]

    def advance(self, duration_s: float) -> None:
        """Step ``duration_s`` seconds of the world without building records (the study's sim-only arms).

        Draws exactly the random numbers :meth:`records` would (records are built after the draws),
        so a run advanced this way follows the same trajectory as one read through :meth:`records`.
        """
        end = self._k + int(round(duration_s / self.config.tick_s))
        while self._k < end:
            self._tick(emit=False)
            self._k += 1

    @property
    def expected_incidents(self) -> float:
        """Σ over riders of ∫ true hazard dt so far: the expected number of incidents of this trajectory."""
        return float(self.state.expected_by_rider.sum())

    # ------------------------------------------------------------------ one tick

    def _hold(self, release: float, rec: SimRecord) -> None:
        self._seq += 1
        heapq.heappush(self._pending, (release, self._seq, rec))

    def _tally(self, role: str, n: int) -> None:
        self.stats.records[role] = self.stats.records.get(role, 0) + n

    def _count(self, what: str, n: int = 1) -> None:
        self.stats.faults[what] = self.stats.faults.get(what, 0) + n

    def _tick(self, emit: bool = True) -> list[SimRecord]:
        c, k, t = self.config, self._k, self.now
        ts = datetime.fromtimestamp(t, timezone.utc)
        out: list[SimRecord] = []
        if k % self._weather_every == 0:
            self._step_weather(t, ts, out)
        st = self.state
        if st.idle(t):
            while self._pending and self._pending[0][0] <= t:
                out.append(heapq.heappop(self._pending)[2])
            return out
        drift = c.drift_rain_crash_rr if c.drift_after_s is not None and t - self.start_epoch >= c.drift_after_s else 1.0
        tick = st.step(t, c.tick_s, self.weather, c.hazard_scale, c.emit_true_hazard, rain_crash_drift=drift)
        if st.dropped:
            self._count("wearable_dropout", st.dropped)
        self.stats.online_s += tick.online * c.tick_s
        self.stats.riding_s += tick.riding * c.tick_s
        for i, kind in tick.incidents:
            self._incident(i, kind, t, ts)
        if not emit:
            self._pending.clear()  # incident reports: nobody reads them (the incident log keeps every incident)
            return out
        self._emit_riders(tick, k, t, ts, out)
        while self._pending and self._pending[0][0] <= t:
            out.append(heapq.heappop(self._pending)[2])
        return out

    def _step_weather(self, t: float, ts: datetime, out: list[SimRecord]) -> None:
        self.weather = [m.step(t) for m in self.weather_models]
        if self.config.weather_override:
            for w in self.weather[::max(1, self.config.weather_override_every)]:
                for name, value in self.config.weather_override.items():
                    setattr(w, name, value)
        for z, (zone, w) in enumerate(zip(self.config.zones, self.weather)):
            obs = build(WeatherObservation, {
                "schema_version": 1, "event_id": f"{self.prefix}-x-{z}-{self._k}", "ts": ts, "zone_id": zone,
                "air_temp_c": round(w.air_temp_c, 1), "relative_humidity_pct": round(w.relative_humidity_pct, 1),
                "dew_point_c": None,
                "wind_speed_ms": round(w.wind_speed_ms, 1), "wind_gust_ms": round(w.wind_gust_ms, 1),
                "precipitation_mm_h": round(w.precipitation_mm_h, 1), "visibility_m": round(w.visibility_m),
                "solar_w_m2": round(w.solar_w_m2), "road_flooding": bool(w.road_flooding),
                "daylight": bool(w.daylight), "daily_max_temp_c": round(w.daily_max_temp_c, 1),
            })
            self._put(out, SimRecord("weather", zone, obs), t)
        self._tally("weather", len(self.weather))

    def _incident(self, i: int, kind: str, t: float, ts: datetime) -> None:
        rng = self.fault_rng
        delay = float(rng.uniform(*self.config.report_delay_s))
        inc = build(Incident, {
            "schema_version": 1, "event_id": f"{self.prefix}-i-{i}-{self._k}", "ts": ts,
            "rider_id": self._ids[i], "kind": IncidentKind(kind),
            "source": _SOURCE[int(rng.integers(3))], "severity": _SEVERITY[kind][int(rng.integers(3))],
        })
        self.stats.incidents[kind] += 1
        self.incident_log.append({"rider_id": self._ids[i], "kind": kind, "epoch": t, "reported_epoch": t + delay})
        self._hold(t + delay, SimRecord("incidents", self._ids[i], inc))
        self._tally("incidents", 1)

    def _put(self, out: list[SimRecord], rec: SimRecord, t: float) -> None:
        """Emit ``rec`` now, or apply the late / duplicate faults to it."""
        c = self.config
        if c.late_rate or c.duplicate_rate:
            u = self.fault_rng.random()
            if u < c.late_rate:
                rec.fault = "late"
                self._count("late")
                self._hold(t + float(self.fault_rng.uniform(1.0, c.max_late_s)), rec)
                return
            if u < c.late_rate + c.duplicate_rate:
                self._count("duplicate")
                dup = SimRecord(rec.role, rec.key, rec.value, None, rec.true_hazard, "duplicate")
                self._hold(t + float(self.fault_rng.uniform(0.5, 5.0)), dup)
        out.append(rec)

    def _emit_riders(self, tick, k: int, t: float, ts: datetime, out: list[SimRecord]) -> None:
        c, p, ids, zones = self.config, self.prefix, self._ids, self.config.zones
        a = tick.arrays
        hazard = tick.hazard_lists if c.emit_true_hazard else None
        jump = c.gps_jump_rate
        put = self._put if (c.late_rate or c.duplicate_rate) else (lambda out, rec, t: out.append(rec))
        n_before = len(out)
        n_wear = sum(a["wear"])
        self._tally("wearable", n_wear)
        self._tally("trip", len(tick.emit))
        if not (c.late_rate or c.duplicate_rate or jump or hazard is not None):
            self._emit_plain(tick, k, ts, out)
        for j, i in enumerate(tick.emit if (c.late_rate or c.duplicate_rate or jump or hazard is not None) else ()):
            rid = ids[i]
            th = hazard[j] if hazard is not None else None
            if a["wear"][j]:
                w = build(WearableReading, {
                    "schema_version": 1, "event_id": f"{p}-w-{i}-{k}", "ts": ts, "rider_id": rid,
                    "heart_rate_bpm": a["hr"][j], "skin_temp_c": a["skin"][j], "accel_peak_g": a["peak"][j],
                    "accel_mean_g": a["mean"][j], "accel_var": a["var"][j], "steps": a["steps"][j], "on_body": True,
                })
                put(out, SimRecord("wearable", rid, w, None, th), t)
            lat, lon, fault = a["lat"][j], a["lon"][j], None
            if jump and self.fault_rng.random() < jump:
                lat += float(self.fault_rng.choice((-1.0, 1.0)) * self.fault_rng.uniform(0.05, 0.2))
                lon += float(self.fault_rng.choice((-1.0, 1.0)) * self.fault_rng.uniform(0.05, 0.2))
                fault = "gps_jump"
                self._count("gps_jump")
            status = a["status"][j]
            tp = build(TripPoint, {
                "schema_version": 1, "event_id": f"{p}-t-{i}-{k}", "ts": ts, "rider_id": rid,
                "zone_id": zones[a["zone"][j]], "status": _STATUS[status], "lat": lat, "lon": lon,
                "speed_kmh": a["speed"][j], "accel_long_g": a["along"][j], "accel_lat_g": a["alat"][j],
                "speed_limit_kmh": a["limit"][j], "phone_handling": a["phone"][j],
                "trip_id": f"{p}-{i}-{a['leg'][j]}" if status == RIDING else None,
            })
            put(out, SimRecord("trip", rid, tp, None, th, fault), t)
        if c.malformed_rate:
            self._malformed(len(out) - n_before, t, ts, out)

    def _emit_plain(self, tick, k: int, ts: datetime, out: list[SimRecord]) -> None:  # noqa: ANN001 - dynamics.Tick
        """The records of :meth:`_emit_riders` without faults or true hazard: the same values, built
        with the loop's look-ups hoisted (record building is most of a tick's cost, benchmarks/bench_simulator.py)."""
        a, p, ids, zones = tick.arrays, self.prefix, self._ids, self.config.zones
        wear_new, trip_new = _constructor(WearableReading), _constructor(TripPoint)
        append, status_of, riding = out.append, _STATUS, RIDING
        for i, on, hr, skin, peak, mean, var, steps, lat, lon, speed, along, alat, limit, phone, status, zone, leg in zip(
                tick.emit, a["wear"], a["hr"], a["skin"], a["peak"], a["mean"], a["var"], a["steps"], a["lat"], a["lon"],
                a["speed"], a["along"], a["alat"], a["limit"], a["phone"], a["status"], a["zone"], a["leg"]):
            rid = ids[i]
            if on:
                append(SimRecord("wearable", rid, wear_new({
                    "schema_version": 1, "event_id": f"{p}-w-{i}-{k}", "ts": ts, "rider_id": rid,
                    "heart_rate_bpm": hr, "skin_temp_c": skin, "accel_peak_g": peak,
                    "accel_mean_g": mean, "accel_var": var, "steps": steps, "on_body": True,
                })))
            append(SimRecord("trip", rid, trip_new({
                "schema_version": 1, "event_id": f"{p}-t-{i}-{k}", "ts": ts, "rider_id": rid,
                "zone_id": zones[zone], "status": status_of[status], "lat": lat, "lon": lon,
                "speed_kmh": speed, "accel_long_g": along, "accel_lat_g": alat,
                "speed_limit_kmh": limit, "phone_handling": phone,
                "trip_id": f"{p}-{i}-{leg}" if status == riding else None,
            })))

    def _malformed(self, n_emitted: int, t: float, ts: datetime, out: list[SimRecord]) -> None:
        rng = self.fault_rng
        for _ in range(int(rng.binomial(n_emitted, self.config.malformed_rate))):
            kind = draw_malformed_kind(rng)
            i = int(rng.integers(len(self._ids)))
            role = ("wearable", "trip", "weather")[int(rng.choice(3, p=(0.5, 0.4, 0.1)))]
            raw = malformed_payload(kind, self._ids[i], ts.isoformat().replace("+00:00", "Z"),
                                    f"{self.prefix}-m-{self._seq}-{self._k}", rng)
            self._seq += 1
            self._count(f"malformed:{kind}")
            out.append(SimRecord(role, self._ids[i], None, raw, None, f"malformed:{kind}"))


#: Alert kind → what a compliant rider does (``severity`` "danger" of weather → off the road).
ADVICE_BY_KIND = {"heat": "rest", "strain": "rest", "fatigue": "rest", "model_risk": "rest",
                  "riding": "calm", "weather": "calm"}


def advice_action(kind: str, severity: str = "warning") -> str | None:
    """The simulated rider's response to an alert kind (None: nothing to follow, e.g. a fall prompt).

    >>> advice_action("heat"), advice_action("weather", "danger"), advice_action("fall")
    ('rest', 'off_road', None)
    """
    if kind == "weather" and severity == "danger":
        return "off_road"
    return ADVICE_BY_KIND.get(kind)


def rider_hours(stats: SimStats) -> float:
    """Online rider-hours simulated so far."""
    return stats.online_s / 3600.0


