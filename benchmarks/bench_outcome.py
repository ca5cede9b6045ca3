"""One arm of the outcome study: CPU seconds per online rider-hour, and how much of it is the simulated world.

Runs one arm of one (scenario, seed) unit of ``riskstream evaluate-outcome`` exactly as the study
does (:func:`riskstream.lab.outcome.run_processor_arm` for ``policy``/``rules``,
:func:`~riskstream.lab.outcome.run_simulated_arm` for ``control``) and prints its CPU seconds (one
core) per online rider-hour, beside those of the same unit's control arm: the world alone (dynamics,
true hazard, incident draws; no records, no worker). The rest of a processor arm is building the
records and the worker's decision path (parsing, features, scoring, policy). ``--top N`` runs the arm
once more under cProfile and prints its top ``N`` functions by own time.

    python -m benchmarks.bench_outcome                                   # policy arm, default, 30 riders × 1 h
    python -m benchmarks.bench_outcome --riders 30 --hours 4 --top 20
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import time


def _run(arm: str, unit, settings):  # noqa: ANN001, ANN202 - Unit, Settings
    from riskstream.lab.outcome import run_processor_arm, run_simulated_arm

    if arm == "control":
        return run_simulated_arm("control", unit, None, unit.compliance)
    return run_processor_arm(arm, unit, settings, unit.compliance)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arm", choices=("policy", "rules", "control"), default="policy")
    ap.add_argument("--scenario", choices=("default", "mixed"), default="default")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--riders", type=int, default=30)
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--top", type=int, default=0, help="also run the arm under cProfile and print its top N functions")
    ap.add_argument("--json", help="write the numbers to this file")
    args = ap.parse_args(argv)

    from riskstream.cli.main import _load_settings
    from riskstream.lab.outcome import Unit

    settings = _load_settings()
    unit = Unit(args.scenario, args.seed, args.riders, args.hours)
    started = time.process_time()
    run = _run(args.arm, unit, settings)
    cpu = time.process_time() - started
    started = time.process_time()
    world = _run("control", unit, settings) if args.arm != "control" else run
    cpu_world = time.process_time() - started if args.arm != "control" else cpu
    hours, world_hours = run.online_hours, world.online_hours
    per_h = cpu / hours if hours else None
    world_per_h = cpu_world / world_hours if world_hours else None
    out = {"arm": args.arm, "scenario": args.scenario, "seed": args.seed, "riders": args.riders, "hours": args.hours,
           "online_rider_hours": round(hours, 2), "cpu_s": round(cpu, 2),
           "cpu_s_per_online_rider_hour": None if per_h is None else round(per_h, 4),
           "world_cpu_s_per_online_rider_hour": None if world_per_h is None else round(world_per_h, 4),
           "world_share": None if not (per_h and world_per_h) else round(world_per_h / per_h, 3)}
    print(f"{args.arm} arm, {args.scenario}, seed {args.seed}, {args.riders} riders × {args.hours:g} h: {hours:.1f} "
          f"online rider-hours, {cpu:.1f} CPU-s, {out['cpu_s_per_online_rider_hour']} CPU-s per online rider-hour; "
          f"the world alone (control arm) {out['world_cpu_s_per_online_rider_hour']} "
          f"({out['world_share']:.0%} of it)")
    if args.top:
        profile = cProfile.Profile()
        profile.runcall(_run, args.arm, unit, settings)
        pstats.Stats(profile).sort_stats("tottime").print_stats(args.top)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
