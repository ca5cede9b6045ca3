"""How much faster than real time the fleet simulator runs (issue 17: ≥ 50× for 1,000 riders on one core).

Usage: ``python -m benchmarks.bench_simulator [--quick] [--riders N] [--json FILE]``.
Simulates ``--riders`` riders from the simulator's default start (10:00 local, a July day)
in 10-minute segments, twice over: building every topic record (``FleetSimulator.records``,
what a replay or the processor-driven arms pay) and stepping the world only
(``FleetSimulator.advance``, what the outcome study's simulator-only arms pay). For each it
prints the speed-up over real time (simulated seconds ÷ wall seconds) over the whole run
and in its slowest segment, with the riders online there, and simulated seconds per CPU second
of the process (what one core gives when the machine is shared and the wall clock is not): the cost per tick grows with the
riders online, so the slowest segment is the busiest one. Single process, one core.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from riskstream.simulation import FleetSimulator, SimConfig

SEGMENT_S = 600.0
TARGET_X = 50.0


def measure(riders: int, hours: float, seed: int, build_records: bool) -> dict[str, float]:
    """Speed-ups over real time of one run (whole run, slowest and median segment) and online riders."""
    sim = FleetSimulator(SimConfig(riders=riders, seed=seed))
    segments: list[tuple[float, float]] = []  # (speed-up, mean riders online)
    wall_total, cpu_total, records = 0.0, 0.0, 0
    for _ in range(max(1, int(round(hours * 3600.0 / SEGMENT_S)))):
        online_before = sim.stats.online_s
        t0, c0 = time.perf_counter(), time.process_time()
        if build_records:
            records += sum(1 for _ in sim.records(SEGMENT_S, drain=False))
        else:
            sim.advance(SEGMENT_S)
        wall = time.perf_counter() - t0
        wall_total += wall
        cpu_total += time.process_time() - c0
        segments.append((SEGMENT_S / wall, (sim.stats.online_s - online_before) / SEGMENT_S))
    slowest = min(segments)
    return {
        "speedup": len(segments) * SEGMENT_S / wall_total,
        "cpu_speedup": len(segments) * SEGMENT_S / cpu_total,
        "speedup_slowest_segment": slowest[0],
        "speedup_median_segment": statistics.median(s for s, _ in segments),
        "riders_online_in_slowest_segment": slowest[1],
        "riders_online_max_segment": max(o for _, o in segments),
        "records_per_s": records / wall_total,
        "wall_s": wall_total,
    }


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30 simulated minutes instead of 3 hours")
    parser.add_argument("--riders", type=int, default=1000, help="fleet size (default 1000)")
    parser.add_argument("--seed", type=int, default=1, help="simulator seed (default 1)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here as JSON")
    args = parser.parse_args(argv)
    hours = 0.5 if args.quick else 3.0
    out: dict[str, object] = {"riders": args.riders, "simulated_hours": hours, "target_speedup": TARGET_X}
    for name, build in (("records", True), ("advance", False)):
        r = measure(args.riders, hours, args.seed, build)
        out[name] = r
        print(f"{name:8s} {args.riders} riders, {hours:g} h: {r['speedup']:.0f}× real time overall, "
              f"slowest 10-min segment {r['speedup_slowest_segment']:.0f}× with "
              f"{r['riders_online_in_slowest_segment']:.0f} riders online "
              f"(at most {r['riders_online_max_segment']:.0f}); {r['cpu_speedup']:.0f}× per CPU second of this "
              f"process; {r['records_per_s']:.0f} records/s")
    rec = out["records"]
    assert isinstance(rec, dict)
    out["speedup"] = rec["speedup"]
    out["speedup_slowest_segment"] = rec["speedup_slowest_segment"]
    out["cpu_speedup"] = rec["cpu_speedup"]
    verdict = "meets" if rec["speedup_slowest_segment"] >= TARGET_X else "misses"
    print(f"simulator speed-up over real time (records built, slowest segment): "
          f"{rec['speedup_slowest_segment']:.0f}× — {verdict} the {TARGET_X:.0f}× target")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    main()
