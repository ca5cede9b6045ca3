"""Per-rider cost of ``features``: µs per update, µs per ``rider_features``, changelog bytes and memory per rider.

    python -m benchmarks.bench_features [--quick] [--json FILE] [--baseline-ref main]

Each round feeds the same simulated 1 Hz wearable + trip records (plain attribute objects
shaped like the pydantic schemas: parsing belongs to ``streams``), interleaved across riders
second by second as a partition would, and scores every rider every 60 s of event time as
the worker does (``score_every_event_s``). Measured per round: the mean µs per update and per
``rider_features`` call, the JSON bytes of each rider's changelog value (``RiderSlot.to_dict``),
in a separate pass under ``tracemalloc`` the bytes each rider's state holds in memory, and
``rider_features`` timed alone after 10 and after 60 minutes online (flat in window length: the same).

The baseline is the code at ``--baseline-ref`` (its ``features/`` taken from git) run by the
same harness in a subprocess. Rounds alternate baseline and current; after the minimum rounds,
more run (up to ``--max-rounds``) while any target is still undecided: met only if the worst
current round meets it, missed only if the best one misses it, so noise cannot flip a verdict.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

START = 1_782_864_000.0
SCORE_EVERY_S = 60
ROOT = Path(__file__).resolve().parent.parent
#: metric -> (target, unit, description); every target is an upper bound (issue 17)
TARGETS = {
    "update_us": (5.0, "µs", "feature update per event"),
    "features_us": (30.0, "µs", "rider_features per call"),
    "state_bytes": (2048.0, "B", "changelog value per rider"),
    "memory_bytes_per_rider": (8192.0, "B", "in-memory state per rider"),
}


def _events(rider: str, start: int, seconds: int, rng: random.Random) -> list[tuple[str, SimpleNamespace]]:
    out = []
    for i in range(start, start + seconds):
        ts = datetime.fromtimestamp(START + i, tz=timezone.utc)
        out.append(("w", SimpleNamespace(
            event_id=f"{rider}-w{i}", ts=ts, heart_rate_bpm=90.0 + 60 * rng.random(), skin_temp_c=34.0 + rng.random(),
            accel_peak_g=1.0 + 2 * rng.random(), accel_mean_g=1.0, accel_var=0.03 * rng.random(), on_body=True)))
        if i % 50 != 7:  # occasional trip dropout
            out.append(("t", SimpleNamespace(
                event_id=f"{rider}-t{i}", ts=ts, zone_id="z1", status="riding" if (i // 300) % 4 else "waiting",
                speed_kmh=30 * rng.random(), accel_long_g=rng.uniform(-0.5, 0.4), accel_lat_g=rng.uniform(-0.45, 0.45),
                speed_limit_kmh=20.0 if i % 3 else None, phone_handling=i % 40 == 0)))
    return out


def measure(riders: int, minutes: float, seed: int = 0) -> dict[str, float]:
    """One round of the current ``features`` on the import path (see the module docstring)."""
    from features import FeatureConfig, RiderState, rider_features, update_trip, update_wearable
    from streams.batch import RiderSlot

    cfg = FeatureConfig()
    rng = random.Random(seed)
    seconds = int(minutes * 60)
    states = {f"r{r}": RiderState.new(f"r{r}") for r in range(riders)}
    updates, update_s, calls, features_s = 0, 0.0, 0, 0.0
    for start in range(0, seconds, SCORE_EVERY_S):  # a minute of records at a time, then score everyone
        n = min(SCORE_EVERY_S, seconds - start)
        per_rider = [_events(rid, start, n, rng) for rid in states]
        flat = [(role, rec, states[rid]) for rid, evs in zip(states, per_rider) for role, rec in evs]
        t0 = time.perf_counter()
        for role, rec, state in flat:
            if role == "w":
                update_wearable(state, rec, cfg)
            else:
                update_trip(state, rec, cfg, zone_heat_index_c=33.0)
        update_s += time.perf_counter() - t0
        updates += len(flat)
        now = START + start + n
        t0 = time.perf_counter()
        for state in states.values():
            rider_features(state, None, now, cfg)
        features_s += time.perf_counter() - t0
        calls += len(states)
    sizes = []
    for state in states.values():
        slot = RiderSlot.new(state.rider_id)
        slot.features = state  # a fresh slot around the rider's state: the features' share of the value
        sizes.append(len(json.dumps(slot.to_dict(), separators=(",", ":"))))
    return {"update_us": update_s / updates * 1e6, "features_us": features_s / calls * 1e6,
            "state_bytes": statistics.fmean(sizes), "state_bytes_max": max(sizes),
            "memory_bytes_per_rider": _memory(min(riders, 300), minutes, seed),
            **{f"features_us_{m}m": _features_after(m, seed) for m in FLAT_MINUTES}}


FLAT_MINUTES = (10, 60)  # rider_features is timed after this many minutes online: flat means the same at both
FLAT_RIDERS = 20


def _features_after(minutes: int, seed: int) -> float:
    """Median over riders of the fastest of 5 ``rider_features`` calls after ``minutes`` of records (µs)."""
    from features import FeatureConfig, RiderState, rider_features, update_trip, update_wearable

    cfg = FeatureConfig()
    rng = random.Random(seed)
    best = []
    for r in range(FLAT_RIDERS):
        state = RiderState.new(f"r{r}")
        for start in range(0, minutes * 60, SCORE_EVERY_S):
            for role, rec in _events(state.rider_id, start, SCORE_EVERY_S, rng):
                if role == "w":
                    update_wearable(state, rec, cfg)
                else:
                    update_trip(state, rec, cfg, zone_heat_index_c=33.0)
            rider_features(state, None, START + start + SCORE_EVERY_S, cfg)  # as scored: the tail is warm
        now = START + minutes * 60
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            rider_features(state, None, now, cfg)
            times.append(time.perf_counter() - t0)
        best.append(min(times))
    return statistics.median(best) * 1e6


def _memory(riders: int, minutes: float, seed: int) -> float:
    """Bytes per rider held by ``riders`` states after ``minutes`` of records and a feature call, by tracemalloc."""
    import gc

    from features import FeatureConfig, RiderState, rider_features, update_trip, update_wearable

    cfg = FeatureConfig()
    rng = random.Random(seed)
    seconds = int(minutes * 60)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    states = [RiderState.new(f"r{r}") for r in range(riders)]
    for start in range(0, seconds, SCORE_EVERY_S):
        n = min(SCORE_EVERY_S, seconds - start)
        for state in states:
            for role, rec in _events(state.rider_id, start, n, rng):
                if role == "w":
                    update_wearable(state, rec, cfg)
                else:
                    update_trip(state, rec, cfg, zone_heat_index_c=33.0)
            rider_features(state, None, START + start + n, cfg)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del states
    return held / riders


def _baseline_tree(ref: str) -> Path:
    """The ``features`` package at git ``ref``, in a temporary directory that shadows the current one."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-features-base-"))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "features"], capture_output=True, check=False)
    if archive.returncode:
        raise SystemExit(f"cannot read features/ at git ref {ref!r}: {archive.stderr.decode().strip()} — "
                         "pass --baseline-ref with a commit or branch of this repository")
    subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive.stdout, check=True)
    return tmp


