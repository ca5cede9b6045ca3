"""Run the simulated fleet through a Processor in-process (no Kafka), alerts fed back as it goes.

The simulator is stepped in chunks of ``chunk_s`` event seconds (``records(chunk_s,
drain=False)``); each chunk goes through the processor the way the Faust agents would hand
it over (weather first, then the rider topics, in batches), with plain dicts as the
changelogged tables. Every alert the processor sends is passed to
:meth:`FleetSimulator.advise`, so with ``SimConfig.advice_compliance > 0`` riders react to
their warnings from the next chunk on (a push arrives within about a minute). With
compliance 0 nothing is drawn and the simulation is exactly the open-loop one.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from riskstream.lab.matching import AlertEvent, IncidentEvent
from riskstream.simulation import FleetSimulator, SimConfig, SimRecord
from streams.driver import Driver, MemorySink
from streams.processor import Processor, RawRecord
from streams.settings import Settings

#: Output field names and values that would reveal a protected attribute.
PROTECTED_KEYS = frozenset({"sex", "gender", "age", "age_band", "birth_year", "ethnicity"})
#: Seconds between sampled online moments per rider (for chance levels of "warned").
MOMENT_EVERY_S = 300.0
_ONLINE = frozenset({"riding", "waiting", "break"})


@dataclass
class RunResult:
    """What one in-process run produced, reduced to what the evaluations need."""

    config: SimConfig
    hours: float
    online_hours: float
    riding_hours: float
    alerts: list[AlertEvent]
    incidents: list[IncidentEvent]
    moments: list[tuple[str, float]]
    insurer: list[dict[str, Any]]  # pseudonym, epoch, risk_score, premium_multiplier, risk_band, conservative
    advice: list[dict[str, object]]
    profiles: dict[str, dict[str, object]]
    model_versions: dict[str, str]
    outputs_by_role: dict[str, int] = field(default_factory=dict)
    protected_hits: list[str] = field(default_factory=list)  # "role.field=value" findings
    conservative_alerts: int = 0
    online_s_by_rider: dict[str, float] = field(default_factory=dict)  # from the emitted trip records


def scan_protected(value: Any, protected_values: set[str], path: str = "") -> list[str]:
    """Fields of an output record named like a protected attribute, or holding a protected value.

    >>> scan_protected({"a": {"sex": "x"}, "b": ["female", 1]}, {"female"})
    ['a.sex', 'b[0]=female']
    """
    hits: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            sub = f"{path}.{k}" if path else str(k)
            if str(k).lower() in PROTECTED_KEYS:
                hits.append(sub)
            hits += scan_protected(v, protected_values, sub)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            hits += scan_protected(v, protected_values, f"{path}[{i}]")
    elif isinstance(value, str) and value in protected_values:
        hits.append(f"{path}={value}")
    return hits


class _Feeder:
    """Sim records → RawRecords with per-topic offsets, driven through the processor by the worker's driver."""

    def __init__(self, proc: Processor, batch_size: int) -> None:
        self.topics = proc.settings.topics.by_role()
        self.offsets: dict[str, int] = {}
        self.sink = MemorySink(json_states=False)  # the rider table as a dict; no restart here, so no JSON copy
        self.driver = Driver(proc, self.sink)
        self.batch_size = batch_size

    def raw(self, rec: SimRecord) -> RawRecord:
        topic = self.topics[rec.role]
        self.offsets[topic] = off = self.offsets.get(topic, -1) + 1
        return RawRecord(topic, 0, off, rec.key.encode(), rec.value_bytes(), None)

    def feed(self, records: list[SimRecord]) -> list[tuple[str, str, bytes]]:
        """The outputs of one chunk of records, in the order the worker would send them."""
        asyncio.run(self.driver.feed([self.raw(r) for r in records], self.batch_size))
        return self.sink.take_outputs()


def eval_settings(base: Settings | None = None, state_dir: Path | None = None) -> Settings:
    """Settings for an in-process run: the given (or environment) settings with a fresh state dir."""
    base = base or Settings()
    state_dir = state_dir or Path(tempfile.mkdtemp(prefix="riskstream-eval-"))
    return base.model_copy(update={"worker": base.worker.model_copy(update={"state_dir": state_dir})})


