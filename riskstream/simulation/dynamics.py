"""Per-second dynamics of the whole fleet, vectorized over riders with numpy.

States: offline → waiting (pick-up) → riding → waiting (drop-off) → … with breaks
when continuous work exceeds the rider's habit, and ``down`` for a while after an
incident, then offline for the rest of the shift. Each second updates speed (red
lights, harsh brakes/accelerations/corners), position (toward the leg's destination
inside the home zone, sometimes another zone), phone handling, physiology (core
temperature and heart rate toward effort- and heat-driven targets, skin temperature),
the accelerometer summary, the true hazard and the incident draws.

Physiology (documented choices, not a validated thermoregulation model):
core temperature relaxes (τ 15 min up, 10 min down) toward
``base + 1.3·effort + 0.045·max(0, HI_°C − 27)`` (0.3× of the heat term on a break);
heart rate relaxes (τ 20 s up, 40 s down) toward
``HR_rest + effort·(HR_max − HR_rest) + 22·ΔTcore + 1·online hours``;
PSI (Moran 1998) uses the true core temperature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .hazard import KINDS, HazardContext, true_hazard
from .riders import RiderProfile, local_midnight, shift_blocks
from .weather import WeatherTruth

OFFLINE, RIDING, WAITING, ON_BREAK, DOWN = 0, 1, 2, 3, 4
KMH_PER_G_S = 35.3  # 1 g for 1 s changes speed by 9.81 m/s = 35.3 km/h
M_PER_DEG = 111_000.0
ZONE_RADIUS_DEG = 0.0225  # ≈ 2.5 km: destinations lie within this of the home-zone centre
KNOWN_ZONE_CENTRES = {
    "sh-pudong": (31.2215, 121.5440), "sh-jingan": (31.2286, 121.4476),
    "sh-minhang": (31.1128, 121.3816), "sh-baoshan": (31.4049, 121.4890),
}
ROAD_LIMITS = (np.nan, 20.0, 30.0, 40.0, 60.0)  # nan: the map has no limit
ROAD_LIMIT_WEIGHTS = (0.15, 0.25, 0.3, 0.2, 0.1)
HARSH_G = 0.35  # features.config default harsh-brake threshold
ZONE_CHANGE_PER_LEG = 0.03
RED_LIGHT_PER_S = 1.0 / 90.0
# Following "ride calmly" advice (closed-loop evaluation; project choices, not measured effects):
CALM_SPEED_FACTOR = 0.85  # cruise target while calm
CALM_HARSH_FACTOR = 0.3  # harsh brakes / accelerations / corners
CALM_PHONE_FACTOR = 0.2  # phone handling while riding
ADVICE_ACTIONS = ("rest", "off_road", "calm")
#: Impact signatures of crashes and falls: "classic" (every one a 4-10 g impact, then ≥ 20 s still) or "varied".
SIGNATURES = ("classic", "varied")
# "varied" (a fair test of the fall detector; project choices, not measured): impact peak 2-10 g
# (a soft fall can stay under the detector's 3 g), and after it the rider lies still (60 %),
# is still for under 5 s then moves (25 %, e.g. gets up), or never lies still (15 %, e.g. is
# helped up at once). Non-incident high-g events: a kerb or pothole while riding (3-7 g, no
# stillness, 1 per 30 riding min), a dropped phone or watch while waiting (3-9 g, then 10-60 s
# lying still, 1 per 2 waiting h); running to a door is the walking spike below.
VARIED_STILL_SHARES = (0.6, 0.25)  # lie still; brief stillness then moving; the rest never still
KERB_PER_RIDING_S = 1.0 / 1800.0
DROP_PER_WAITING_S = 1.0 / 7200.0
#: How random draws are keyed. "sequential": one stream per purpose, shared by the fleet in draw order
#: (the fleets the served model was trained and evaluated on; the default, byte-identical across versions).
#: "keyed": the per-tick draws come from a stream keyed by (seed, tick) with one column per rider, and the
#: event draws (legs, waits, breaks, incidents, impacts) from streams keyed by (seed, rider, leg or tick),
#: so two runs whose trajectories diverge (one rider follows advice in one arm) still share every other
#: draw: common random numbers for the outcome study.
RNG_KEYINGS = ("sequential", "keyed")


def zone_centres(zones: Sequence[str]) -> np.ndarray:
    """(lat, lon) per zone: known Shanghai districts, others on a ring around the centre."""
    out = []
    for i, z in enumerate(zones):
        ang = 2.0 * np.pi * i / max(len(zones), 1)
        out.append(KNOWN_ZONE_CENTRES.get(z, (31.23 + 0.12 * np.sin(ang), 121.47 + 0.14 * np.cos(ang))))
    return np.array(out)


@dataclass
class Tick:
    """What one second produced: exposure, incidents and per-rider values to emit."""

    online: int
    riding: int
    incidents: list[tuple[int, str]]
    emit: list[int]
    arrays: dict[str, list]
    hazard_lists: list[dict[str, float]] | None


class FleetState:
    """Arrays of rider state; :meth:`step` advances all riders by one tick."""

    def __init__(self, profiles: list[RiderProfile], zones: Sequence[str], start_epoch: float, seed: int,
                 dropout_rate: float = 0.0, signatures: str = "classic", rest_scale: float = 1.0,
                 rng_keying: str = "sequential") -> None:
        n = len(profiles)
        if signatures not in SIGNATURES:
            raise ValueError(f"signatures {signatures!r} is unknown; choose one of {SIGNATURES}")
        if rng_keying not in RNG_KEYINGS:
            raise ValueError(f"rng_keying {rng_keying!r} is unknown; choose one of {RNG_KEYINGS}")
        self.seed, self.start_epoch, self.keyed = seed, start_epoch, rng_keying == "keyed"
        self.n, self.profiles, self.dropout_rate = n, profiles, dropout_rate
        self.signatures, self.rest_scale = signatures, rest_scale
        self.signature_rng = np.random.default_rng([seed, 8])  # drawn only with "varied" signatures, every tick
        self.impact_rng = np.random.default_rng([seed, 9])  # ... and per incident, so the per-tick stream stays aligned
        self.moving_down = np.zeros(n, dtype=bool)  # down after an incident but moving (no stillness)
        self.expected_by_rider = np.zeros(n)  # ∫ true hazard dt per rider (expected incidents)
        self.expected_by_kind = np.zeros(len(KINDS))  # the same, summed over riders, by incident kind (KINDS)
        self.hazard_now = np.zeros(n)  # true hazard per hour of the last tick (0 when not active)
        self.online_s_by_rider = np.zeros(n)  # seconds waiting, riding or on a break
        self.rng = np.random.default_rng([seed, 2])
        self.incident_rng = np.random.default_rng([seed, 5])  # keeps the dynamics stream aligned across runs
        self.shift_rngs = [np.random.default_rng([seed, 4, p.index]) for p in profiles]
        col = lambda name: np.array([getattr(p, name) for p in profiles], dtype=float)  # noqa: E731
        self.aggr, self.cruise, self.harsh_p = col("aggressiveness"), col("cruise_kmh"), col("harsh_per_h") / 3600.0
        self.phone_p, self.break_every_s = col("phone_start_per_s"), col("break_every_min") * 60.0
        self.break_s, self.hr_rest, self.hr_max = col("break_min") * 60.0, col("hr_rest"), col("hr_max")
        self.core_base = col("core_base_c")
        self.centres = zone_centres(zones)
        self.home = np.array([p.home_zone for p in profiles])
        self.state = np.full(n, OFFLINE)
        self.left = np.zeros(n)  # seconds left in waiting / break / down
        self.speed, self.target = np.zeros(n), np.zeros(n)
        self.limit = np.full(n, np.nan)
        self.light, self.phone_left, self.still, self.drop = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
        self.walking, self.walk_frac = np.zeros(n, dtype=bool), np.full(n, 0.3)
        self.leg = np.zeros(n, dtype=int)
        self.leg_deadline = np.zeros(n)
        lat0, lon0 = self._points(self.home)
        self.lat, self.lon = lat0, lon0
        self.dest_lat, self.dest_lon = lat0.copy(), lon0.copy()
        self.hr, self.core = self.hr_rest.copy(), self.core_base.copy()
        self.skin = np.full(n, 33.0)
        self.cont_s, self.shift_s, self.harsh10 = np.zeros(n), np.zeros(n), np.zeros(n)
        self.shift_end = np.zeros(n)
        self.calm_until = np.full(n, -np.inf)  # riding calmly after advice, until this epoch
        self.shifts: list[list[tuple[float, float]]] = [[] for _ in range(n)]
        day0 = local_midnight(start_epoch) - 86400.0
        for i, p in enumerate(profiles):
            blocks = []
            for d in range(4):
                blocks += shift_blocks(p, day0 + d * 86400.0, self.shift_rngs[i])
            self._planned_until = day0 + 4 * 86400.0
            blocks = [b for b in sorted(blocks) if b[1] > start_epoch]
            if blocks and blocks[0][0] < start_epoch:  # the world begins at start: shift starts then
                dur = blocks[0][1] - blocks[0][0]
                s = start_epoch + float(self.shift_rngs[i].uniform(0.0, 600.0))
                blocks[0] = (s, s + dur)
            self.shifts[i] = blocks
        self.next_start = np.array([b[0][0] if b else np.inf for b in self.shifts])
        self._any_online, self._next_wake = True, -np.inf
        self.dropped = 0

    # ------------------------------------------------------------------ helpers

    def _tick_key(self, t: float) -> int:
        return int(round((t - self.start_epoch) * 1000.0))  # ms since start: one key per tick

    def _event_rng(self, stream: int, i: int, key: float | int) -> np.random.Generator:
        """Rider ``i``'s draws for one event: keyed (seed, stream, rider, ``key``), or the shared stream."""
        if not self.keyed:
            return {2: self.rng, 13: self.rng, 5: self.incident_rng, 9: self.impact_rng}[stream]
        return np.random.default_rng([self.seed, stream, 1000 + i, int(key), 1])  # 1: no trailing 0 (it would alias)

    def _points(self, zone_idx: np.ndarray, rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
        m = len(zone_idx)
        rng = self.rng if rng is None else rng
        r = ZONE_RADIUS_DEG * np.sqrt(rng.random(m))
        ang = 2.0 * np.pi * rng.random(m)
        c = self.centres[zone_idx]
        return c[:, 0] + r * np.sin(ang), c[:, 1] + r * np.cos(ang) / np.cos(np.radians(c[:, 0]))

    def _new_leg(self, i: int, t: float) -> None:
        rng = self._event_rng(2, i, 2 * self.leg[i])
        if len(self.centres) > 1 and rng.random() < ZONE_CHANGE_PER_LEG:
            d = np.hypot(*(self.centres - self.centres[self.home[i]]).T)
            w = np.where(d > 0, 1.0 / np.maximum(d, 1e-9), 0.0)
            self.home[i] = int(rng.choice(len(w), p=w / w.sum()))
        lat, lon = self._points(np.array([self.home[i]]), rng)
        self.dest_lat[i], self.dest_lon[i] = lat[0], lon[0]
        self.limit[i] = ROAD_LIMITS[int(rng.choice(len(ROAD_LIMITS), p=ROAD_LIMIT_WEIGHTS))]
        rush = 8.0 if rng.random() < 0.1 + 0.4 * self.aggr[i] else 0.0  # running late
        self.target[i] = self.cruise[i] * rng.uniform(0.9, 1.1) + rush
        self.leg[i] += 1
        self.leg_deadline[i] = t + 5400.0
        self.state[i] = RIDING

    def _wait(self, i: int, pickup: bool) -> None:
        self.state[i] = WAITING
        rng = self._event_rng(2, i, 2 * self.leg[i] + 1)
        self.left[i] = rng.uniform(120.0, 600.0) if pickup else rng.uniform(60.0, 360.0)
        self.walk_frac[i] = 0.25 if pickup else 0.75  # stairs and corridors at drop-off
        self.speed[i] = 0.0

    def _go_offline(self, i: int, t: float) -> None:
        self.state[i] = OFFLINE
        self.speed[i] = 0.0
        blocks = [b for b in self.shifts[i] if b[1] > t]
        if len(blocks) < 2:
            p, rng = self.profiles[i], self.shift_rngs[i]
            day = local_midnight(max(t, blocks[-1][0] if blocks else t)) + 86400.0
            blocks += shift_blocks(p, day, rng) + shift_blocks(p, day + 86400.0, rng)
        self.shifts[i] = blocks
        self.next_start[i] = blocks[0][0]

    def knock_down(self, i: int, kind: str, t: float, inc_rng: np.random.Generator | None = None,
                   imp_rng: np.random.Generator | None = None) -> None:
        """After an incident: stop, lie still (crash, fall) or sit (heat, exhaustion), then offline.

        ``inc_rng`` and ``imp_rng``: this incident's draws (default: the incident and impact streams).
        """
        self.state[i] = DOWN
        impact = kind in ("crash", "fall")
        inc_rng = self.incident_rng if inc_rng is None else inc_rng
        self.left[i] = inc_rng.uniform(20.0, 60.0) if impact else inc_rng.uniform(60.0, 180.0)
        self.still[i] = self.left[i] if impact else 0.0
        self.moving_down[i] = False
        if impact and self.signatures == "varied":
            imp_rng = self.impact_rng if imp_rng is None else imp_rng
            u = float(imp_rng.random())
            if u >= VARIED_STILL_SHARES[0]:
                self.moving_down[i] = True  # moving again: the detector has no stillness to see
                self.still[i] = float(imp_rng.uniform(0.0, 4.9)) if u < sum(VARIED_STILL_SHARES) else 0.0
        # the rest of this shift (and a split shift's second half) is lost
        self.shifts[i] = [b for b in self.shifts[i] if b[0] > self.shift_end[i] + 4 * 3600.0]

    def follow_advice(self, i: int, action: str, t: float, rng: np.random.Generator) -> bool:
        """Rider ``i`` follows advice at epoch ``t``; False when there is nothing to change.

        ``rest``: a 15-30 min break now (stop riding; an ongoing break lasts at least that long).
        ``off_road``: the same, 30-45 min, for dangerous weather. ``calm``: 30 min of slower
        riding with fewer harsh manoeuvres and no phone handling on the move (see ``CALM_*``).
        """
        if action not in ADVICE_ACTIONS:
            raise ValueError(f"unknown advice action {action!r}; choose one of {ADVICE_ACTIONS}")
        s = self.state[i]
        if s not in (RIDING, WAITING, ON_BREAK):
            return False
        if action == "calm":
            self.calm_until[i] = t + 1800.0
            return True
        lo, hi = (900.0, 1800.0) if action == "rest" else (1800.0, 2700.0)
        pause = float(rng.uniform(lo, hi)) * self.rest_scale
        if s == ON_BREAK:
            self.left[i] = max(self.left[i], pause)
        else:
            self.state[i] = ON_BREAK
            self.left[i] = pause
            self.speed[i] = 0.0
        return True

    # ------------------------------------------------------------------ transitions

    def _transitions(self, t: float, went_offline: list[int]) -> None:
        st = self.state
        starting = np.flatnonzero((st == OFFLINE) & (self.next_start <= t))
        for i in starting.tolist():
            blocks = self.shifts[i]
            start, end = blocks.pop(0)
            if end <= t:
                self._go_offline(i, t)
                continue
            self.shift_end[i], self.shift_s[i], self.cont_s[i] = end, 0.0, 0.0
            self.next_start[i] = np.inf
            self._wait(i, pickup=True)
        arrived = (st == RIDING) & (
            (np.hypot(self.dest_lat - self.lat, self.dest_lon - self.lon) * M_PER_DEG < 30.0)
            | (self.leg_deadline <= t))
        done = ((st == WAITING) | (st == ON_BREAK) | (st == DOWN)) & (self.left <= 0.0)
        for i in np.flatnonzero(arrived | done).tolist():
            s = st[i]
            if s == RIDING:
                self._wait(i, pickup=self.leg[i] % 2 == 1)
                continue
            if s == ON_BREAK:
                self.cont_s[i] = 0.0
            if s == DOWN or t >= self.shift_end[i]:
                self._go_offline(i, t)
                went_offline.append(i)
            elif s == WAITING and self.cont_s[i] >= self.break_every_s[i]:
                st[i] = ON_BREAK
                self.left[i] = self.break_s[i] * self._event_rng(13, i, self.leg[i]).uniform(0.8, 1.2)
            else:
                self._new_leg(i, t)

    # ------------------------------------------------------------------ one second

    def idle(self, t: float) -> bool:
        """True when nobody is online and no shift starts now: the tick has nothing to simulate."""
        if self._next_wake > t and not self._any_online:
            return True
        self._any_online = bool((self.state != OFFLINE).any())
        self._next_wake = float(self.next_start.min())
        return not self._any_online and self._next_wake > t

    def _weather_arrays(self, weather: list[WeatherTruth]) -> dict[str, np.ndarray]:
        if getattr(self, "_wx_src", None) is not weather:
            self._wx_src = weather
            get = lambda name, dtype=float: np.array([getattr(w, name) for w in weather], dtype=dtype)  # noqa: E731
            self._wx = {
                "hi": get("heat_index_f"), "temp": get("air_temp_c"), "precip": get("precipitation_mm_h"),
                "gust": get("wind_gust_ms"), "vis": get("visibility_m"), "flood": get("road_flooding", bool),
                "onset": get("rain_onset", bool), "freezing": get("freezing", bool), "night": get("night", bool),
                "dark": ~get("daylight", bool),
            }
        return self._wx

    def step(self, t: float, dt: float, weather: list[WeatherTruth], hazard_scale: float = 1.0,
             want_hazard: bool = False, rain_crash_drift: float = 1.0) -> Tick:
        """Advance every rider by ``dt`` seconds at epoch ``t``."""
        went_offline: list[int] = []
        self._transitions(t, went_offline)
        n, st = self.n, self.state
        rng = np.random.default_rng([self.seed, 12, self._tick_key(t), 1]) if self.keyed else self.rng
        U = rng.random((20, n))
        N = rng.standard_normal((10, n))
        riding, waiting, brk, down = st == RIDING, st == WAITING, st == ON_BREAK, st == DOWN
        active = riding | waiting | brk
        online = active | down
        coslat = np.cos(np.radians(self.lat))
        dz = (self.lat[:, None] - self.centres[:, 0]) ** 2 + ((self.lon[:, None] - self.centres[:, 1]) * coslat[:, None]) ** 2
        zone = dz.argmin(axis=1)
        wx = self._weather_arrays(weather)
        hi_f, air, precip = wx["hi"][zone], wx["temp"][zone], wx["precip"][zone]

        # speed: cruise target, red lights (aggressive riders run some), harsh events
        self.light -= dt
        new_light = riding & (self.light <= 0) & (U[0] < RED_LIGHT_PER_S * dt) & (U[1] >= 0.6 * self.aggr)
        self.light = np.where(new_light, 15.0 + 45.0 * U[2], self.light)
        stopping = riding & (self.light > 0)
        calm = self.calm_until > t
        harsh_rate = np.where(calm, CALM_HARSH_FACTOR * self.harsh_p, self.harsh_p)
        target = np.where(stopping, 0.0, np.where(calm, CALM_SPEED_FACTOR * self.target, self.target))
        dv = np.clip(target - self.speed, -4.0 * dt, (2.5 + 2.0 * self.aggr) * dt) + 0.6 * N[0]
        harsh_b = riding & (self.speed > 15.0) & (U[3] < harsh_rate * dt)
        harsh_a = riding & (self.speed < 12.0) & ~stopping & (U[4] < 0.7 * harsh_rate * dt)
        dv = np.where(harsh_b, -(0.35 + 0.4 * U[5]) * KMH_PER_G_S * dt, dv)
        dv = np.where(harsh_a, (0.35 + 0.2 * U[5]) * KMH_PER_G_S * dt, dv)
        speed = np.where(riding, np.clip(self.speed + dv, 0.0, 70.0), 0.0)
        along = np.clip(np.where(riding, (speed - self.speed) / KMH_PER_G_S / dt + 0.015 * N[1], 0.0), -3.0, 3.0)
        corner = riding & (speed > 12.0) & (U[6] < 0.5 * harsh_rate * dt)
        alat = np.where(corner, np.where(U[7] < 0.5, -1.0, 1.0) * (0.4 + 0.25 * U[8]), riding * 0.04 * N[2])
        self.speed = speed
        self.harsh10 = self.harsh10 * np.exp(-dt / 600.0) + (along <= -HARSH_G)

        # phone handling: episodes of 3-12 s while riding; often while waiting
        self.phone_left -= dt
        phone_rate = np.where(calm, CALM_PHONE_FACTOR * self.phone_p, self.phone_p)
        start_phone = riding & (self.phone_left <= 0) & (U[9] < phone_rate * dt)
        self.phone_left = np.where(start_phone, 3.0 + 9.0 * U[10], self.phone_left)
        phone = (riding & (self.phone_left > 0)) | (waiting & (U[10] < 0.4))

        # position toward the leg's destination
        dlat, dlon = self.dest_lat - self.lat, self.dest_lon - self.lon
        dist = np.hypot(dlat, dlon * coslat)
        frac = np.where(riding, np.minimum(1.0, speed / 3.6 * dt / M_PER_DEG / np.maximum(dist, 1e-12)), 0.0)
        self.lat += dlat * frac
        self.lon += dlon * frac

        # on foot during waits; a spike while walking is sometimes followed by sitting still (not a fall)
        p_stop = dt / 30.0
        p_start = p_stop * self.walk_frac / (1.0 - self.walk_frac)
        self.walking = waiting & np.where(self.walking, U[11] >= p_stop, U[11] < p_start)
        self.still -= dt
        spike = (riding & (U[12] < dt / 900.0)) | (self.walking & (U[12] < dt / 400.0))
        sit = self.walking & spike & (U[13] < 0.1)
        self.still = np.where(sit, 15.0 + 15.0 * U[14], self.still)
        self.walking &= ~sit
        if self.signatures == "varied":
            V = (rng if self.keyed else self.signature_rng).random((3, n))
            kerb = riding & ~spike & (V[0] < KERB_PER_RIDING_S * dt)
            dropped = waiting & ~self.walking & (V[1] < DROP_PER_WAITING_S * dt)
            spike = spike | kerb | dropped
            self.still = np.where(dropped, 10.0 + 50.0 * V[2], self.still)
            quiet = (self.still > 0) | (down & ~self.moving_down)
        else:
            quiet = (self.still > 0) | down

        # physiology
        effort = np.where(riding, 0.18 + 0.12 * self.aggr + 0.004 * speed,
                          np.where(self.walking, 0.45, np.where(waiting | down, 0.1, np.where(brk, 0.05, 0.0))))
        hi_c = (hi_f - 32.0) * 5.0 / 9.0
        tc_eq = (self.core_base + 1.3 * effort + 0.045 * np.maximum(0.0, hi_c - 27.0) * np.where(brk, 0.3, 1.0)
                 - 0.2 * (precip > 2.0))
        tau_c = np.where(tc_eq > self.core, 900.0, 600.0)
        self.core = np.where(online, self.core + (tc_eq - self.core) * dt / tau_c, self.core_base)
        hr_t = (self.hr_rest + effort * (self.hr_max - self.hr_rest) + 22.0 * (self.core - self.core_base)
                + self.shift_s / 3600.0)
        tau_h = np.where(hr_t > self.hr, 20.0, 40.0)
        self.hr = np.where(online, self.hr + (hr_t - self.hr) * np.minimum(1.0, dt / tau_h) + 0.8 * N[3], self.hr_rest)
        sk_t = 32.5 + 0.22 * (air - 25.0) + effort + 0.5 * (self.core - self.core_base) - 1.2 * (precip > 1.0)
        self.skin += (sk_t - self.skin) * min(1.0, dt / 180.0)
        psi = np.clip(5.0 * (self.core - self.core_base) / (39.5 - self.core_base)
                      + 5.0 * (self.hr - self.hr_rest) / (180.0 - self.hr_rest), 0.0, 10.0)
        self.cont_s += (riding | waiting) * dt
        self.shift_s += online * dt
        self.left -= dt

        # true hazard and incident draws
        limit = self.limit
        rates = true_hazard(HazardContext(
            riding=riding, on_foot=self.walking, online=active, on_break=brk, speed_kmh=speed,
            speeding=speed > limit + np.where(limit <= 48.0, 8.0, 16.0), phone_moving=phone & (speed >= 18.0),
            harsh_brakes_10m=self.harsh10, heat_index_f=hi_f, strain_psi=psi,
            continuous_riding_min=self.cont_s / 60.0, online_hours=self.shift_s / 3600.0,
            night=wx["night"][zone], dark=wx["dark"][zone], precip_mm_h=precip, rain_onset=wx["onset"][zone],
            road_flooding=wx["flood"][zone], visibility_m=wx["vis"][zone], wind_gust_ms=wx["gust"][zone],
            freezing=wx["freezing"][zone], aggressiveness=self.aggr, rain_crash_drift=rain_crash_drift))
        by_kind = np.vstack([rates.crash, rates.fall, rates.heat_illness, rates.exhaustion]) * hazard_scale
        total = by_kind.sum(axis=0)
        self.hazard_now = total * active
        self.expected_by_rider += self.hazard_now * (dt / 3600.0)
        self.expected_by_kind += (by_kind * active).sum(axis=1) * (dt / 3600.0)
        self.online_s_by_rider += active * dt
        hit = active & (U[15] < 1.0 - np.exp(-total * dt / 3600.0))
        status = st.copy()

        # accelerometer summary of the second
        an4 = np.abs(N[4])
        var = np.where(riding, 0.01 + 0.0015 * speed + 0.008 * an4, np.where(
            self.walking, 0.08 + 0.12 * U[16], np.where(waiting, 0.004 + 0.003 * an4, 0.002 + 0.001 * an4)))
        if self.signatures == "varied":  # down after an impact but moving: walking-like motion
            var = np.where(down & self.moving_down, 0.08 + 0.12 * U[16], var)
        var = np.where(quiet, 0.0001 + 0.0009 * U[16], var)
        mean = np.where(quiet, 1.0 + 0.002 * N[5], 1.0 + 0.01 * N[5] + 0.03 * self.walking)
        peak = mean + 2.5 * np.sqrt(var) + 0.03 * np.abs(N[6])
        peak = np.where(spike & ~quiet, 3.0 + 5.0 * U[17], peak)
        steps = np.where(self.walking, 1 + (U[18] < 0.6) + (U[18] < 0.1), 0)

        incidents: list[tuple[int, str]] = []
        for i in np.flatnonzero(hit).tolist():
            inc_rng, imp_rng = self._event_rng(5, i, self._tick_key(t)), self._event_rng(9, i, self._tick_key(t))
            x = inc_rng.random() * total[i]
            j = int(np.searchsorted(np.cumsum(by_kind[:, i]), x, side="right"))
            kind = KINDS[min(j, 3)]
            incidents.append((i, kind))
            if kind in ("crash", "fall"):
                peak[i] = 4.0 + 6.0 * inc_rng.random()  # impact, then stillness (see knock_down)
                var[i] = 0.3 + 0.5 * inc_rng.random()
                if self.signatures == "varied":  # a soft fall can stay under 3 g
                    peak[i] = 2.0 + 8.0 * float(imp_rng.random())
            if kind == "crash":
                along[i] = -min(3.0, 1.0 + speed[i] / KMH_PER_G_S)
                self.speed[i] = speed[i] = 0.0
            self.knock_down(i, kind, t, inc_rng, imp_rng)

        self.drop -= dt
        if self.dropout_rate:
            start_drop = online & (self.drop <= 0) & (U[19] < self.dropout_rate * dt / 65.0)
            self.drop = np.where(start_drop, 10.0 + 110.0 * U[17], self.drop)
        emit_mask = online.copy()
        emit_mask[went_offline] = True
        e = np.flatnonzero(emit_mask)
        wear = (online & (self.drop <= 0))[e]
        self.dropped = int((online & (self.drop > 0)).sum())
        limits = limit[e].tolist()
        r = np.round
        arrays = {
            "wear": wear.tolist(), "hr": r(np.clip(self.hr[e] + 1.5 * N[7][e], 35.0, 220.0), 1).tolist(),
            "skin": r(np.clip(self.skin[e] + 0.1 * N[8][e], 20.0, 42.0), 2).tolist(),
            "peak": r(np.minimum(peak[e], 32.0), 3).tolist(), "mean": r(mean[e], 3).tolist(),
            "var": r(var[e], 5).tolist(), "steps": steps[e].tolist(),
            "lat": r(self.lat[e] + 2.5e-5 * N[9][e], 6).tolist(), "lon": r(self.lon[e] + 2.5e-5 * N[9][e], 6).tolist(),
            "speed": r(speed[e], 1).tolist(), "along": r(along[e], 3).tolist(), "alat": r(alat[e], 3).tolist(),
            "limit": [None if x != x else x for x in limits], "phone": phone[e].tolist(),
            "status": status[e].tolist(), "zone": zone[e].tolist(), "leg": self.leg[e].tolist(),
        }
        hazard_lists = None
        if want_hazard:
            bk = (by_kind[:, e] * active[e]).T.tolist()
            hazard_lists = [{"accident": c, "injury": f + h + x, "crash": c, "fall": f, "heat_illness": h,
                             "exhaustion": x} for c, f, h, x in bk]
        return Tick(int(active.sum()), int(riding.sum()), incidents, e.tolist(), arrays, hazard_lists)
