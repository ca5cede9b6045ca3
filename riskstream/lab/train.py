"""``riskstream train``: simulate history, replay it into features, label, fit, evaluate, save.

1. :func:`build_training_frame` runs :class:`riskstream.simulation.fleet.FleetSimulator` in
   rider shards (processes over the cores), replays each shard's records through
   :func:`features.replay.replay_features` (the same code the stream runs) and labels every
   snapshot: ``y_injury``/``y_accident`` = an incident of that kind in ``(ts, ts + horizon]``.
   It also records two oracles from the simulator's true hazard λ (see :func:`_oracles`):
   ``p_<target>_true`` holds the rate of the last 5 min over the horizon (what an oracle of
   the hidden state *now* would say); ``p_<target>_future`` integrates the hazard the rider
   actually met in the next hour (clairvoyant: a loose upper reference, not reachable).
   Snapshots whose horizon runs past the end of the simulation are dropped (unknown label).
2. :func:`models.fit.split_by_rider` splits the riders into train and validation (early
   stopping, isotonic calibration) over the whole span.
3. Metrics for the card come from a held-out fleet (:mod:`riskstream.lab.holdout`): other riders,
   other weather, on the day after the training data; nothing of it is used for fitting.

Shards use different simulator seeds, so their riders are different people (ids prefixed
with the shard) in different weather; shards rotate over the scenarios
(mixed heat-wave/storm zones, default, heat wave, storm; two shards by default). The cost is per online rider-second
(records and features; ~30,000 rider-s per core-second), the per-tick numpy overhead is
shared by the shard's riders, so shards hold many riders. The hazard is
simulated at ``--hazard-scale`` (default 1, the served scale) times the documented model; at
another scale the saved calibration maps probabilities back to scale 1.

The training fleet is decided by ``--seed``, ``--riders`` and ``--hours`` alone
(:func:`training_specs`), so the command on the card rebuilds the same frame; it is cached
like the evaluation fleets (:func:`riskstream.lab.holdout.cached_frame`), so fitting variants
on one fleet simulate it once. ``--fleet-seeds`` adds fleets of the same size drawn with other
seeds (:func:`fleet_specs`), each cached on its own: one fleet is one weather draw, and two
draws of the same seed with 200 and 240 riders gave accident models 0.049 ROC-AUC apart on the
test fleet and equal on the calibration fleet (docs/reports/model-findings.md). With several
fleets the cross-fit and ``--choose-params`` hold out one fleet at a time
(:func:`models.fit.cross_fit_folds`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import multiprocessing as mp
import os
import shlex
import sys
import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from features.catalog import FEATURE_NAMES
from models.artifact import ARTIFACTS_DIR, TARGETS, Calibrator, frame_fingerprint, save_artifact
from models.baselines import MIN_BIN_EVENTS, fit_baselines
from models.evaluate import format_report, risk_bands, to_scale
from models.fit import CROSS_FIT_FOLDS, choose_params, cross_validate, evaluate_on_test, fit_full, fleet_of, headline
from models.labels import is_accident

log = logging.getLogger(__name__)

SCENARIO_ROTATION = ("mixed", "default", "heatwave", "storm")
#: Simulated hazard multiplier for training data (SimConfig.hazard_scale). 1: the scale the model
#: serves at (already ×500 the assumed real rates, :data:`riskstream.simulation.hazard.SIM_RATE_SCALE`).
#: Another scale k is mapped back to 1 by :func:`rescale_calibrator` (p₁ = 1 − (1 − p_k)^(1/k),
#: exact only for a constant hazard).
TRAIN_HAZARD_SCALE = 1.0
#: Resolution of the true hazard (per rider, the cumulative hazard is sampled this often).
HAZARD_SAMPLE_S = 60.0
#: The oracle's rate at a snapshot is the true hazard averaged over the preceding 5 min.
HAZARD_RATE_WINDOW_S = 300.0
#: Share of wearable seconds lost in gaps, so the model sees stale and missing inputs.
TRAIN_WEARABLE_DROPOUT = 0.01
#: Default training fleet: ~1,700 online rider-hours in two shards, about 10 min on 2 idle cores (the budget).
DEFAULT_RIDERS = 560
#: Default held-out fleet (simulated on the day after training; cached between runs).
DEFAULT_HOLDOUT_RIDERS = 400
#: Default calibration fleet (:func:`riskstream.lab.holdout.calibration_specs`): the card's population and serving choice.
DEFAULT_CALIBRATION_RIDERS = 300
#: Held-out fleets are simulated for this many hours (10:00 to 02:00 local: most shifts).
HOLDOUT_HOURS = 16.0


def _label(frame: pd.DataFrame, incidents: dict[str, list[tuple[float, bool]]], horizon_s: float) -> pd.DataFrame:
    """Add ``y_injury``/``y_accident``: an incident of that kind in ``(ts, ts + horizon]``."""
    y = {t: np.zeros(len(frame), dtype=np.int8) for t in TARGETS}
    for rider_id, idx in frame.groupby("rider_id").indices.items():
        events = incidents.get(rider_id, [])
        ts = frame["ts"].to_numpy()[idx]
        for target in TARGETS:
            times = np.sort([e for e, acc in events if acc == (target == "accident")])
            if times.size:
                first_after = np.searchsorted(times, ts, side="right")  # first incident strictly after ts
                has = first_after < times.size
                nxt = times[np.minimum(first_after, times.size - 1)]
                y[target][idx] = (has & (nxt - ts <= horizon_s)).astype(np.int8)
    return frame.assign(y_injury=y["injury"], y_accident=y["accident"])


def rescale_calibrator(cal: Calibrator, hazard_scale: float) -> Calibrator:
    """A calibrator for data simulated at ``hazard_scale`` k, mapped to scale 1.

    >>> cal = rescale_calibrator(Calibrator("isotonic", {"x": [0.0, 1.0], "y": [0.0, 0.75]}), 2.0)
    >>> cal.apply([1.0]).tolist()
    [0.5]
    """
    if hazard_scale == 1.0:
        return cal
    return Calibrator(cal.kind, {**cal.params, "hazard_scale_correction": float(hazard_scale)})


@dataclass(frozen=True)
class ShardSpec:
    """One simulated shard: ``riders`` riders for ``hours`` from ``start_day`` days after the default start.

    ``shard`` and ``seed`` pick the simulator seed (``seed·1009 + shard``) and the rider-id
    prefix, so different (seed, shard) pairs are different people in different weather.
    ``prefix`` names the data set ("" for training), so evaluation riders never share an id
    with training riders. ``hazard_multipliers`` is passed to :class:`SimConfig` (drift runs).
    """

    shard: int
    riders: int
    hours: float
    seed: int
    scenario: str = "default"
    horizon_min: float = 60.0
    snapshot_every_s: float = 300.0
    hazard_scale: float = TRAIN_HAZARD_SCALE
    start_day: int = 0
    prefix: str = ""
    drift: tuple[float, float] | None = None  # (after s, crash multiplier in rain): SimConfig.drift_*
    weather: tuple[tuple[str, float], ...] | None = None  # SimConfig.weather_override items, e.g. (("precipitation_mm_h", 3.0),)
    weather_every: int = 1  # SimConfig.weather_override_every: the override applies to zones 0, k, 2k, ...


#: ShardSpec fields added after fleets were cached: left out of the cache key at their default.
_KEY_OPTIONAL_DEFAULTS = {"weather_every": 1}


def spec_key(specs: Sequence[ShardSpec]) -> str:
    """A short stable hash of the specs, naming a cached fleet (later fields at their default leave it unchanged)."""
    rows = [{k: v for k, v in asdict(s).items() if _KEY_OPTIONAL_DEFAULTS.get(k, object()) != v} for s in specs]
    return hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()[:16]


def _sim_config(spec: ShardSpec, **extra: Any) -> Any:
    from riskstream.simulation.fleet import SimConfig

    base = SimConfig().start + timedelta(days=spec.start_day)
    if spec.drift is not None:
        extra = {"drift_after_s": spec.drift[0], "drift_rain_crash_rr": spec.drift[1], **extra}
    if spec.weather is not None:
        extra = {"weather_override": dict(spec.weather), "weather_override_every": spec.weather_every, **extra}
    return SimConfig(
        riders=spec.riders, seed=spec.seed * 1009 + spec.shard, scenario=spec.scenario, emit_true_hazard=True,
        hazard_scale=spec.hazard_scale, wearable_dropout_rate=TRAIN_WEARABLE_DROPOUT, start=base,
        run_id=f"{spec.prefix or 'train'}{spec.seed}-{spec.shard}", **extra,
    )


def _oracles(ts: np.ndarray, s: np.ndarray, k: int, horizon_s: float, incident_times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(p_now, p_future)`` of one rider and target from cumulative-hazard samples ``s`` (t, Λ_inj, Λ_acc).

    p_now: the rate of the last :data:`HAZARD_RATE_WINDOW_S` held over the horizon.
    p_future: 1 − exp(−Λ over the horizon), from the hazard the rider actually met in that
    hour (clairvoyant: it knows the future weather and riding). An incident knocks the rider
    down (hazard 0 afterwards), which would bias positives low, so after the first incident
    in the window the rate of the 15 min before it is carried to the end of the window.
    """
    cum = lambda x: np.interp(x, s[:, 0], s[:, k])  # noqa: E731
    rate = np.maximum(cum(ts) - cum(ts - HAZARD_RATE_WINDOW_S), 0.0) / HAZARD_RATE_WINDOW_S
    p_now = 1.0 - np.exp(-rate * horizon_s)
    end = ts + horizon_s
    if incident_times.size:
        j = np.searchsorted(incident_times, ts, side="right")
        nxt = np.where(j < incident_times.size, incident_times[np.minimum(j, incident_times.size - 1)], np.inf)
    else:
        nxt = np.full(ts.shape, np.inf)
    stop = np.minimum(end, nxt)
    lam = np.maximum(cum(stop) - cum(ts), 0.0)
    pre = np.maximum(cum(stop) - cum(stop - 900.0), 0.0) / 900.0
    lam = lam + pre * np.maximum(end - stop, 0.0)
    return p_now, 1.0 - np.exp(-lam)


