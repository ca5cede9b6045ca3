"""The outcome study: do the alerts prevent incidents, better than alerts at random?

Five arms on **common random numbers**: every arm of a (scenario, seed) unit simulates the same
riders, the same weather and the same per-tick random draws (``FleetSimulator`` keeps its dynamics,
incident and signature streams aligned; see ``riskstream.simulation``). What differs is who gets
which alert and when:

- ``control``: no alert reaches the riders (alerts ignored);
- ``policy``: the worker's decision path (:func:`riskstream.lab.run.run_fleet` drives a real
  ``Processor`` in-process), riders following advice with probability ``c``;
- ``placebo``: each rider gets alerts at random online moments at the policy arm's rate for that
  rider (alerts per online hour) and with that rider's kind and severity mix, same ``c``;
- ``rules``: the worker's decision path with no model artifact, so it scores with the conservative
  rule-based scorer (the worker's own fallback);
- ``oracle``: in each minute, as many alerts as the policy sent in that minute, with the same kinds
  and severities, go to the online riders with the highest *true* hazard (not alerted by the oracle in
  the last 30 min when others are left): the upper bound for targeting at the policy's volume.

Two estimators, paired by seed: **incidents** (the realised count; an exact conditional-Poisson
interval for the ratio of two arms, treated as independent: conservative under common random numbers)
and **expected incidents** (Σ ∫ true hazard dt along each arm's trajectory: what the arm's
behaviour earns, without the Bernoulli noise of the draws). The interval of an expected-incidents
ratio is a ratio estimator over (seed, rider) pairs — the same rider on the same random numbers in
both arms — with a t quantile.
"""

from __future__ import annotations

import logging
import math
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import t as student_t

from riskstream.lab.closed_loop import rate_ratio_interval
from riskstream.lab.matching import AlertEvent, AlertIndex, IncidentEvent, alert_rates, detected_share, warned_share
from riskstream.simulation import FleetSimulator, SimConfig
from riskstream.simulation.dynamics import ON_BREAK, RIDING, WAITING
from riskstream.simulation.hazard import KINDS
from streams.settings import Settings

ARMS = ("control", "policy", "placebo", "rules", "oracle")
DIFFERENCES = {"policy_minus_control": ("policy", "control"), "policy_minus_placebo": ("policy", "placebo"),
               "oracle_minus_policy": ("oracle", "policy")}
SCENARIOS = ("default", "mixed")
CHUNK_S = 60.0  # alerts go back to the simulator once per simulated minute, as in run_fleet
ORACLE_REST_S = 1800.0  # the oracle does not re-alert a rider within this when others are left
DETECTION_WINDOW_S = 180.0
#: What following advice does, as the simulator implements it (riskstream.simulation.dynamics).
ASSUMPTIONS: tuple[tuple[str, str, str], ...] = (
    ("compliance c", "0.7 (sensitivity 0.3 / 0.5 / 0.7)", "assumed"),
    ("heat, strain, fatigue, model-risk alert followed", "a 15-30 min break now", "assumed"),
    ("weather danger followed", "off the road 30-45 min", "assumed"),
    ("riding alert or weather warning followed", "30 min at 85 % speed, 30 % of harsh manoeuvres, "
     "20 % of phone handling on the move", "assumed (speed → crash risk: Nilsson power model, v²)"),
    ("on a break: crash hazard", "0 (off the road)", "by construction"),
    ("on a break: fall hazard", "0.1× of on foot", "assumed"),
    ("on a break: heat illness / exhaustion", "0.3× / 0.5× (shade, rest)", "assumed"),
    ("break effect (sensitivity)", "break length × 0.5 / × 1", "assumed"),
    ("push delivery", "within the simulated minute the alert is sent", "assumed"),
)


@dataclass
class ArmRun:
    """One arm of one (scenario, seed) unit, reduced to what the study reports."""

    arm: str
    scenario: str
    seed: int
    compliance: float
    rest_scale: float
    rider_ids: list[str]
    online_h_by_rider: list[float]
    expected_by_rider: list[float]
    incidents: list[IncidentEvent]
    alerts: list[AlertEvent]
    advice_followed: int
    weather_trace: list[tuple[float, ...]] = field(default_factory=list)  # per weather step, per zone
    moments: list[tuple[str, float]] = field(default_factory=list)
    #: Σ ∫ true hazard dt over riders by incident kind (crash, fall, heat_illness, exhaustion).
    expected_by_kind: dict[str, float] = field(default_factory=dict)

    @property
    def online_hours(self) -> float:
        return float(sum(self.online_h_by_rider))

    @property
    def expected(self) -> float:
        return float(sum(self.expected_by_rider))


