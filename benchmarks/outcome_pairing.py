"""How wide the outcome study's intervals are on the same units under each random-number keying and placebo draws.

Runs the study's main arms (no sensitivity runs) for the given units once per ``--variant`` and prints each
difference's relative value, 95 % interval and half-width, as totals and per online rider-hour:

    python -m benchmarks.outcome_pairing --riders 20 --hours 2 --seeds 21 22 --jobs 2 \\
        --variant sequential:1 keyed:1 keyed:4
"""

from __future__ import annotations

import argparse
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--riders", type=int, default=20)
    ap.add_argument("--hours", type=float, default=2.0)
    ap.add_argument("--seeds", type=int, nargs="+", default=[21, 22])
    ap.add_argument("--scenario", nargs="+", default=["default", "mixed"])
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--variant", nargs="+", default=["sequential:1", "keyed:1", "keyed:4"],
                    help="KEYING:PLACEBO_DRAWS, KEYING one of riskstream.simulation.dynamics.RNG_KEYINGS")
    args = ap.parse_args(argv)

    from riskstream.cli.main import _load_settings
    from riskstream.lab.outcome import run_units, study_units, summarize

    settings = _load_settings()
    for variant in args.variant:
        keying, draws = variant.split(":")
        started = time.perf_counter()
        units = study_units(args.scenario, args.seeds, args.riders, args.hours, 0.7, False, keying, int(draws))
        summary = summarize(run_units(units, settings, workers=args.jobs), args.riders, args.hours, args.seeds, 0.7, False)
        for scenario, sec in summary["scenarios"].items():
            for name in ("policy_minus_placebo", "policy_minus_control"):
                d = sec["differences"][name]
                lo, hi = d["ci"]
                rlo, rhi = d["expected_incidents_per_hour_ci"]
                print(f"{variant:14s} {scenario:8s} {name:21s} expected {100 * d['expected_incidents_rel']:+.1f} % "
                      f"({100 * lo:+.1f}, {100 * hi:+.1f}) ±{50 * (hi - lo):.1f} | per online rider-hour "
                      f"{100 * d['expected_incidents_per_hour_rel']:+.1f} % ({100 * rlo:+.1f}, {100 * rhi:+.1f}) "
                      f"±{50 * (rhi - rlo):.1f} | {sec['rider_hours']:.0f} rider-hours", flush=True)
        print(f"{variant}: {time.perf_counter() - started:.0f} s wall", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