def run_fleet(config: SimConfig, hours: float, settings: Settings | None = None, chunk_s: float = 60.0,
              batch_size: int = 2000, progress: bool = False, desc: str = "simulating",
              keep_simulator: dict[str, FleetSimulator] | None = None) -> RunResult:
    """Simulate ``hours`` of the fleet through a fresh Processor; alerts go back to the simulator.

    ``keep_simulator``, if given, receives the simulator under ``"sim"`` (its true-hazard totals
    and per-rider exposure, for the outcome study).
    """
    from tqdm import tqdm

    settings = eval_settings(settings)
    sim = FleetSimulator(config)
    if keep_simulator is not None:
        keep_simulator["sim"] = sim
    proc = Processor(settings)
    feeder = _Feeder(proc, batch_size)
    profiles = sim.rider_profiles()
    protected_values = {str(p[k]) for p in profiles.values() for k in ("sex", "age_band")}
    alerts: list[AlertEvent] = []
    insurer: list[dict[str, Any]] = []
    moments: list[tuple[str, float]] = []
    last_moment: dict[str, float] = {}
    online_s: dict[str, float] = {}
    by_role: dict[str, int] = {}
    hits: list[str] = []
    conservative = 0
    chunks = max(1, int(round(hours * 3600.0 / chunk_s)))
    bar = tqdm(total=chunks, desc=desc, unit=" min" if chunk_s == 60 else " chunk", disable=not progress,
               mininterval=1.0, leave=False)
    for _ in range(chunks):
        records = list(sim.records(chunk_s, drain=False))
        for rec in records:
            if rec.role == "trip" and rec.value is not None and rec.value.status.value in _ONLINE:
                online_s[rec.key] = online_s.get(rec.key, 0.0) + config.tick_s
                t = rec.value.epoch
                if t - last_moment.get(rec.key, -1e18) >= MOMENT_EVERY_S:
                    last_moment[rec.key] = t
                    moments.append((rec.key, t))
        for role, key, value in feeder.feed(records):
            by_role[role] = by_role.get(role, 0) + 1
            if role not in ("alerts", "risk_scores", "audit", "escalations"):
                continue
            data = json.loads(value)
            hits += [f"{role}.{h}" for h in scan_protected(data, protected_values)]
            if role == "alerts":
                epoch = _epoch(data["ts"])
                alerts.append(AlertEvent(key, epoch, data["kind"], data["severity"]))
                conservative += bool(data.get("conservative_mode"))
                sim.advise(key, data["kind"], epoch, data["severity"])
            elif role == "risk_scores":
                insurer.append({
                    "pseudonym": data["rider_pseudonym"], "epoch": _epoch(data["ts"]),
                    "risk_score": data["risk_score"], "premium_multiplier": data["premium_multiplier"],
                    "risk_band": data["risk_band"], "conservative_mode": data["conservative_mode"],
                    "p_injury": data["risk"]["injury"], "p_accident": data["risk"]["accident"],
                })
        bar.update(1)
    bar.close()
    incidents = [IncidentEvent(str(i["rider_id"]), float(i["epoch"]), str(i["kind"]))  # type: ignore[arg-type]
                 for i in sim.incident_log]
    return RunResult(
        config=config, hours=hours, online_hours=sim.stats.online_s / 3600.0, riding_hours=sim.stats.riding_s / 3600.0,
        alerts=alerts, incidents=incidents,
        moments=moments, insurer=insurer, advice=sim.advice_log, profiles=profiles,
        model_versions=proc.scorer.model_versions(), outputs_by_role=by_role, protected_hits=hits,
        conservative_alerts=conservative, online_s_by_rider=online_s,
    )


def _epoch(ts: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True)
class FleetJob:
    """One run of an evaluation: a seed of a scenario, with alerts ignored (compliance 0) or followed."""

    scenario: str
    seed: int
    riders: int
    hours: float
    compliance: float = 0.0

    def config(self) -> SimConfig:
        return SimConfig(riders=self.riders, seed=self.seed, scenario=self.scenario, advice_compliance=self.compliance)


def run_jobs(jobs: list[FleetJob], settings: Settings | None = None, workers: int = 1,
             progress: bool = False) -> dict[FleetJob, RunResult]:
    """Run ``jobs`` in ``workers`` processes (each run is independent and deterministic), with a progress bar."""
    from functools import partial

    from riskstream.lab.train import map_shards

    settings = settings or Settings()
    # longest first, so the pool does not end on one long run
    ordered = sorted(jobs, key=lambda j: -j.riders * j.hours)
    done = map_shards(partial(_run_job, settings=settings), ordered, workers, "fleet runs", progress)
    return dict(done)


def _run_job(job: FleetJob, settings: Settings) -> tuple[FleetJob, RunResult]:
    return job, run_fleet(job.config(), job.hours, settings)