@dataclass(frozen=True)
class Unit:
    """One (scenario, seed) of the study; every arm of it runs in one process, on the same random numbers."""

    scenario: str
    seed: int
    riders: int
    hours: float
    compliance: float = 0.7
    sensitivity: tuple[tuple[float, float], ...] = ()  # extra (compliance, rest_scale) policy/placebo/control runs
    signatures: str = "varied"
    #: "keyed": every rider's per-tick and event draws keyed by (seed, rider, tick or event), so arms stay on
    #: common random numbers after their trajectories diverge; "sequential": the open-loop simulator's streams.
    rng_keying: str = "keyed"
    #: Placebo runs per unit with different random alert placements; the placebo's expected incidents and online
    #: hours per rider are their mean (the placebo stands for random alerts, not for one draw of them).
    placebo_draws: int = 1

    def config(self, compliance: float, rest_scale: float = 1.0) -> SimConfig:
        return SimConfig(riders=self.riders, seed=self.seed, scenario=self.scenario, advice_compliance=compliance,
                         rest_scale=rest_scale, signatures=self.signatures, rng_keying=self.rng_keying)


def _weather_row(sim: FleetSimulator) -> tuple[float, ...]:
    return tuple(round(w.precipitation_mm_h, 3) for w in sim.weather) + tuple(round(w.air_temp_c, 3) for w in sim.weather)


def _active(sim: FleetSimulator) -> np.ndarray:
    s = sim.state.state
    return (s == RIDING) | (s == WAITING) | (s == ON_BREAK)


def _minutes(unit: Unit) -> int:
    """How many ``CHUNK_S`` steps an arm of ``unit`` runs."""
    return max(1, int(round(unit.hours * 3600.0 / CHUNK_S)))


def _finish(arm: str, unit: Unit, sim: FleetSimulator, alerts: list[AlertEvent], trace: list[tuple[float, ...]],
            moments: list[tuple[str, float]] | None = None) -> ArmRun:
    c = sim.config
    return ArmRun(
        arm=arm, scenario=unit.scenario, seed=unit.seed, compliance=c.advice_compliance, rest_scale=c.rest_scale,
        rider_ids=[p.rider_id for p in sim.profiles],
        online_h_by_rider=(sim.state.online_s_by_rider / 3600.0).tolist(),
        expected_by_rider=sim.state.expected_by_rider.tolist(),
        incidents=[IncidentEvent(str(i["rider_id"]), float(i["epoch"]), str(i["kind"]))  # type: ignore[arg-type]
                   for i in sim.incident_log],
        alerts=alerts, advice_followed=sum(bool(a["followed"]) for a in sim.advice_log), weather_trace=trace,
        moments=moments or [],
        expected_by_kind=dict(zip(KINDS, sim.state.expected_by_kind.tolist())),
    )