def simulate_shard(spec: ShardSpec | tuple[Any, ...], progress: bool = False) -> pd.DataFrame:
    """One shard: simulate, replay into features, label, integrate the true hazard (oracles).

    ``progress`` shows a bar of the shard's simulated hours (one line per shard).
    """
    return simulate_with_incidents(spec, progress)[0]


def simulate_with_incidents(spec: ShardSpec | tuple[Any, ...], progress: bool = False
                            ) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """:func:`simulate_shard` plus the simulator's incident log (rider ids prefixed like the frame's)."""
    from features.config import FeatureConfig
    from features.replay import replay_features
    from riskstream.simulation.fleet import FleetSimulator

    if not isinstance(spec, ShardSpec):  # the old positional tuple
        spec = ShardSpec(*spec[:5], horizon_min=spec[5], snapshot_every_s=spec[6], hazard_scale=spec[7])
    sim = FleetSimulator(_sim_config(spec))
    cum: dict[str, list[float]] = {}  # rider -> [cum_injury, cum_accident, next_sample_t]
    samples: dict[str, list[tuple[float, float, float]]] = {}
    bar = tqdm(total=round(spec.hours, 2), desc=f"shard {spec.shard} ({spec.riders} riders)", unit="sim-h",
               position=spec.shard + 1, leave=False, disable=not progress, mininterval=2.0)

    def feed() -> Iterator[tuple[str, Any]]:
        for rec in sim.records(spec.hours * 3600.0):
            if rec.value is None or rec.role == "incidents":
                continue
            done = round((rec.value.ts.timestamp() - sim.start_epoch) / 3600.0, 2)
            if done > bar.n:
                bar.update(min(done, bar.total) - bar.n)
            if rec.role == "trip" and rec.true_hazard is not None:
                t = rec.value.ts.timestamp()
                c = cum.get(rec.key)
                if c is None:
                    c = cum[rec.key] = [0.0, 0.0, t]
                    samples[rec.key] = []
                c[0] += rec.true_hazard["injury"] * sim.config.tick_s / 3600.0
                c[1] += rec.true_hazard["accident"] * sim.config.tick_s / 3600.0
                if t >= c[2]:
                    samples[rec.key].append((t, c[0], c[1]))
                    c[2] = t + HAZARD_SAMPLE_S
            yield rec.role, rec.value

    frame = replay_features(feed(), FeatureConfig(), spec.snapshot_every_s)
    bar.close()
    end = sim.start_epoch + spec.hours * 3600.0
    horizon_s = spec.horizon_min * 60.0
    frame = frame[frame["ts"] + horizon_s <= end].reset_index(drop=True)
    incidents: dict[str, list[tuple[float, bool]]] = {}
    for inc in sim.incident_log:
        incidents.setdefault(str(inc["rider_id"]), []).append((float(inc["epoch"]), is_accident(str(inc["kind"]))))
    frame = _label(frame, incidents, horizon_s)
    oracle = {f"p_{t}_{w}": np.full(len(frame), np.nan) for t in TARGETS for w in ("true", "future")}
    for rider_id, idx in frame.groupby("rider_id").indices.items():
        s = np.asarray(samples.get(rider_id, []), dtype=float).reshape(-1, 3)
        if not len(s):
            continue
        s = np.vstack([s, [end, s[-1, 1], s[-1, 2]]])  # hazard stays put after the last sample
        ts = frame["ts"].to_numpy()[idx]
        times = np.sort([e for e, _ in incidents.get(rider_id, [])])
        for k, target in enumerate(TARGETS, start=1):
            oracle[f"p_{target}_true"][idx], oracle[f"p_{target}_future"][idx] = _oracles(ts, s, k, horizon_s, times)
    prefix = f"{spec.prefix}{spec.shard:02d}-"
    frame = frame.assign(**oracle, scenario=spec.scenario, hazard_scale=spec.hazard_scale,
                         rider_id=prefix + frame["rider_id"].astype(str))
    return frame, [{**inc, "rider_id": prefix + str(inc["rider_id"])} for inc in sim.incident_log]


