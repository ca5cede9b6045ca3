"""Screen alert-policy settings on the outcome study's main comparison before a pre-registered confirmation.

For each ``--variant NAME:key=value,key=value`` (keys of ``alerts.config.AlertConfig``; ``base`` with no
overrides is the configured policy) runs the study's policy, placebo (``PLACEBO_DRAWS`` placements), control
and oracle arms on the same units (no rules or sensitivity runs: a screen, not the study), and a *rider-matched
oracle* (each rider's policy alerts moved to that rider's highest-hazard minutes of the control arm,
:func:`riskstream.lab.outcome.plan_per_rider`: what choosing *when* by the true hazard earns at the placebo's
per-rider volume; the placebo copies *whom*),
and a *fleet placebo* (random alerts at the policy's fleet rate and pooled kind mix, every rider alike: it does
not copy whom the policy alerted), and prints, per scenario, in expected incidents per online rider-hour with
95 % intervals: policy − placebo, policy − control, oracle − placebo, rider-matched oracle − placebo, policy −
fleet placebo and oracle − fleet placebo, and the policy's alerts per online rider-hour:

    python -m benchmarks.outcome_variants --scenario default --riders 30 --hours 4 --seeds 24 25 26 \\
        --jobs 2 --variant base budget_min_risk_rr=2

A screen chooses what to confirm; its numbers are not the confirmation (they chose the question). Seeds
used in a screen are named in the note that reports it and are not reused for the confirmation.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from typing import Any

VARIANT_HELP = ("NAME or NAME:key=value,key=value, or just key=value,... (named after its overrides); keys are "
                "alerts.config.AlertConfig fields, values parsed as JSON (numbers, true/false) or kept as text")


@dataclass(frozen=True)
class Job:
    variant: str
    overrides: tuple[tuple[str, Any], ...]
    unit: Any  # riskstream.lab.outcome.Unit


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """``"name:a=1,b=true"`` → ``("name", {"a": 1, "b": True})``; ``"a=1"`` → ``("a=1", {"a": 1})``.

    >>> parse_variant("base"), parse_variant("late:heat_break_after_min=90")
    (('base', {}), ('late', {'heat_break_after_min': 90}))
    >>> parse_variant("budget_min_risk_rr=2,merge_co_occurring=false")
    ('budget_min_risk_rr=2,merge_co_occurring=false', {'budget_min_risk_rr': 2, 'merge_co_occurring': False})
    """
    name, _, rest = text.partition(":") if ":" in text else ("", "", text)
    overrides: dict[str, Any] = {}
    if "=" in rest:
        for part in rest.split(","):
            key, eq, value = part.partition("=")
            if not eq or not key.strip():
                raise SystemExit(f"--variant {text!r}: {part!r} is not key=value ({VARIANT_HELP})")
            try:
                overrides[key.strip()] = json.loads(value)
            except json.JSONDecodeError:
                overrides[key.strip()] = value
    elif rest:
        name = name or rest
    return (name or text), overrides


def run_job(job: Job) -> tuple[str, Any, dict[str, Any]]:
    """The screen's arms of one unit under one variant's alert settings."""
    import numpy as np

    from riskstream.cli.main import _load_settings
    from riskstream.lab.outcome import run_placebo, run_processor_arm, run_rider_oracle, run_simulated_arm

    settings = _load_settings()
    alerts = settings.alerts.model_validate({**settings.alerts.model_dump(), **dict(job.overrides)})
    settings = settings.model_copy(update={"alerts": alerts})
    unit = job.unit
    policy = run_processor_arm("policy", unit, settings, unit.compliance)
    hazards: list[Any] = []
    arms = {"policy": policy, "placebo": run_placebo(unit, policy, unit.compliance),
            "control": run_simulated_arm("control", unit, None, 0.0, hazards=hazards),
            "oracle": run_simulated_arm("oracle", unit, policy, unit.compliance)}
    arms["rider_oracle"] = run_rider_oracle(unit, policy, np.array(hazards), unit.compliance)
    arms["fleet_placebo"] = run_placebo(unit, policy, unit.compliance, arm="fleet_placebo")
    return job.variant, unit, arms


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--riders", type=int, default=30)
    ap.add_argument("--hours", type=float, default=4.0)
    ap.add_argument("--seeds", type=int, nargs="+", default=[24, 25, 26])
    ap.add_argument("--scenario", nargs="+", default=["default"])
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--variant", nargs="+", default=["base"], help=VARIANT_HELP)
    ap.add_argument("--json", help="write every variant's differences here")
    args = ap.parse_args(argv)

    from riskstream.lab.outcome import expected_rate_ratio, study_units
    from riskstream.lab.train import map_shards

    variants = [parse_variant(v) for v in args.variant]
    units = study_units(args.scenario, args.seeds, args.riders, args.hours, 0.7, False)
    jobs = [Job(name, tuple(sorted(ov.items())), u) for name, ov in variants for u in units]
    started = time.perf_counter()
    done = map_shards(run_job, jobs, args.jobs, "variant units", progress=True)
    order = {(j.variant, j.unit): k for k, j in enumerate(jobs)}
    done.sort(key=lambda r: order[(r[0], r[1])])
    out: dict[str, Any] = {}
    for name, _ in variants:
        for scenario in args.scenario:
            runs = [arms for v, u, arms in done if v == name and u.scenario == scenario]
            by = {a: [r[a] for r in runs] for a in ("policy", "placebo", "control", "oracle", "rider_oracle",
                                                 "fleet_placebo")}
            hours = sum(r.online_hours for r in by["policy"])
            rate = sum(len(r.alerts) for r in by["policy"]) / hours if hours else float("nan")
            row: dict[str, Any] = {"alerts_per_online_rider_hour": round(rate, 4),
                                   "policy_online_rider_hours": round(hours, 1)}
            for label, (a, b) in {"policy_minus_placebo": ("policy", "placebo"),
                                  "policy_minus_control": ("policy", "control"),
                                  "oracle_minus_placebo": ("oracle", "placebo"),
                                  "rider_oracle_minus_placebo": ("rider_oracle", "placebo"),
                                  "policy_minus_fleet_placebo": ("policy", "fleet_placebo"),
                                  "oracle_minus_fleet_placebo": ("oracle", "fleet_placebo")}.items():
                rel, lo, hi = expected_rate_ratio(by[a], by[b])
                row[label] = {"expected_incidents_per_hour_rel": round(rel, 4), "ci": [round(lo, 4), round(hi, 4)]}
            out.setdefault(name, {})[scenario] = row
            diffs = " | ".join(f"{k} {100 * d['expected_incidents_per_hour_rel']:+.1f} % "
                               f"({100 * d['ci'][0]:+.1f}, {100 * d['ci'][1]:+.1f})"
                               for k, d in row.items() if isinstance(d, dict))
            print(f"{name:32s} {scenario:8s} alerts/online h {rate:.2f} | {diffs}", flush=True)
    print(f"{len(jobs)} units in {time.perf_counter() - started:.0f} s wall (seeds {args.seeds}, "
          f"{args.riders} riders × {args.hours:g} h)", flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"seeds": args.seeds, "riders": args.riders, "hours": args.hours, "variants": out}, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