def run_simulated_arm(arm: str, unit: Unit, policy: ArmRun | None, compliance: float, rest_scale: float = 1.0,
                      draw: int = 0, hazards: list[np.ndarray] | None = None) -> ArmRun:
    """``control``, ``placebo`` or ``oracle``: the world stepped without records, alerts chosen here.

    ``policy`` (the policy arm of the same unit) sets the placebo's per-rider rates and kind mix and
    the oracle's per-minute volume and kinds. ``draw`` numbers the placebo's random alert placements.
    ``hazards``, if given, receives every rider's true hazard after each simulated minute (one array a minute).
    ``fleet_placebo``: random alerts at the policy's *fleet* rate (its alerts per online hour, every rider
    alike) and pooled kind mix: it does not copy whom the policy alerted, so the policy's choice of riders counts.
    """
    if arm not in ("control", "placebo", "oracle", "fleet_placebo"):
        raise ValueError(f"{arm!r} is not a simulator-only arm")
    if arm != "control" and policy is None:
        raise ValueError(f"the {arm} arm needs the policy arm of the same unit")
    pooled = arm == "fleet_placebo"
    sim = FleetSimulator(unit.config(compliance if arm != "control" else 0.0, rest_scale))
    key = len(ARMS) if pooled else ARMS.index(arm)
    rng = np.random.default_rng([unit.seed, 7, key] + ([draw] if draw else []))
    ids = [p.rider_id for p in sim.profiles]
    rate_per_s = np.zeros(len(ids))
    mix: dict[int, list[tuple[str, str]]] = defaultdict(list)
    per_chunk: dict[int, list[tuple[str, str]]] = defaultdict(list)
    if policy is not None:
        index = {rid: i for i, rid in enumerate(ids)}
        for a in policy.alerts:
            per_chunk[int((a.epoch - sim.start_epoch) // CHUNK_S)].append((a.kind, a.severity))
        if pooled:  # one rate and one mix for every rider
            online_s = sum(policy.online_h_by_rider) * 3600.0
            rate_per_s[:] = len(policy.alerts) / online_s if online_s > 0 else 0.0
            every = [(a.kind, a.severity) for a in policy.alerts]
            mix = defaultdict(lambda: every)
        else:
            for i, n in Counter(index[a.rider_id] for a in policy.alerts).items():
                online_s = policy.online_h_by_rider[i] * 3600.0
                rate_per_s[i] = n / online_s if online_s > 0 else 0.0
            for a in policy.alerts:
                mix[index[a.rider_id]].append((a.kind, a.severity))
    alerts: list[AlertEvent] = []
    trace: list[tuple[float, ...]] = []
    last_oracle = np.full(len(ids), -np.inf)
    for j in range(_minutes(unit)):
        sim.advance(CHUNK_S)
        trace.append(_weather_row(sim))
        if hazards is not None:
            hazards.append(sim.state.hazard_now.copy())
        now = sim.now
        if arm in ("placebo", "fleet_placebo"):
            active = _active(sim)
            n_alerts = rng.poisson(rate_per_s * CHUNK_S)
            for i in np.flatnonzero(active & (n_alerts > 0)).tolist():
                for _ in range(int(n_alerts[i])):
                    kind, severity = mix[i][int(rng.integers(len(mix[i])))]
                    alerts.append(AlertEvent(ids[i], now, kind, severity))
                    sim.advise(ids[i], kind, now, severity)
        elif arm == "oracle" and per_chunk.get(j):
            hazard = sim.state.hazard_now
            candidates = np.flatnonzero(hazard > 0)
            rested = candidates[now - last_oracle[candidates] >= ORACLE_REST_S]
            pool = rested if len(rested) >= len(per_chunk[j]) else candidates
            order = pool[np.argsort(-hazard[pool], kind="stable")]
            for i, (kind, severity) in zip(order.tolist(), per_chunk[j]):
                last_oracle[i] = now
                alerts.append(AlertEvent(ids[i], now, kind, severity))
                sim.advise(ids[i], kind, now, severity)
    return _finish(arm, unit, sim, alerts, trace)


def plan_per_rider(policy: ArmRun, hazard: np.ndarray, rest_s: float = ORACLE_REST_S) -> dict[int, list[tuple[int, str, str]]]:
    """Each rider's policy alerts moved to that rider's highest-hazard minutes: ``{minute: [(rider, kind, severity)]}``.

    ``hazard`` is minutes × riders of true hazard in the untreated world (the control arm). A rider gets as many
    alerts as the policy sent that rider, with the same kinds and severities in the same order, at the minutes of
    highest hazard at least ``rest_s`` apart (greedy): the study's oracle made per rider. The placebo keeps the
    same per-rider volume and mix at random moments, so a policy beats it only by choosing *when* (whom it
    alerts, the placebo copies); ``rider_oracle − placebo`` is what choosing when by the world's true hazard
    earns. It is a yardstick, not a proven ceiling: a break's worth also depends on what the rider would have
    done (one near a habitual break loses little), which the hazard of the moment does not see.

    >>> run = ArmRun("policy", "d", 0, 0.7, 1.0, ["a", "b"], [1, 1], [0, 0], [],
    ...              [AlertEvent("a", 0.0, "heat", "danger"), AlertEvent("a", 60.0, "fall", "danger")], 0)
    >>> h = np.array([[0.1, 0.0], [0.5, 0.9], [0.4, 0.0], [0.2, 0.0], [0.9, 0.0]])
    >>> plan_per_rider(run, h, rest_s=120.0)   # rider a: minutes 4 and 1 (2 is too close to 1); b: none
    {1: [(0, 'heat', 'danger')], 4: [(0, 'fall', 'danger')]}
    """
    index = {rid: i for i, rid in enumerate(policy.rider_ids)}
    wanted: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for a in sorted(policy.alerts, key=lambda a: a.epoch):
        wanted[index[a.rider_id]].append((a.kind, a.severity))
    gap = max(1, int(math.ceil(rest_s / CHUNK_S)))
    plan: dict[int, list[tuple[int, str, str]]] = defaultdict(list)
    for i, kinds in wanted.items():
        chosen: list[int] = []
        for j in np.argsort(-hazard[:, i], kind="stable").tolist():
            if len(chosen) == len(kinds) or hazard[j, i] <= 0:
                break
            if all(abs(j - k) >= gap for k in chosen):
                chosen.append(j)
        for j, (kind, severity) in zip(sorted(chosen), kinds):
            plan[j].append((i, kind, severity))
    return dict(sorted(plan.items()))


def run_rider_oracle(unit: Unit, policy: ArmRun, hazard: np.ndarray, compliance: float,
                     rest_scale: float = 1.0) -> ArmRun:
    """The world stepped with the alerts of :func:`plan_per_rider` (``hazard``: the control arm's, per minute)."""
    sim = FleetSimulator(unit.config(compliance, rest_scale))
    ids = [p.rider_id for p in sim.profiles]
    plan = plan_per_rider(policy, hazard)
    alerts: list[AlertEvent] = []
    for j in range(_minutes(unit)):
        sim.advance(CHUNK_S)
        for i, kind, severity in plan.get(j, []):
            alerts.append(AlertEvent(ids[i], sim.now, kind, severity))
            sim.advise(ids[i], kind, sim.now, severity)
    return _finish("rider_oracle", unit, sim, alerts, [])


def run_placebo(unit: Unit, policy: ArmRun, compliance: float, rest_scale: float = 1.0,
                arm: str = "placebo") -> ArmRun:
    """The placebo arm (or ``fleet_placebo``) over ``unit.placebo_draws`` random placements: draw 0's alerts and
    incidents, with expected incidents (per rider and by kind) and online hours per rider averaged over the draws."""
    runs = [run_simulated_arm(arm, unit, policy, compliance, rest_scale, d) for d in range(max(1, unit.placebo_draws))]
    first = runs[0]
    if len(runs) > 1:
        first.expected_by_rider = np.mean([r.expected_by_rider for r in runs], axis=0).tolist()
        first.online_h_by_rider = np.mean([r.online_h_by_rider for r in runs], axis=0).tolist()
        first.expected_by_kind = {k: float(np.mean([r.expected_by_kind[k] for r in runs])) for k in first.expected_by_kind}
    return first


def rules_settings(settings: Settings) -> Settings:
    """The settings with an empty model directory: the worker finds no artifact and scores with the rules."""
    empty = Path(tempfile.mkdtemp(prefix="riskstream-no-model-"))
    return settings.model_copy(update={"worker": settings.worker.model_copy(update={"model_dir": empty})})


def run_processor_arm(arm: str, unit: Unit, settings: Settings, compliance: float, rest_scale: float = 1.0) -> ArmRun:
    """``policy`` or ``rules``: the simulated fleet through a real Processor (:func:`run_fleet`)."""
    from riskstream.lab.run import run_fleet

    if arm not in ("policy", "rules"):
        raise ValueError(f"{arm!r} is not a processor arm")
    s = rules_settings(settings) if arm == "rules" else settings
    holder: dict[str, FleetSimulator] = {}
    host_log = logging.getLogger("streams.processor")  # the model host logs as the worker
    level = host_log.level
    if arm == "rules":  # the missing artifact is the point of this arm, not an error to report
        host_log.setLevel(logging.CRITICAL)
    try:
        run = run_fleet(unit.config(compliance, rest_scale), unit.hours, s, chunk_s=CHUNK_S, keep_simulator=holder)
    finally:
        host_log.setLevel(level)
    sim = holder["sim"]
    return _finish(arm, unit, sim, run.alerts, [], run.moments)


@dataclass
class UnitResult:
    """Every arm of one unit; ``sensitivity`` maps (compliance, rest_scale) to its policy, placebo and control arms."""

    unit: Unit
    arms: dict[str, ArmRun]
    sensitivity: dict[tuple[float, float], dict[str, ArmRun]] = field(default_factory=dict)


def run_unit(unit: Unit, settings: Settings) -> UnitResult:
    """All arms of one (scenario, seed), policy first (the placebo and the oracle copy its volume)."""
    policy = run_processor_arm("policy", unit, settings, unit.compliance)
    arms = {"policy": policy}
    for arm in ("control", "placebo", "oracle"):
        arms[arm] = (run_placebo(unit, policy, unit.compliance) if arm == "placebo"
                     else run_simulated_arm(arm, unit, policy, unit.compliance))
    arms["rules"] = run_processor_arm("rules", unit, settings, unit.compliance)
    sens: dict[tuple[float, float], dict[str, ArmRun]] = {}
    for c, scale in unit.sensitivity:
        if (c, scale) == (unit.compliance, 1.0):
            continue
        p = run_processor_arm("policy", unit, settings, c, scale)
        sens[(c, scale)] = {"policy": p, "placebo": run_placebo(unit, p, c, scale),
                            "control": arms["control"]}
    return UnitResult(unit, {a: arms[a] for a in ARMS}, sens)


# ---------------------------------------------------------------------- estimators

def expected_ratio(a: list[ArmRun], b: list[ArmRun], conf: float = 0.95) -> tuple[float, float, float]:
    """Σ expected(a) / Σ expected(b) − 1 with its interval, over (seed, rider) pairs (ratio estimator).

    ``a`` and ``b`` are the two arms' runs of the same units, in the same order.

    >>> mk = lambda e: ArmRun("x", "d", 0, 0.7, 1.0, ["r0", "r1", "r2"], [1, 1, 1], e, [], [], 0)
    >>> rel, lo, hi = expected_ratio([mk([0.9, 1.8, 2.7])], [mk([1.0, 2.0, 3.0])])
    >>> round(rel, 3), round(lo, 3), round(hi, 3)
    (-0.1, -0.1, -0.1)
    """
    ya = np.concatenate([np.asarray(r.expected_by_rider) for r in a])
    yb = np.concatenate([np.asarray(r.expected_by_rider) for r in b])
    if ya.shape != yb.shape:
        raise ValueError("the two arms must hold the same units (same seeds and riders)")
    n, total_b = len(ya), float(yb.sum())
    if total_b <= 0 or n < 2:
        return math.nan, math.nan, math.nan
    ratio = float(ya.sum()) / total_b
    d = ya - ratio * yb
    se = math.sqrt(n / (n - 1) * float((d * d).sum())) / total_b
    q = float(student_t.ppf(0.5 + conf / 2, n - 1))
    return ratio - 1.0, ratio - 1.0 - q * se, ratio - 1.0 + q * se


def expected_rate_ratio(a: list[ArmRun], b: list[ArmRun], conf: float = 0.95) -> tuple[float, float, float]:
    """Expected incidents per online rider-hour of ``a`` over those of ``b``, − 1, with its interval.

    An arm that prevents an incident keeps the rider online longer, and the extra hours earn
    hazard back; the rate compares the arms per hour of exposure. The interval linearises
    ``(Σ ya / Σ ha) / (Σ yb / Σ hb)`` over (seed, rider) pairs (each pair's share of the four totals),
    with a t quantile; with equal hours in both arms it is :func:`expected_ratio`'s interval.

    >>> mk = lambda e, h: ArmRun("x", "d", 0, 0.7, 1.0, ["r0", "r1", "r2"], h, e, [], [], 0)
    >>> rel, lo, hi = expected_rate_ratio([mk([0.9, 1.8, 2.7], [2, 2, 2])], [mk([1.0, 2.0, 3.0], [1, 1, 1])])
    >>> round(rel, 3), round(lo, 3), round(hi, 3)   # 10 % fewer incidents in twice the hours: 55 % lower rate
    (-0.55, -0.55, -0.55)
    """
    ya = np.concatenate([np.asarray(r.expected_by_rider) for r in a])
    yb = np.concatenate([np.asarray(r.expected_by_rider) for r in b])
    ha = np.concatenate([np.asarray(r.online_h_by_rider) for r in a])
    hb = np.concatenate([np.asarray(r.online_h_by_rider) for r in b])
    if ya.shape != yb.shape or ha.shape != ya.shape or hb.shape != yb.shape:
        raise ValueError("the two arms must hold the same units (same seeds and riders)")
    n = len(ya)
    ta, tb, tha, thb = float(ya.sum()), float(yb.sum()), float(ha.sum()), float(hb.sum())
    if n < 2 or min(ta, tb, tha, thb) <= 0:
        return math.nan, math.nan, math.nan
    ratio = (ta / tha) / (tb / thb)
    z = ya / ta - ha / tha - yb / tb + hb / thb  # each pair's share of log(ratio); sums to 0
    se = ratio * math.sqrt(n / (n - 1) * float((z * z).sum()))
    q = float(student_t.ppf(0.5 + conf / 2, n - 1))
    return ratio - 1.0, ratio - 1.0 - q * se, ratio - 1.0 + q * se


def incidents_ratio(a: list[ArmRun], b: list[ArmRun]) -> tuple[float, float, float]:
    """count(a) / count(b) − 1 with the exact conditional-Poisson 95 % interval (arms as independent)."""
    na, nb = sum(len(r.incidents) for r in a), sum(len(r.incidents) for r in b)
    r, lo, hi = rate_ratio_interval(na, 1.0, nb, 1.0)
    return r - 1.0, lo - 1.0, hi - 1.0


def incidents_rate_ratio(a: list[ArmRun], b: list[ArmRun]) -> tuple[float, float, float]:
    """Incidents per online rider-hour of ``a`` over ``b``, − 1, with the exact conditional-Poisson 95 % interval."""
    na, nb = sum(len(r.incidents) for r in a), sum(len(r.incidents) for r in b)
    r, lo, hi = rate_ratio_interval(na, sum(x.online_hours for x in a), nb, sum(x.online_hours for x in b))
    return r - 1.0, lo - 1.0, hi - 1.0


def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 4)


def arm_summary(runs: list[ArmRun]) -> dict[str, Any]:
    hours = sum(r.online_hours for r in runs)
    n_alerts = sum(len(r.alerts) for r in runs)
    return {
        "alerts_per_online_rider_hour": _num(n_alerts / hours) if hours else None,
        "incidents": sum(len(r.incidents) for r in runs),
        "expected_incidents": _num(sum(r.expected for r in runs)),
        "online_rider_hours": _num(hours),
        "incidents_per_online_rider_hour": _num(sum(len(r.incidents) for r in runs) / hours) if hours else None,
        "expected_incidents_per_online_rider_hour": _num(sum(r.expected for r in runs) / hours) if hours else None,
        "incidents_by_kind": dict(sorted(Counter(i.kind for r in runs for i in r.incidents).items())),
        "expected_incidents_by_kind": {k: _num(sum(r.expected_by_kind.get(k, 0.0) for r in runs)) for k in KINDS},
        "advice_followed": sum(r.advice_followed for r in runs),
    }


def difference(a: list[ArmRun], b: list[ArmRun]) -> dict[str, Any]:
    rel, lo, hi = expected_ratio(a, b)
    irel, ilo, ihi = incidents_ratio(a, b)
    rrel, rlo, rhi = expected_rate_ratio(a, b)
    jrel, jlo, jhi = incidents_rate_ratio(a, b)
    return {"expected_incidents_rel": _num(rel), "ci": [_num(lo), _num(hi)],
            "incidents_rel": _num(irel), "incidents_ci": [_num(ilo), _num(ihi)],
            "expected_incidents_per_hour_rel": _num(rrel), "expected_incidents_per_hour_ci": [_num(rlo), _num(rhi)],
            "incidents_per_hour_rel": _num(jrel), "incidents_per_hour_ci": [_num(jlo), _num(jhi)]}


def per_rider_alert_rates(runs: list[ArmRun], min_hours: float = 1.0) -> list[float]:
    """Alerts per online hour of each rider with at least ``min_hours`` online."""
    out = []
    for r in runs:
        counts = Counter(a.rider_id for a in r.alerts)
        for rid, h in zip(r.rider_ids, r.online_h_by_rider):
            if h >= min_hours:
                out.append(counts.get(rid, 0) / h)
    return out


def fall_detection(runs: list[ArmRun], window_s: float = DETECTION_WINDOW_S) -> dict[str, Any]:
    """Recall of the fall prompt on crashes and falls, and prompts with no impact before them per online rider-hour."""
    detected = impacts = false = 0
    for r in runs:
        idx = AlertIndex(r.alerts)
        hit, n = detected_share(r.incidents, idx, window_s)
        detected, impacts = detected + hit, impacts + n
        by_rider: dict[str, list[float]] = defaultdict(list)
        for i in r.incidents:
            if i.kind in ("crash", "fall"):
                by_rider[i.rider_id].append(i.epoch)
        for a in r.alerts:
            if a.kind == "fall" and not any(0.0 <= a.epoch - t <= window_s for t in by_rider.get(a.rider_id, ())):
                false += 1
    hours = sum(r.online_hours for r in runs)
    return {"impacts": impacts, "detected": detected, "recall": _num(detected / impacts) if impacts else None,
            "false_prompts": false, "false_prompts_per_online_rider_hour": _num(false / hours) if hours else None}


def warned(runs: list[ArmRun]) -> list[dict[str, Any]]:
    """Warned-ahead shares (relevant alert within 60 min) with the chance level, pooled over runs."""
    incidents = [i for r in runs for i in r.incidents]
    rows = defaultdict(lambda: [0, 0, 0.0])  # type: ignore[var-annotated]
    for r in runs:
        for w in warned_share(r.incidents, AlertIndex(r.alerts), r.moments):
            row = rows[w.kind]
            row[0] += w.incidents
            row[1] += w.warned
            row[2] += (w.chance if math.isfinite(w.chance) else 0.0) * w.incidents
    _ = incidents
    return [{"kind": k, "incidents": v[0], "warned": v[1], "share": _num(v[1] / v[0]) if v[0] else None,
             "chance": _num(v[2] / v[0]) if v[0] else None} for k, v in rows.items()]


def _by_kind(runs: list[ArmRun]) -> dict[str, float | None]:
    """Alerts per online rider-hour by kind and severity (``kind/severity``), ``all`` and ``warnings`` (no fall prompts)."""
    hours = sum(r.online_hours for r in runs)
    if hours <= 0:
        return {}
    rates = alert_rates([AlertEvent(a.rider_id, a.epoch, f"{a.kind}/{a.severity}", a.severity)
                         for r in runs for a in r.alerts], hours)
    rates["warnings"] = sum(len([a for a in r.alerts if a.kind != "fall"]) for r in runs) / hours
    return {k: _num(v) for k, v in rates.items()}


def summarize(results: list[UnitResult], riders: int, hours: float, seeds: list[int], compliance: float,
              quick: bool) -> dict[str, Any]:
    """The study as the JSON of ``riskstream evaluate-outcome --json`` (the shape issue 16 asks for, plus details)."""
    out: dict[str, Any] = {"scenarios": {}, "setup": {
        "riders": riders, "hours": hours, "seeds": seeds, "compliance": compliance, "quick": quick,
        "chunk_s": CHUNK_S, "signatures": results[0].unit.signatures if results else None,
        "rng_keying": results[0].unit.rng_keying if results else None,
        "placebo_draws": results[0].unit.placebo_draws if results else None}}
    for scenario in sorted({r.unit.scenario for r in results}, key=lambda s: SCENARIOS.index(s) if s in SCENARIOS else 9):
        units = [r for r in results if r.unit.scenario == scenario]
        arms = {a: [u.arms[a] for u in units] for a in ARMS}
        section: dict[str, Any] = {
            "rider_hours": _num(sum(r.online_hours for r in arms["control"])),
            "arms": {a: arm_summary(runs) for a, runs in arms.items()},
            "differences": {name: difference(arms[a], arms[b]) for name, (a, b) in DIFFERENCES.items()},
            "vs_control": {a: difference(arms[a], arms["control"]) for a in ("placebo", "rules", "oracle")},
            # how much room targeting has over random alerts at the same volume (the oracle's true-hazard targeting)
            "vs_placebo": {a: difference(arms[a], arms["placebo"]) for a in ("rules", "oracle")},
            "fall_detection": fall_detection(arms["policy"]),
            "warned_ahead": warned(arms["policy"]),
            "warned_ahead_placebo": [{k: w[k] for k in ("kind", "incidents", "warned", "share")}
                                     for w in warned(arms["placebo"])],
            "policy_alerts_per_rider_hour_by_rider": [_num(x) for x in per_rider_alert_rates(arms["policy"])],
            "policy_alerts_per_online_rider_hour_by_kind": _by_kind(arms["policy"]),
        }
        pp = section["differences"]["policy_minus_placebo"]
        half, rate_half = pp["ci"], pp["expected_incidents_per_hour_ci"]
        if None not in half:
            hw = (half[1] - half[0]) / 2.0
            section["power"] = {"policy_minus_placebo_half_width": _num(hw), "target_half_width": 0.05,
                                "rider_hours_for_target": _num(section["rider_hours"] * (hw / 0.05) ** 2)}
            if None not in rate_half:
                rhw = (rate_half[1] - rate_half[0]) / 2.0
                section["power"]["policy_minus_placebo_per_hour_half_width"] = _num(rhw)
                section["power"]["rider_hours_for_target_per_hour"] = _num(section["rider_hours"] * (rhw / 0.05) ** 2)
        sens = []
        keys = sorted({k for u in units for k in u.sensitivity} | {(compliance, 1.0)})
        sens_units = [u for u in units if u.sensitivity]  # every row on the same units (those that ran them)
        control = [u.arms["control"] for u in sens_units]
        for c, scale in keys if sens_units else ():
            if (c, scale) == (compliance, 1.0):
                pol, pla = [u.arms["policy"] for u in sens_units], [u.arms["placebo"] for u in sens_units]
            else:
                if not all((c, scale) in u.sensitivity for u in sens_units):
                    continue
                pol = [u.sensitivity[(c, scale)]["policy"] for u in sens_units]
                pla = [u.sensitivity[(c, scale)]["placebo"] for u in sens_units]
            sens.append({"compliance": c, "rest_scale": scale,
                         "policy_minus_control": difference(pol, control),
                         "policy_minus_placebo": difference(pol, pla)})
        if len(sens) > 1:
            section["sensitivity"] = sens
            section["sensitivity_seeds"] = sorted(u.unit.seed for u in sens_units)
        out["scenarios"][scenario] = section
    return out


SENSITIVITY = ((0.3, 1.0), (0.5, 1.0), (0.7, 0.5))  # (compliance, break length ×) besides the main arm
#: Placebo placements per unit (a simulator-only arm, about a fifth of a policy arm's cost): 4 halved the policy −
#: placebo interval's width in `default` against 1 at the same units (20 riders × 2 h × seeds 21, 22).
PLACEBO_DRAWS = 4
#: Seeds per scenario that also run the sensitivity table (its three policy arms were 60 % of a unit's cost).
SENSITIVITY_SEEDS = 1


def study_units(scenarios: list[str], seeds: list[int], riders: int, hours: float, compliance: float = 0.7,
                sensitivity: bool = True, rng_keying: str = "keyed", placebo_draws: int = PLACEBO_DRAWS,
                sensitivity_seeds: int | None = SENSITIVITY_SEEDS) -> list[Unit]:
    """The study's units: one per scenario and seed (``rng_keying``, ``placebo_draws``: see :class:`Unit`).

    The sensitivity runs (three more policy arms through the worker's decision path, most of a unit's cost)
    go to the first ``sensitivity_seeds`` seeds only (None: all), so the main comparison gets the seeds.
    """
    sens = tuple(x for x in SENSITIVITY if x != (compliance, 1.0)) if sensitivity else ()
    n_sens = len(seeds) if sensitivity_seeds is None else sensitivity_seeds
    return [Unit(s, seed, riders, hours, compliance, sens if k < n_sens else (), rng_keying=rng_keying,
                 placebo_draws=placebo_draws) for s in scenarios for k, seed in enumerate(seeds)]


def run_units(units: list[Unit], settings: Settings, workers: int = 1, progress: bool = False) -> list[UnitResult]:
    """Every unit, in ``workers`` processes (each unit is deterministic, so the result does not depend on it)."""
    from functools import partial

    from riskstream.lab.train import map_shards

    done = map_shards(partial(run_unit, settings=settings), units, workers, "outcome units", progress)
    order = {u: i for i, u in enumerate(units)}
    return sorted(done, key=lambda r: order[r.unit])