def _run_in(tree: Path | None, riders: int, minutes: float, seed: int) -> dict[str, float]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(p) for p in (tree, ROOT) if p is not None])
    out = subprocess.run([sys.executable, "-m", "benchmarks.bench_features", "--round", f"{riders}:{minutes}:{seed}"],
                         cwd=tree or ROOT, env=env, capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(f"benchmark round failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def verdict(values: list[float], target: float) -> str | None:
    """'met' if the worst round meets the bound, 'missed' if the best misses it, None while noise could flip it.

    >>> verdict([4.0, 4.5], 5.0), verdict([5.5, 6.0], 5.0), verdict([4.5, 5.5], 5.0)
    ('met', 'missed', None)
    """
    if max(values) <= target:
        return "met"
    if min(values) > target:
        return "missed"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 riders × 10 min, 3 rounds (about a minute)")
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON here")
    parser.add_argument("--riders", type=int, help="riders per round (default 1000; --quick 300)")
    parser.add_argument("--minutes", type=float, help="minutes of 1 Hz records per rider (default 30; --quick 10)")
    parser.add_argument("--rounds", type=int, default=3, help="minimum alternating rounds of each (default 3)")
    parser.add_argument("--max-rounds", type=int, default=7, help="stop here even if a target is undecided")
    parser.add_argument("--baseline-ref", default="main", help="git ref whose features/ is the baseline (main)")
    parser.add_argument("--round", help=argparse.SUPPRESS)  # internal: one round in this process, JSON on stdout
    args = parser.parse_args(argv)
    if args.round:
        riders, minutes, seed = args.round.split(":")
        print(json.dumps(measure(int(riders), float(minutes), int(seed))))
        return 0
    riders = args.riders or (300 if args.quick else 1000)
    minutes = args.minutes or (10.0 if args.quick else 30.0)
    base_tree = _baseline_tree(args.baseline_ref)
    current: list[dict[str, float]] = []
    baseline: list[dict[str, float]] = []
    print(f"{riders} riders × {minutes:g} min of 1 Hz wearable + trip, scored every {SCORE_EVERY_S} s; "
          f"baseline: features/ at {args.baseline_ref}", flush=True)
    for r in range(args.max_rounds):
        for label, tree, into in (("baseline", base_tree, baseline), ("current", None, current)):
            result = _run_in(tree, riders, minutes, seed=r)
            into.append(result)
            print(f"round {r + 1} {label:<8} " + "  ".join(f"{k}={result[k]:.1f}" for k in TARGETS), flush=True)
        undecided = [k for k, (t, _, _) in TARGETS.items() if verdict([c[k] for c in current], t) is None]
        if r + 1 >= args.rounds and not undecided:
            break
    summary: dict[str, Any] = {"riders": riders, "minutes": minutes, "rounds": len(current),
                               "baseline_ref": args.baseline_ref}
    print(f"\n{'metric':<24} {'current median':>15} {'[min, max]':>20} {'baseline median':>16} {'target':>10}  verdict")
    for key, (target, unit, what) in TARGETS.items():
        cur, base = [c[key] for c in current], [b[key] for b in baseline]
        v = verdict(cur, target) or "undecided"
        summary[key] = statistics.median(cur)
        summary[key + "_min"], summary[key + "_max"] = min(cur), max(cur)
        summary[key + "_baseline"] = statistics.median(base)
        summary[key + "_target"] = target
        summary[key + "_verdict"] = v
        print(f"{key:<24} {statistics.median(cur):>12.1f} {unit:<2} [{min(cur):>8.1f}, {max(cur):>8.1f}] "
              f"{statistics.median(base):>13.1f} {unit:<2} {'≤ ' + format(target, 'g'):>8} {unit:<2} {v} ({what})")
    summary["state_bytes_max_seen"] = max(c["state_bytes_max"] for c in current)
    flat = {m: statistics.median(c[f"features_us_{m}m"] for c in current) for m in FLAT_MINUTES}
    flat_base = {m: statistics.median(b[f"features_us_{m}m"] for b in baseline) for m in FLAT_MINUTES}
    for m in FLAT_MINUTES:
        summary[f"features_us_{m}m"], summary[f"features_us_{m}m_baseline"] = flat[m], flat_base[m]
    print("rider_features after " + ", ".join(f"{m} min online {flat[m]:.1f} µs (baseline {flat_base[m]:.1f})"
                                              for m in FLAT_MINUTES)
          + f" ({FLAT_RIDERS} riders, fastest of 5 calls each, median of riders and rounds)")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
