"""The outcome study as Markdown with two plots (``docs/reports/outcome.md``), from its JSON summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from riskstream.lab.outcome import ARMS, ASSUMPTIONS
from riskstream.lab.plots import _save, plt

SOURCE_REDUCTION = -0.18  # the source's ride-hailing accident change for a comparable platform
TARGET_ALERTS = 1.0


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100.0 * x:+.1f} %"


def _ci(ci: list[float | None]) -> str:
    return "n/a" if None in ci else f"{100.0 * ci[0]:+.1f} % to {100.0 * ci[1]:+.1f} %"  # type: ignore[operator]


def arms_plot(summary: dict[str, Any], path: Path) -> Path:
    """Incidents and expected incidents by arm, per scenario; error bars: the interval against control."""
    scenarios = list(summary["scenarios"])
    fig, axes = plt.subplots(1, len(scenarios), figsize=(5.5 * len(scenarios), 3.8), squeeze=False)
    for ax, scenario in zip(axes[0], scenarios):
        s = summary["scenarios"][scenario]
        xs = range(len(ARMS))
        exp = [s["arms"][a]["expected_incidents"] or 0.0 for a in ARMS]
        inc = [s["arms"][a]["incidents"] for a in ARMS]
        base = s["arms"]["control"]["expected_incidents"] or 0.0
        err_lo, err_hi = [0.0], [0.0]
        for arm in ARMS[1:]:
            d = _vs_control(summary, scenario, arm)
            lo, hi = d["ci"]
            rel = d["expected_incidents_rel"]
            if None in (lo, hi, rel):
                err_lo.append(0.0)
                err_hi.append(0.0)
            else:
                err_lo.append(max(0.0, (rel - lo) * base))
                err_hi.append(max(0.0, (hi - rel) * base))
        ax.bar([x - 0.2 for x in xs], exp, width=0.4, yerr=[err_lo, err_hi], capsize=3,
               label="expected incidents (∫ true hazard dt)")
        ax.bar([x + 0.2 for x in xs], inc, width=0.4, label="incidents (realised)")
        ax.set_xticks(list(xs), ARMS)
        ax.set(title=f"{scenario}: {s['rider_hours']:.0f} online rider-hours", ylabel="incidents")
        ax.legend(fontsize=8)
    return _save(fig, path)


def rates_plot(summary: dict[str, Any], path: Path) -> Path:
    """Policy alerts per online rider-hour of each rider (≥ 1 h online), per scenario."""
    scenarios = list(summary["scenarios"])
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    data = [summary["scenarios"][s]["policy_alerts_per_rider_hour_by_rider"] or [0.0] for s in scenarios]
    ax.boxplot(data, showmeans=True)
    ax.set_xticks(range(1, len(scenarios) + 1), scenarios)
    ax.axhline(TARGET_ALERTS, color="grey", linestyle="--", label="target: 1 per online rider-hour (fleet mean)")
    ax.set(title="Policy alerts per online rider-hour, per rider", ylabel="alerts per online hour")
    ax.legend(fontsize=8)
    return _save(fig, path)


def _vs_control(summary: dict[str, Any], scenario: str, arm: str) -> dict[str, Any]:
    s = summary["scenarios"][scenario]
    if arm == "policy":
        return s["differences"]["policy_minus_control"]
    return s["vs_control"][arm]


def markdown(summary: dict[str, Any], command: str, arms_png: str, rates_png: str, elapsed_s: float) -> str:
    setup = summary["setup"]
    lines = [
        "# Outcome study: do the alerts prevent incidents?", "",
        f"Regenerate: `{command}` ({elapsed_s / 60.0:.0f} min on this machine; `--quick` runs a small slice "
        "of it for CI).", "",
        f"Setup: {setup['riders']} riders × {setup['hours']:g} h from 10:00 local × seeds {setup['seeds']} per "
        f"scenario, compliance {setup['compliance']}, crash and fall signatures `{setup['signatures']}`. "
        "Arms share their random numbers (riders, weather, per-tick draws); see `riskstream/lab/outcome.py`.", "",
        "Estimators: **incidents** are realised counts (exact conditional-Poisson interval of the ratio, the "
        "two arms treated as independent, which is conservative here); **expected incidents** are "
        "Σ ∫ true hazard dt along each arm's trajectory, far less noisy, with a ratio-estimator interval over "
        "(seed, rider) pairs. Differences are relative (negative = fewer incidents); the source reports "
        f"{SOURCE_REDUCTION:+.0%} ride-hailing accidents for a comparable platform.", "",
        f"![incidents by arm]({arms_png})", "",
        f"![alerts per rider-hour]({rates_png})", "",
    ]
    for scenario, s in summary["scenarios"].items():
        lines += [f"## Scenario `{scenario}`", "", f"{s['rider_hours']:.0f} online rider-hours per arm (control).", "",
                  "| arm | alerts per online rider-hour | incidents | expected incidents | online rider-hours | "
                  "expected incidents per 100 online rider-hours |",
                  "|---|---|---|---|---|---|"]
        for arm in ARMS:
            a = s["arms"][arm]
            rate = "n/a" if a["alerts_per_online_rider_hour"] is None else f"{a['alerts_per_online_rider_hour']:.2f}"
            per = a.get("expected_incidents_per_online_rider_hour")
            per_text = "n/a" if per is None else f"{100 * per:.2f}"
            lines.append(f"| {arm} | {rate} | {a['incidents']} | {a['expected_incidents']:.2f} | "
                         f"{a['online_rider_hours']:.0f} | {per_text} |")
        kinds = [k for k in ("crash", "fall", "heat_illness", "exhaustion")
                 if any(k in s["arms"][arm].get("expected_incidents_by_kind", {}) for arm in ARMS)]
        if kinds:
            lines += ["", "Expected incidents by kind (which incidents dominate, and which ones an arm's alerts change):",
                      "", "| arm | " + " | ".join(k.replace("_", " ") for k in kinds) + " |",
                      "|---|" + "---|" * len(kinds)]
            for arm in ARMS:
                by_kind = s["arms"][arm].get("expected_incidents_by_kind", {})
                lines.append(f"| {arm} | " + " | ".join(
                    "n/a" if by_kind.get(k) is None else f"{by_kind[k]:.2f}" for k in kinds) + " |")
        lines += ["", "| difference | expected incidents | 95 % interval | expected per online rider-hour | 95 % interval "
                  "| incidents | 95 % interval (exact) | incidents per online rider-hour | 95 % interval (exact) |",
                  "|---|---|---|---|---|---|---|---|---|"]
        rows = [*s["differences"].items(), *((f"{a}_minus_control", d) for a, d in s["vs_control"].items()),
                *((f"{a}_minus_placebo", d) for a, d in s.get("vs_placebo", {}).items())]
        for name, d in rows:
            lines.append(f"| {name.replace('_', ' ')} | {_pct(d['expected_incidents_rel'])} | {_ci(d['ci'])} | "
                         f"{_pct(d.get('expected_incidents_per_hour_rel'))} | "
                         f"{_ci(d.get('expected_incidents_per_hour_ci', [None, None]))} | "
                         f"{_pct(d['incidents_rel'])} | {_ci(d['incidents_ci'])} | "
                         f"{_pct(d.get('incidents_per_hour_rel'))} | {_ci(d.get('incidents_per_hour_ci', [None, None]))} |")
        if "power" in s:
            p = s["power"]
            lines += ["", f"Power: the policy − placebo interval in expected incidents is ±{100 * p['policy_minus_placebo_half_width']:.1f} "
                      f"points at {s['rider_hours']:.0f} online rider-hours; ±5 points needs about "
                      f"{p['rider_hours_for_target']:.0f} (half-width ∝ 1/√rider-hours)."]
            if "rider_hours_for_target_per_hour" in p:
                lines[-1] += (f" Per online rider-hour: ±{100 * p['policy_minus_placebo_per_hour_half_width']:.1f} points; "
                              f"±5 points needs about {p['rider_hours_for_target_per_hour']:.0f} online rider-hours per arm.")
        f = s["fall_detection"]
        rec = "n/a" if f["recall"] is None else f"{100 * f['recall']:.0f} %"
        lines += ["", f"Fall detector (policy arm, `{setup['signatures']}` signatures): {f['detected']} of "
                  f"{f['impacts']} crashes and falls got an \"Are you OK?\" within 180 s (recall {rec}); "
                  f"{f['false_prompts']} prompts had no crash or fall of that rider in the 180 s before: "
                  f"{f['false_prompts_per_online_rider_hour']:.3f} false prompts per online rider-hour."]
        lines += ["", "Warned ahead (policy arm: a relevant alert in the 60 min before the incident; chance: the same "
                  "rule at random online moments; placebo: the share of the placebo arm's own incidents its random "
                  "alerts of the same volume and mix warned):", "",
                  "| incident kind | incidents | warned | chance | placebo: incidents | placebo: warned |",
                  "|---|---|---|---|---|---|"]
        placebo = {w["kind"]: w for w in s.get("warned_ahead_placebo", [])}
        for w in s["warned_ahead"]:
            share = "n/a" if w["share"] is None else f"{100 * w['share']:.0f} %"
            chance = "n/a" if w["chance"] is None else f"{100 * w['chance']:.0f} %"
            p = placebo.get(w["kind"])
            p_text = "– | –" if p is None else (f"{p['incidents']} | {p['warned']}"
                                               + ("" if p["share"] is None else f" ({100 * p['share']:.0f} %)"))
            lines.append(f"| {w['kind']} | {w['incidents']} | {w['warned']} ({share}) | {chance} | {p_text} |")
        if "sensitivity" in s:
            lines += ["", f"Sensitivity (expected incidents on seeds {s.get('sensitivity_seeds', 'all')}; "
                      "the control is shared):", "",
                      "| compliance | break length | policy − control | interval | policy − placebo | interval |",
                      "|---|---|---|---|---|---|"]
            for row in s["sensitivity"]:
                pc, pp = row["policy_minus_control"], row["policy_minus_placebo"]
                lines.append(f"| {row['compliance']} | × {row['rest_scale']} | {_pct(pc['expected_incidents_rel'])} | "
                             f"{_ci(pc['ci'])} | {_pct(pp['expected_incidents_rel'])} | {_ci(pp['ci'])} |")
        lines.append("")
    lines += ["## Assumptions (inputs of the simulated world, not findings)", "",
              "| what | value | source |", "|---|---|---|"]
    lines += [f"| {a} | {v} | {src} |" for a, v, src in ASSUMPTIONS]
    return "\n".join(lines) + "\n"
