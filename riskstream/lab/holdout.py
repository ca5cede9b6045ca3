"""Held-out evaluation data: a separately simulated fleet, later in time, never seen in training.

The training frame (``riskstream train``) holds the riders of simulator seeds
``seed·1009 + shard`` over ``hours`` from the default start. The held-out frame is a
*different* fleet (seed ``seed + EVAL_SEED_OFFSET``: other people, other weather, ids
prefixed ``eval``) simulated on a later day, so it is disjoint from training both by
rider and by time; :func:`assert_disjoint` checks this in code before any metric is taken.

Frames are deterministic in their spec, so they are cached as pickles under
:data:`CACHE_DIR` keyed by the spec (delete the directory to rebuild).
"""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from riskstream.lab.train import TRAIN_HAZARD_SCALE, ShardSpec, run_shards, shard_specs, spec_key

#: Held-out fleets use this seed offset (different riders and weather than training).
EVAL_SEED_OFFSET = 1000
#: Calibration fleets (the card's population and serving choice) use this seed offset: neither training nor test.
CALIBRATION_SEED_OFFSET = 2000
#: Calibration rider ids start with this.
CALIBRATION_PREFIX = "cal"
#: Held-out rider ids start with this (training ids start with the two-digit shard).
EVAL_PREFIX = "eval"
CACHE_DIR = Path.home() / ".cache" / "riskstream" / "frames"


def holdout_specs(seed: int, riders: int, hours: float = 24.0, hazard_scale: float = TRAIN_HAZARD_SCALE,
                  start_day: int = 1, shards: int = 2, prefix: str = EVAL_PREFIX) -> list[ShardSpec]:
    """Shards of the held-out fleet: ``seed + EVAL_SEED_OFFSET``, starting ``start_day`` days after training."""
    return shard_specs(riders, hours, seed + EVAL_SEED_OFFSET, hazard_scale=hazard_scale, shards=shards,
                       start_day=start_day, prefix=f"{prefix}s{hazard_scale:g}-")


def calibration_specs(seed: int, riders: int, hours: float = 16.0, start_day: int = 1, shards: int = 2
                      ) -> list[ShardSpec]:
    """Shards of the calibration fleet at scale 1 (as served): seed ``seed + CALIBRATION_SEED_OFFSET``."""
    return shard_specs(riders, hours, seed + CALIBRATION_SEED_OFFSET, hazard_scale=1.0, shards=shards,
                       start_day=start_day, prefix=f"{CALIBRATION_PREFIX}s1-")


def cached_frame(specs: list[ShardSpec], cache_dir: Path | None = CACHE_DIR, workers: int | None = None,
                 progress: bool = True, desc: str = "simulate held-out") -> pd.DataFrame:
    """Simulate ``specs`` (see :func:`riskstream.lab.train.run_shards`), or load them from the cache."""
    key = spec_key(specs)
    path = Path(cache_dir) / f"frame-{key}.pkl" if cache_dir is not None else None
    if path is not None and path.exists():
        return pd.read_pickle(path)
    frame = run_shards(specs, workers, progress, desc=desc)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_pickle(path)
    return frame


def training_span(metadata: dict[str, Any]) -> tuple[float, float, tuple[str, ...]]:
    """``(first ts, last ts, rider-id prefixes)`` of an artifact's training data, from its card.

    Cards written before the span was recorded are read from ``training_data.hours`` and the
    simulator's default start (training shards then had ids ``00-``, ``01-``, ...).
    """
    td = metadata.get("training_data") or {}
    if "ts_min" in td and "ts_max" in td:
        return float(td["ts_min"]), float(td["ts_max"]), tuple(td.get("rider_prefixes") or ())
    from riskstream.simulation.fleet import SimConfig

    start = SimConfig().start.timestamp()
    hours = float(td.get("hours") or 24.0)
    return start, start + hours * 3600.0, tuple(f"{i:02d}-" for i in range(8))


def sim_seeds(specs: Sequence[ShardSpec]) -> list[int]:
    """The simulator seeds of a fleet's shards (``seed·1009 + shard``, as :func:`riskstream.lab.train._sim_config`)."""
    return sorted({s.seed * 1009 + s.shard for s in specs})


def assert_disjoint(metadata: dict[str, Any], frame: pd.DataFrame, specs: Sequence[ShardSpec] | None = None) -> None:
    """Raise ``AssertionError`` unless ``frame`` shares no simulator seed, time or rider with the training data.

    Seeds: the simulator seeds of ``specs`` against the card's ``training_data.sim_seeds`` (the
    same seed is the same people in the same weather, whatever the rider-id prefix says). Time:
    ``frame`` must start after the training span ends. Riders: no id with a training prefix.
    """
    t0, t1, prefixes = training_span(metadata)
    if specs is not None:
        td = metadata.get("training_data") or {}
        trained = set(td.get("sim_seeds") or [int(td.get("seed", 7)) * 1009 + k for k in range(8)])
        shared_seeds = sorted(trained.intersection(sim_seeds(specs)))
        assert not shared_seeds, (f"evaluation fleet uses simulator seed(s) {shared_seeds} the training data used: "
                                  "the same riders and weather; pick another --fleet-seed")
    assert float(frame["ts"].min()) > t1, f"evaluation data start at {frame['ts'].min()}, before training ends ({t1})"
    ids = frame["rider_id"].astype(str)
    shared = ids[ids.str.startswith(prefixes)] if prefixes else ids.iloc[:0]
    assert shared.empty, f"evaluation riders share training ids, e.g. {shared.iloc[0]!r}"


def eval_start_day(metadata: dict[str, Any]) -> int:
    """The first whole day after the training span (held-out data start there)."""
    t0, t1, _ = training_span(metadata)
    return max(1, math.ceil((t1 - t0) / timedelta(days=1).total_seconds()))
