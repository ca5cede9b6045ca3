"""Per-event update cost and per-rider state size of ``features``, and that neither grows with stream length.

Usage: ``python benchmarks/bench_features.py [--quick]``. Records are plain attribute
objects shaped like the pydantic schemas (parsing cost belongs to ``streams``, not here).
Prints one table row per scenario: riders, minutes of 1 Hz wearable + trip data per
rider, µs per update (mean over all updates), µs per ``rider_features`` call, and the
JSON size of ``state.to_dict()`` per rider (mean and max).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from datetime import datetime, timezone
from types import SimpleNamespace

from features import FeatureConfig, RiderState, rider_features, update_trip, update_wearable

START = 1_782_864_000.0
CFG = FeatureConfig()


def _events(rider: str, seconds: int, rng: random.Random, offset: int) -> list[tuple[str, SimpleNamespace]]:
    out = []
    for i in range(seconds):
        ts = datetime.fromtimestamp(START + offset + i, tz=timezone.utc)
        out.append(("w", SimpleNamespace(
            event_id=f"{rider}-w{offset + i}", ts=ts, heart_rate_bpm=90.0 + 60 * rng.random(), skin_temp_c=34.0 + rng.random(),
            accel_peak_g=1.0 + 2 * rng.random(), accel_mean_g=1.0, accel_var=0.03 * rng.random(), on_body=True)))
        if i % 50 != 7:  # occasional trip dropout
            out.append(("t", SimpleNamespace(
                event_id=f"{rider}-t{offset + i}", ts=ts, zone_id="z1", status="riding" if (i // 300) % 4 else "waiting",
                speed_kmh=30 * rng.random(), accel_long_g=rng.uniform(-0.5, 0.4), accel_lat_g=rng.uniform(-0.45, 0.45),
                speed_limit_kmh=20.0 if i % 3 else None, phone_handling=i % 40 == 0)))
    return out


def run(riders: int, minutes: float, seed: int = 0) -> dict[str, float]:
    """Feed ``minutes`` of 1 Hz data per rider, interleaved across riders second by second (as a partition would)."""
    rng = random.Random(seed)
    seconds = int(minutes * 60)
    states = {f"r{r}": RiderState.new(f"r{r}") for r in range(riders)}
    updates = 0
    elapsed = 0.0
    chunk = 60  # build events a minute at a time so 100k riders fit in memory
    for start in range(0, seconds, chunk):
        batch = []
        for rider in states:
            batch.append(_events(rider, min(chunk, seconds - start), rng, start))
        flat = [(rider_events[k], rid) for rid, rider_events in zip(states, batch) for k in range(len(rider_events))]
        t0 = time.perf_counter()
        for (role, rec), rid in flat:
            state = states[rid]
            if role == "w":
                update_wearable(state, rec, CFG)
            else:
                update_trip(state, rec, CFG, zone_heat_index_c=33.0)
        elapsed += time.perf_counter() - t0
        updates += len(flat)
    sample = list(states.values())[: min(riders, 2000)]
    now = START + seconds
    t0 = time.perf_counter()
    for state in sample:
        rider_features(state, None, now, CFG)
    feat_us = (time.perf_counter() - t0) / len(sample) * 1e6
    sizes = [len(json.dumps(s.to_dict(), separators=(",", ":"))) for s in sample]
    return {"riders": riders, "minutes": minutes, "updates": updates, "update_us": elapsed / updates * 1e6,
            "features_us": feat_us, "bytes_mean": statistics.fmean(sizes), "bytes_max": max(sizes)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--scenario", action="append", default=[], metavar="RIDERS:MINUTES",
                        help="run only these scenarios, e.g. --scenario 100000:3")
    args = parser.parse_args()
    if args.scenario:
        scenarios = [(int(r), float(m)) for r, m in (x.split(":") for x in args.scenario)]
    elif args.quick:
        scenarios = [(100, 2), (100, 10), (1000, 2)]
    else:
        scenarios = [(1000, 10), (1000, 60), (1000, 180), (100_000, 1), (100_000, 3)]
    print(f"{'riders':>8} {'min/rider':>9} {'updates':>10} {'µs/update':>10} {'µs/features':>12} "
          f"{'state B mean':>12} {'state B max':>11}")
    for riders, minutes in scenarios:
        r = run(riders, minutes)
        print(f"{r['riders']:>8} {r['minutes']:>9} {r['updates']:>10} {r['update_us']:>10.1f} {r['features_us']:>12.1f} "
              f"{r['bytes_mean']:>12.0f} {r['bytes_max']:>11}", flush=True)


if __name__ == "__main__":
    main()
