"""One arm of the outcome study: CPU seconds per online rider-hour, and which part of the loop spends them.

Runs one arm of one (scenario, seed) unit of ``riskstream evaluate-outcome`` exactly as the study
does (:func:`riskstream.lab.outcome.run_processor_arm` for ``policy``/``rules``,
:func:`~riskstream.lab.outcome.run_simulated_arm` for ``control``) under cProfile and prints the CPU
seconds (one core, profiler overhead included) per online rider-hour, split into the simulated world
(``RiderDynamics.step``: dynamics, true hazard, incident draws), building its records
(``FleetSimulator._emit_riders``) and the worker's decision path (``Processor.process_batch``: parsing,
features, scoring, policy). The profiler inflates every part; the split, not the total, is the point.

    python -m benchmarks.bench_outcome                                   # policy arm, default, 30 riders × 1 h
    python -m benchmarks.bench_outcome --arm control --riders 30 --hours 4 --top 20
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import time

#: Functions whose cumulative time is reported as a part of the loop: (label, file suffix, function name).
PARTS: tuple[tuple[str, str, str], ...] = (
    ("simulated world (dynamics, hazard, draws)", "simulation/dynamics.py", "step"),
    ("building the simulator's records", "simulation/fleet.py", "_emit_riders"),
    ("worker decision path (Processor.process_batch)", "streams/processor.py", "process_batch"),
)


def cumulative(stats: pstats.Stats, suffix: str, name: str) -> float:
    """Cumulative seconds of the function ``name`` defined in a file ending with ``suffix`` (0 if never called)."""
    table = stats.stats  # type: ignore[attr-defined]  # pstats keeps its table here
    return sum(row[3] for (file, _, func), row in table.items() if func == name and file.endswith(suffix))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arm", choices=("policy", "rules", "control"), default="policy")
    ap.add_argument("--scenario", choices=("default", "mixed"), default="default")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--riders", type=int, default=30)
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--top", type=int, default=0, help="also print cProfile's top N functions by own time")
    ap.add_argument("--json", help="write the numbers to this file")
    args = ap.parse_args(argv)

    from riskstream.cli.main import _load_settings
    from riskstream.lab.outcome import Unit, run_processor_arm, run_simulated_arm

    settings = _load_settings()
    unit = Unit(args.scenario, args.seed, args.riders, args.hours)
    profile = cProfile.Profile(time.process_time)  # CPU time: the machine is shared
    started = time.process_time()
    profile.enable()
    if args.arm == "control":
        run = run_simulated_arm("control", unit, None, unit.compliance)
    else:
        run = run_processor_arm(args.arm, unit, settings, unit.compliance)
    profile.disable()
    cpu = time.process_time() - started
    stats = pstats.Stats(profile)
    hours = run.online_hours
    out = {"arm": args.arm, "scenario": args.scenario, "seed": args.seed, "riders": args.riders, "hours": args.hours,
           "online_rider_hours": round(hours, 2), "cpu_s": round(cpu, 2),
           "cpu_s_per_online_rider_hour": round(cpu / hours, 4) if hours else None, "parts": {}}
    print(f"{args.arm} arm, {args.scenario}, seed {args.seed}, {args.riders} riders × {args.hours:g} h: "
          f"{hours:.1f} online rider-hours, {cpu:.1f} CPU-s (profiled), {out['cpu_s_per_online_rider_hour']} "
          "CPU-s per online rider-hour")
    total = stats.total_tt  # type: ignore[attr-defined]  # profiled seconds of every function, own time
    for label, suffix, name in PARTS:
        seconds = cumulative(stats, suffix, name)
        out["parts"][label] = {"s": round(seconds, 2), "share": round(seconds / total, 3) if total else None}
        print(f"  {label}: {seconds:.1f} s of {total:.1f} profiled ({100 * seconds / total:.0f} %)")
    if args.top:
        stats.sort_stats("tottime").print_stats(args.top)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