def shard_specs(riders: int, hours: float, seed: int, horizon_min: float = 60.0, snapshot_every_s: float = 300.0,
                hazard_scale: float = TRAIN_HAZARD_SCALE, shards: int = 4, start_day: int = 0,
                prefix: str = "") -> list[ShardSpec]:
    """``riders`` split over ``shards`` shards, scenarios rotating over :data:`SCENARIO_ROTATION`."""
    sizes = [riders // shards + (i < riders % shards) for i in range(shards)]
    return [ShardSpec(i, n, hours, seed, SCENARIO_ROTATION[i % len(SCENARIO_ROTATION)], horizon_min, snapshot_every_s,
                      hazard_scale, start_day, prefix) for i, n in enumerate(sizes) if n]


def map_shards(func: Callable[[ShardSpec], Any], specs: Sequence[ShardSpec], workers: int, desc: str,
               progress: bool = True) -> list[Any]:
    """``func`` over ``specs`` in ``workers`` processes (results in completion order), with a progress bar."""
    parts: list[Any] = []
    with tqdm(total=len(specs), desc=desc, unit="shard", disable=not progress) as bar:
        if workers > 1 and len(specs) > 1:
            with mp.get_context("fork" if sys.platform != "win32" else "spawn").Pool(min(workers, len(specs))) as pool:
                for part in pool.imap_unordered(func, specs):
                    parts.append(part)
                    bar.update(1)
        else:
            for spec in specs:
                parts.append(func(spec))
                bar.update(1)
    return parts


def run_shards(specs: Sequence[ShardSpec], workers: int | None = None, progress: bool = True,
               desc: str = "simulate+features") -> pd.DataFrame:
    """Simulate ``specs`` in ``workers`` processes (largest first) and concatenate, sorted by time."""
    workers = max(1, min(workers or min(os.cpu_count() or 1, 4), len(specs)))
    jobs = sorted(specs, key=lambda s: -s.riders * s.hours)
    parts = map_shards(partial(simulate_shard, progress=progress), jobs, workers, desc, progress)
    frame = pd.concat(parts, ignore_index=True)
    return frame.sort_values(["ts", "rider_id"], kind="stable").reset_index(drop=True)


def build_training_frame(
    riders: int = DEFAULT_RIDERS, hours: float = 24.0, seed: int = 7, horizon_min: int = 60,
    snapshot_every_s: float = 300.0, hazard_scale: float = TRAIN_HAZARD_SCALE,
    shards: int | None = None, workers: int | None = None, progress: bool = True,
) -> pd.DataFrame:
    """Simulated, featurised and labelled history of ``riders`` riders over ``hours`` (see module docstring).

    The simulator's cost per tick is mostly fixed (numpy over the shard's riders), so a
    shard should hold many riders; two shards (mixed and default scenarios) by default.
    """
    return run_shards(training_specs(riders, hours, seed, horizon_min, snapshot_every_s, hazard_scale, shards),
                      workers, progress, desc="simulate training fleet")


def training_specs(riders: int, hours: float, seed: int, horizon_min: float = 60.0, snapshot_every_s: float = 300.0,
                   hazard_scale: float = TRAIN_HAZARD_SCALE, shards: int | None = None) -> list[ShardSpec]:
    """The shards of the training fleet: ``seed``, ``riders`` and ``hours`` alone decide it (and so its cache key).

    >>> [(s.shard, s.riders, s.scenario) for s in training_specs(5, 2.0, 7)]
    [(0, 3, 'mixed'), (1, 2, 'default')]
    """
    return shard_specs(riders, float(hours), seed, float(horizon_min), float(snapshot_every_s), float(hazard_scale),
                       shards=shards or 2)


def fleet_seeds(seed: int, extra: str | None) -> list[int]:
    """``seed`` and the seeds of ``--fleet-seeds`` (comma-separated), in order, without repeats.

    >>> fleet_seeds(7, "8, 9,7")
    [7, 8, 9]
    """
    out = [seed]
    for part in (extra or "").split(","):
        if part.strip():
            try:
                s = int(part)
            except ValueError:
                raise ValueError(f"{part.strip()!r} is not a whole number; give seeds like 8,9,10") from None
            if s not in out:
                out.append(s)
    return out


#: Rider-id prefix of a training fleet drawn with another seed than ``--seed`` (``--fleet-seeds``).
FLEET_SEED_PREFIX = "t"


def fleet_specs(riders: int, hours: float, seed: int, fleet_seed: int, horizon_min: float = 60.0,
                snapshot_every_s: float = 300.0, hazard_scale: float = TRAIN_HAZARD_SCALE) -> list[ShardSpec]:
    """The shards of one training fleet: ``seed``'s own (:func:`training_specs`, ids ``00-...``) or another
    seed's, whose rider ids start with ``t<fleet_seed>-`` so two fleets never share an id.

    Each fleet is its own weather and its own people, so fleets drawn with several seeds vary the weather the
    model learns from, which riders of one fleet (all in the same zones and hours) cannot.

    >>> [(s.seed, s.prefix, s.riders) for s in fleet_specs(5, 2.0, 7, 8)]
    [(8, 't8-', 3), (8, 't8-', 2)]
    >>> fleet_specs(5, 2.0, 7, 7) == training_specs(5, 2.0, 7)
    True
    """
    if fleet_seed == seed:
        return training_specs(riders, hours, seed, horizon_min, snapshot_every_s, hazard_scale)
    return shard_specs(riders, float(hours), fleet_seed, float(horizon_min), float(snapshot_every_s),
                       float(hazard_scale), shards=2, prefix=f"{FLEET_SEED_PREFIX}{fleet_seed}-")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of ``riskstream train`` (the CLI's tree in :mod:`riskstream.cli.main` calls this)."""
    p.add_argument("--riders", type=int, default=DEFAULT_RIDERS, help=f"simulated riders (default {DEFAULT_RIDERS})")
    p.add_argument("--hours", type=float, default=24.0, help="simulated hours (default 24)")
    p.add_argument("--hazard-scale", type=float, default=TRAIN_HAZARD_SCALE,
                   help=f"simulated hazard multiplier, corrected back to 1 in calibration (default {TRAIN_HAZARD_SCALE})")
    p.add_argument("--seed", type=int, default=7, help="seed of simulation, split and LightGBM (default 7)")
    p.add_argument("--out", type=Path, default=ARTIFACTS_DIR, help=f"artifacts directory (default {ARTIFACTS_DIR})")
    p.add_argument("--horizon-min", type=int, default=60, help="label horizon in minutes (default 60)")
    p.add_argument("--snapshot-every-s", type=float, default=300.0, help="feature snapshot interval (default 300)")
    p.add_argument("--workers", type=int, default=None, help="processes for simulation (default: cores)")
    p.add_argument("--version", default=None, help="artifact version name (default: lgbm-<UTC date>-s<seed>)")
    p.add_argument("--quick", action="store_true", help="a small run (60 riders, 8 h, ~1-2 min) to check the pipeline")
    p.add_argument("--holdout-riders", type=int, default=DEFAULT_HOLDOUT_RIDERS,
                   help=f"riders of the held-out fleet (a later day, other people) for the card's metrics; 0: none "
                        f"(default {DEFAULT_HOLDOUT_RIDERS})")
    p.add_argument("--calibration-riders", type=int, default=DEFAULT_CALIBRATION_RIDERS,
                   help="riders of the calibration fleet (scale 1, its own seed, the day after training, 16 h): the "
                        "card's population block and the served-scorer choice per target; 0: none "
                        f"(default {DEFAULT_CALIBRATION_RIDERS})")
    p.add_argument("--calibration-hours", type=float, default=HOLDOUT_HOURS,
                   help=f"simulated hours of the calibration fleet (default {HOLDOUT_HOURS:g})")
    p.add_argument("--bootstrap", type=int, default=200, help="rider-bootstrap resamples of the serving choice")
    p.add_argument("--params", type=json.loads, default=None, metavar="JSON",
                   help='LightGBM parameters over models.fit.DEFAULT_PARAMS, e.g. \'{"max_depth": 1}\'')
    p.add_argument("--monotone", default=None, metavar="FEATURES",
                   help="comma-separated features whose risk may only rise with their value (LightGBM monotone "
                        "constraints), e.g. heat_index_c,wbgt_c_est")
    p.add_argument("--fleet-seeds", default=None, metavar="SEEDS",
                   help="comma-separated seeds of more training fleets, each --riders riders for --hours in its own "
                        "weather (rider ids t<seed>-...); the cross-fit and --choose-params then hold out one fleet "
                        "at a time. Default: the --seed fleet alone")
    p.add_argument("--choose-params", type=json.loads, default=None, metavar="JSON",
                   help="a JSON list of LightGBM parameter sets (over --params); per target the one with the best "
                        "cross-validated ROC-AUC on the training frame (models.fit.cross_validate) is fit, and every "
                        "candidate's score goes on the card, e.g. '[{\"max_depth\": 1, \"num_leaves\": 2}, "
                        "{\"max_depth\": 2}]'")
    p.add_argument("--no-current", action="store_true", help="do not point CURRENT at the new artifact")
    p.add_argument("--save-frame", type=Path, default=None, help="also write the labelled frame (.pkl or .csv)")
    p.add_argument("--from-frame", type=Path, default=None,
                   help="fit on a frame written by --save-frame instead of simulating (its own riders/hours apply)")
    p.add_argument("--no-cache", action="store_true",
                   help="simulate the training fleet again instead of loading it from the frame cache "
                        "(~/.cache/riskstream/frames, keyed by riders, hours, seed and scale)")


def run(args: argparse.Namespace) -> int:
    """``riskstream train`` with the flags of :func:`add_arguments`; returns the process exit code."""
    from riskstream.lab.holdout import CACHE_DIR, assert_disjoint, cached_frame, eval_start_day, holdout_specs

    if args.quick:
        args.riders, args.hours = min(args.riders, 60), min(args.hours, 8.0)
        args.holdout_riders = min(args.holdout_riders, 40)
        args.calibration_riders = min(args.calibration_riders, 40)
    started = time.monotonic()
    seeds, train_specs = [args.seed], []
    if args.from_frame:
        frame = pd.read_pickle(args.from_frame) if args.from_frame.suffix == ".pkl" else pd.read_csv(args.from_frame)
        args.hours = float(frame["ts"].max() - frame["ts"].min()) / 3600.0 + args.horizon_min / 60.0
    else:
        try:
            seeds = fleet_seeds(args.seed, getattr(args, "fleet_seeds", None))
        except ValueError as e:
            print(f"--fleet-seeds: {e}", file=sys.stderr)
            return 2
        train_specs = [fleet_specs(args.riders, args.hours, args.seed, s, args.horizon_min, args.snapshot_every_s,
                                   args.hazard_scale) for s in seeds]
        frame = pd.concat([cached_frame(specs, None if getattr(args, "no_cache", False) else CACHE_DIR,
                                        workers=args.workers, desc=f"simulate training fleet {s}")
                           for s, specs in zip(seeds, train_specs)], ignore_index=True)
        frame = frame.sort_values(["ts", "rider_id"], kind="stable").reset_index(drop=True)
    if "hazard_scale" in frame:
        args.hazard_scale = float(frame["hazard_scale"].iloc[0])
    if args.save_frame:
        if args.save_frame.suffix == ".pkl":
            frame.to_pickle(args.save_frame)
        else:
            frame.to_csv(args.save_frame, index=False)
    for t in TARGETS:
        print(f"{t:8} rows={len(frame):7d} riders={frame['rider_id'].nunique():4d} positive={int(frame[f'y_{t}'].sum()):5d}")
    if any(int(frame[f"y_{t}"].sum()) < 2 * MIN_BIN_EVENTS for t in TARGETS):
        print(f"not enough incidents to train (fewer than {2 * MIN_BIN_EVENTS} of a target): simulate more riders or "
              "hours", file=sys.stderr)
        return 2
    version = args.version or f"lgbm-{datetime.now(timezone.utc):%Y%m%d}-s{args.seed}"
    params = dict(getattr(args, "params", None) or {})
    if getattr(args, "monotone", None):
        rising = [f.strip() for f in args.monotone.split(",") if f.strip()]
        unknown = sorted(set(rising) - set(FEATURE_NAMES))
        if unknown:
            print(f"--monotone: {', '.join(unknown)} not in features.catalog.FEATURE_NAMES", file=sys.stderr)
            return 2
        params["monotone_constraints"] = [1 if f in rising else 0 for f in FEATURE_NAMES]
    cv_card = None
    target_params = None
    if getattr(args, "choose_params", None):
        cands = [{**params, **c} for c in args.choose_params]
        cv = cross_validate(frame, cands, args.seed)
        target_params = choose_params(cv)
        for t in TARGETS:  # each candidate printed as given (over --params and --monotone)
            for given, row in zip(args.choose_params, cv[t]):
                print(f"{t}: cross-validated ROC-AUC {row['auc']:.3f} (folds "
                      f"{', '.join(f'{a:.3f}' for a in row['auc_by_fold'])}) with {json.dumps(given)}")
            print(f"{t}: chosen {json.dumps(args.choose_params[cv[t].index(max(cv[t], key=lambda r: r['auc']))])}")
        cv_card = {"folds": "one per training fleet" if len(set(fleet_of(frame["rider_id"]))) > 1 else
                   f"{CROSS_FIT_FOLDS} rider folds", "candidates": cv, "chosen": target_params}
    bundle = fit_full(frame, seed=args.seed, horizon_min=args.horizon_min, version=version, params=params or None,
                      target_params=target_params)
    if cv_card is not None:
        bundle.metadata["params_cross_validation"] = cv_card
    X = frame[list(FEATURE_NAMES)].to_numpy(float)
    baselines = fit_baselines(X, {t: frame[f"y_{t}"].to_numpy(int) for t in TARGETS})
    shards = sorted({str(r).split("-", 1)[0] for r in frame["rider_id"].unique()})
    training_data = {
        "source": "riskstream.simulation.FleetSimulator", "riders": int(frame["rider_id"].nunique()),
        "hours": round(args.hours, 3), "seed": args.seed, "snapshot_every_s": args.snapshot_every_s,
        "rows": int(len(frame)), "hazard_scale": args.hazard_scale,
        "sim_seeds": (sim_seeds_of([s for specs in train_specs for s in specs]) if not args.from_frame
                      else sorted(args.seed * 1009 + int(k) for k in shards if k.isdigit())),
        "fleet_seeds": seeds if not args.from_frame else [args.seed],
        "ts_min": float(frame["ts"].min()), "ts_max": float(frame["ts"].max()) + args.horizon_min * 60.0,
        "rider_prefixes": sorted({str(r).split("-", 1)[0] + "-" for r in frame["rider_id"].unique()}),
        "note": "every row fits the served model; probabilities are served at hazard scale 1",
        "scenarios": sorted(frame["scenario"].unique().tolist()) if "scenario" in frame else None,
        "wearable_dropout": TRAIN_WEARABLE_DROPOUT,
        "command": "riskstream train " + " ".join(shlex.quote(a) for a in getattr(args, "argv", None) or []),
    }
    meta = {k: v for k, v in bundle.metadata.items() if k not in ("version", "feature_names", "calibration")}
    meta.update({"training_fingerprint": frame_fingerprint(frame), "training_data": training_data,
                 "world": world_block(args.horizon_min)})
    for t in TARGETS:  # baselines speak scale 1, like the model
        for kind, b in baselines[t].items():
            baselines[t][kind] = replace(b, calibrator=rescale_calibrator(b.calibrator, args.hazard_scale))
    meta["baselines"] = {t: {**{k: b.to_json() for k, b in baselines[t].items()},
                             "base_rate": float(to_scale(np.array([frame[f"y_{t}"].mean()]),
                                                         1.0 / args.hazard_scale)[0])} for t in TARGETS}
    if args.holdout_riders > 0:
        specs = holdout_specs(args.seed, args.holdout_riders, min(args.hours, HOLDOUT_HOURS), args.hazard_scale,
                              start_day=eval_start_day(meta))
        test = cached_frame(specs, CACHE_DIR, workers=args.workers)
        assert_disjoint(meta, test, specs)
        report = evaluate_on_test(bundle, test)  # measured in the simulated (scaled) world
        print(format_report(report))
        meta["folds"]["holdout"] = {"rows": int(len(test)), "riders": int(test["rider_id"].nunique()),
                                    **{f"pos_{t}": int(test[f"y_{t}"].sum()) for t in TARGETS},
                                    "seed": specs[0].seed, "start_day": specs[0].start_day}
        meta.update({"metrics": headline(report), "metrics_detail": report})
    for t in TARGETS:
        oof = meta["out_of_fold_metrics"][t]
        print(f"{t}: out-of-fold ROC-AUC {oof['roc_auc']:.3f}, log loss {oof['log_loss']:.4f}; best single feature "
              f"{baselines[t]['best_feature'].feature} (training ROC-AUC {baselines[t]['best_feature'].train_auc:.3f}), "
              f"rules {baselines[t]['rules'].train_auc:.3f}")
    calibrators = {t: rescale_calibrator(bundle.calibrators[t], args.hazard_scale) for t in TARGETS}
    if args.calibration_riders > 0:
        meta.update(calibrate_on_fleet(bundle, calibrators, meta, args))
        from riskstream.lab.scorecard import ci_check

        meta["ci_check"] = ci_check(replace(bundle, calibrators=calibrators, metadata={**bundle.metadata, **meta}))
    meta["train_seconds"] = round(time.monotonic() - started, 1)
    path = save_artifact(args.out, version, bundle.boosters, calibrators, meta, set_current=not args.no_current)
    print(f"artifact written to {path} in {time.monotonic() - started:.0f} s")
    return 0


def world_block(horizon_min: int) -> dict[str, Any]:
    """The card's ``world``: what the model's probabilities are probabilities *of* (rate scale, horizon)."""
    from riskstream.simulation.hazard import HAZARD_SCALE as SIM_RATE_SCALE

    return {
        "data": "simulated (riskstream.simulation.FleetSimulator); no real incidents",
        "rate_scale_vs_assumed_real": SIM_RATE_SCALE,
        "served_hazard_scale": 1.0,
        "horizon_min": int(horizon_min),
        "meaning": (f"P(incident within {horizon_min} min) in the simulated world, whose incident rates are "
                    f"{SIM_RATE_SCALE:g}x the assumed real rates (riskstream/simulation/hazard.py); relative "
                    "comparisons (this rider against the card's population) carry over, absolute values do not"),
    }


def calibrate_on_fleet(bundle: Any, calibrators: dict[str, Calibrator], meta: dict[str, Any],
                       args: argparse.Namespace) -> dict[str, Any]:
    """Card blocks from the calibration fleet (its own seed, scale 1; neither training nor test data).

    ``calibrators`` (LightGBM's, per target) get their upper tail capped where this fleet's highest
    bin says so (:func:`models.fit.tail_cap`: its observed rate plus interval), in place: the
    cross-fit's out-of-fold scores share the training fleet's weather, so its highest predictions
    come true more often there than on another fleet.
    ``serving``: per target, LightGBM or the better baseline (:func:`riskstream.lab.scorecard.serving_decision`);
    ``population``: per target the mean *served* probability, the yardstick of alerts and prices, and the
    served scorer's highest 1 % on this fleet (``top_1pct_p``, its 99th percentile, and what happened there):
    model-risk warnings fire at 3x the mean or at ``top_1pct_p`` if the served scorer never reaches 3x
    (:class:`alerts.reference.PopulationRisk`); ``bands`` (:func:`models.evaluate.risk_bands`): what the served
    scorer's highest scores came to, the relative risk a rider's model-risk text states;
    ``calibration_fleet``: its spec and the scorecard the choice was made on, ``served`` as chosen.
    """
    from models.fit import tail_cap
    from models.scoring import LightGBMScorer
    from riskstream.lab.holdout import CACHE_DIR, assert_disjoint, cached_frame, calibration_specs, eval_start_day
    from riskstream.lab.scorecard import calibration_card, tail_bins

    hours = getattr(args, "calibration_hours", HOLDOUT_HOURS)
    specs = calibration_specs(args.seed, args.calibration_riders, hours, start_day=eval_start_day(meta))
    frame = cached_frame(specs, CACHE_DIR, workers=args.workers, desc="simulate calibration fleet")
    assert_disjoint(meta, frame, specs)
    X = frame[list(FEATURE_NAMES)].to_numpy(float)
    own = LightGBMScorer(replace(bundle, calibrators=calibrators)).predict_matrix(X, served=False)
    caps = {}
    for t in TARGETS:
        cap = tail_cap(own[t], frame[f"y_{t}"].to_numpy(int))
        if (cap is not None and cap < float(calibrators[t].params.get("cap", 1.0))
                and "hazard_scale_correction" not in calibrators[t].params):  # the cap applies before that correction
            calibrators[t] = Calibrator(calibrators[t].kind, {**calibrators[t].params, "cap": cap})
            caps[t] = cap
            print(f"{t}: LightGBM capped at {cap:.3f} (the calibration fleet's highest bin, observed rate + interval)")
    served = replace(bundle, calibrators=calibrators, metadata={**bundle.metadata, **meta})
    card, serving, p = calibration_card(served, frame, args.bootstrap, args.seed)
    for t, choice in serving.items():
        print(f"{t}: served by {choice['scorer']}: {choice['reason']}")
    where = (f"calibration fleet: seed {specs[0].seed} (simulator seeds {sim_seeds_of(specs)}), "
             f"{args.calibration_riders} riders, {hours:g} h from day {specs[0].start_day}, scale 1, "
             f"{len(frame):,} snapshots")
    population = {}
    for t in TARGETS:
        y = frame[f"y_{t}"].to_numpy(int)
        top = tail_bins(p[t], y)["top_1pct"]
        population[t] = {"mean_p": float(p[t].mean()), "base_rate": float(y.mean()), "n": int(len(frame)),
                         "top_1pct_p": float(np.quantile(p[t], 0.99)), "top_1pct_observed": top["observed"],
                         "top_1pct_n_pos": top["n_pos"], "top_1pct_n": top["n"], "bands": risk_bands(p[t], y)}
    return {
        "serving": serving,
        "population": {"source": f"{where}; `riskstream train`", "hazard_scale": 1.0, "horizon_min": args.horizon_min,
                       **population},
        "calibration_fleet": {"where": where, "scorecard": card,
                              "lightgbm_caps": {t: caps.get(t) for t in TARGETS}},
    }


def sim_seeds_of(specs: Sequence[ShardSpec]) -> list[int]:
    """Simulator seeds of ``specs`` (``seed·1009 + shard``)."""
    return sorted({s.seed * 1009 + s.shard for s in specs})
