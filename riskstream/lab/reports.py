"""Markdown reports of the alert-policy evaluation, the closed loop and the fairness check."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from riskstream.lab.closed_loop import LoopComparison
from riskstream.lab.matching import (
    DETECTION_WINDOW_S, HORIZON_S, RELEVANT, AlertIndex, alert_rates, detected_share, warned_share,
)
from riskstream.lab.run import RunResult

#: The issue's target for the alert volume.
TARGET_ALERTS_PER_RIDER_HOUR = 1.0
#: Reduction reported by the source for a comparable platform (ride-hailing accident rate).
SOURCE_REDUCTION = 0.18


def _pct(x: float, digits: int = 0) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{100 * x:.{digits}f} %"


def _f(x: float, digits: int = 2) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def alert_summary(runs: list[RunResult]) -> dict[str, Any]:
    """Pooled numbers of open-loop runs: rates by kind, warned shares (relevant / any), detection."""
    alerts = [a for r in runs for a in r.alerts]
    hours = sum(r.online_hours for r in runs)
    # riders differ between seeds only by id prefix of events; keep alerts and incidents per run apart
    relevant, any_alert, detected, n_impacts = [], [], 0, 0
    leads: dict[str, list[float]] = {}
    for r in runs:
        idx = AlertIndex(r.alerts)
        for inc in r.incidents:
            lead = idx.lead_time(inc)
            if lead is not None:
                leads.setdefault(inc.kind, []).append(lead / 60.0)
                leads.setdefault("all", []).append(lead / 60.0)
        relevant.append(warned_share(r.incidents, idx, r.moments))
        any_alert.append(warned_share(r.incidents, idx, r.moments, any_alert=True))
        d, n = detected_share(r.incidents, idx)
        detected, n_impacts = detected + d, n_impacts + n
    pooled = _pool(relevant)
    for kind, row in pooled.items():
        row["lead_min"] = float(np.median(leads[kind])) if leads.get(kind) else math.nan
    return {
        "rider_hours": hours, "alerts": len(alerts), "rates": alert_rates(alerts, hours),
        "severity": Counter(a.severity for a in alerts),
        "relevant": pooled, "any": _pool(any_alert), "detected": (detected, n_impacts),
        "conservative_share": sum(r.conservative_alerts for r in runs) / max(1, len(alerts)),
        "per_rider": _rider_rates(runs),
    }


def _pool(tables: list[list[Any]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for table in tables:
        for row in table:
            o = out.setdefault(row.kind, {"incidents": 0, "warned": 0, "chance_w": 0.0})
            o["incidents"] += row.incidents
            o["warned"] += row.warned
            o["chance_w"] += (row.chance if math.isfinite(row.chance) else 0.0) * row.incidents
    for o in out.values():
        n = o["incidents"]
        o["share"] = o["warned"] / n if n else math.nan
        o["chance"] = o["chance_w"] / n if n else math.nan
    return out


def _rider_rates(runs: list[RunResult]) -> list[float]:
    """Alerts per online hour of each rider with at least 1 h online (all runs)."""
    rates = []
    for r in runs:
        sent = Counter(a.rider_id for a in r.alerts)
        rates += [sent[rider] / (s / 3600.0) for rider, s in r.online_s_by_rider.items() if s >= 3600.0]
    return rates


def _q(xs: list[float], q: float) -> str:
    return _f(float(np.quantile(xs, q))) if xs else "n/a"


def _share_le(xs: list[float], limit: float) -> float:
    return sum(x <= limit for x in xs) / len(xs) if xs else math.nan


def alerts_markdown(command: str, sections: list[tuple[str, dict[str, Any], LoopComparison | None]], riders: int,
                    hours: float, seeds: list[int], model_versions: dict[str, str], compliance: float) -> str:
    """The alert-policy and closed-loop report (``docs/reports/alerts.md``), one section per scenario."""
    lines = [
        "# Alert policy on the simulated fleet", "",
        f"Regenerate: `{command}`", "",
        f"Setup: {riders} riders × {hours:g} h × seeds {seeds} per scenario, in-process processor (the worker's "
        f"decision path without Kafka: parse, features, batched scoring, alert policy), models {model_versions}. "
        "Rates are per online rider-hour (waiting, riding or on a break).", "",
        f"Warned: an incident (its true time from the simulator's incident log, not the delayed report) is warned "
        f"when the rider got a relevant alert in the {HORIZON_S / 60:.0f} min before it. Relevant: "
        + "; ".join(f"{k} ← {', '.join(sorted(v))}" for k, v in RELEVANT.items())
        + ". Suspected-fall prompts never count as warnings. *Chance* is the share of random online moments "
        "(one per rider per 5 min) that the same rule would call warned: what an alert stream unrelated to "
        "risk, at the same volume, would score.", "",
    ]
    if compliance > 0:
        lines += [
            f"Closed loop: alerts are fed back to the simulator as the run goes (`FleetSimulator.advise`, one-minute "
            f"chunks); a rider follows an alert with probability {compliance:g}: heat, strain, fatigue and "
            "model-risk alerts → a 15-30 min break; riding alerts and weather warnings → 30 min of calmer riding "
            "(85 % speed, 30 % of the harsh manoeuvres, 20 % of the phone handling); weather danger → off the road "
            "30-45 min. The control is the same seed with alerts ignored (the open-loop run).", "",
        ]
    for scenario, summary, loop in sections:
        lines += [f"## Scenario `{scenario}`", ""] + _scenario_lines(summary)
        if loop is not None:
            lines += loop_markdown(loop)
    return "\n".join(lines) + "\n"


def _scenario_lines(s: dict[str, Any]) -> list[str]:
    rates = s["rates"]
    lines = [
        f"{s['alerts']} alerts in {s['rider_hours']:.0f} online rider-hours: **{rates['all']:.2f} alerts per "
        f"rider-hour** ({rates['warnings']:.2f} without the suspected-fall prompts; target ≤ "
        f"{TARGET_ALERTS_PER_RIDER_HOUR:g}). Per rider (≥ 1 h online, n = {len(s['per_rider'])}): median "
        f"{_q(s['per_rider'], 0.5)}, 90th percentile {_q(s['per_rider'], 0.9)}, max {_q(s['per_rider'], 1.0)} per "
        f"hour; {_pct(_share_le(s['per_rider'], TARGET_ALERTS_PER_RIDER_HOUR))} of riders at or under the target. "
        f"{_pct(s['conservative_share'])} sent in conservative mode.", "",
        "| kind | " + " | ".join(k for k in rates if k not in ("all", "warnings")) + " |",
        "|---|" + "---|" * (len(rates) - 2),
        "| alerts per rider-hour | " + " | ".join(f"{v:.2f}" for k, v in rates.items()
                                                  if k not in ("all", "warnings")) + " |",
        "", f"By severity: {dict(sorted(s['severity'].items()))}.", "",
        "| incident kind | incidents | warned (relevant) | chance | warned (any alert) | chance | median lead |",
        "|---|---|---|---|---|---|---|",
    ]
    kinds = sorted(s["relevant"], key=lambda k: (k == "all", k))
    for kind in kinds:
        rel, anyk = s["relevant"][kind], s["any"].get(kind, {})
        lines.append(f"| {kind} | {rel['incidents']} | {rel['warned']} ({_pct(rel['share'])}) | {_pct(rel['chance'])} "
                     f"| {anyk.get('warned', 0)} ({_pct(anyk.get('share', math.nan))}) | "
                     f"{_pct(anyk.get('chance', math.nan))} | {_f(rel['lead_min'], 0)} min |")
    d, n = s["detected"]
    lines += ["", f"Crashes and falls followed by a suspected-fall prompt within {DETECTION_WINDOW_S:.0f} s: "
              f"{d} of {n} ({_pct(d / n if n else math.nan)}).", ""]
    return lines


def loop_markdown(loop: LoopComparison) -> list[str]:
    red, lo, hi = loop.count_reduction()
    rred, rlo, rhi = loop.rate_reduction()
    n0, e0 = loop.totals(loop.ignored)
    n1, e1 = loop.totals(loop.followed)
    lines = [
        f"Closed loop at compliance {loop.compliance:g}:", "",
        "| seed | incidents ignored | incidents followed | online h ignored / followed | riding h ignored / followed "
        "| advice followed |",
        "|---|---|---|---|---|---|",
    ]
    for a, b in zip(loop.ignored, loop.followed):
        lines.append(f"| {a.seed} | {a.incidents} {dict(sorted(a.by_kind.items()))} | {b.incidents} "
                     f"{dict(sorted(b.by_kind.items()))} | {a.online_hours:.0f} / {b.online_hours:.0f} | "
                     f"{a.riding_hours:.0f} / {b.riding_hours:.0f} | {b.advice_followed} of {b.alerts} alerts |")
    lines += [
        "", f"Pooled: {n0} incidents ignoring alerts, {n1} following them: **incident reduction {_pct(red)} "
        f"(95 % interval {_pct(lo)} to {_pct(hi)})**; per online rider-hour ({e0:.0f} vs {e1:.0f} h): "
        f"{_pct(rred)} ({_pct(rlo)} to {_pct(rhi)}). Exact conditional-Poisson intervals, arms treated as "
        f"independent. The source reports {_pct(-SOURCE_REDUCTION)} accident rate for a comparable platform. "
        f"Cost: riding time {sum(a.riding_hours for a in loop.ignored):.0f} h ignoring vs "
        f"{sum(a.riding_hours for a in loop.followed):.0f} h following (an incident ends the rider's shift, "
        f"breaks shorten riding); incidents per riding hour {_rate(loop.ignored)} vs {_rate(loop.followed)}.", "",
    ]
    return lines


def _rate(arms: list[Any]) -> str:
    h = sum(a.riding_hours for a in arms)
    return _f(sum(a.incidents for a in arms) / h, 3) if h > 0 else "n/a"


def _observed(observed: dict[str, tuple[int, float]], group: object) -> str:
    n, h = observed.get(str(group), (0, 0.0))
    return f"{100 * n / h:.1f} ({n} in {h:.0f} h)" if h > 0 else "n/a"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def fairness_markdown(command: str, frame: Any, run: RunResult, feature_hits: list[str], png_name: str,
                      riders: int, hours: float, scenario: str, seed: int, cap: float = 1.1) -> str:
    """The fairness report (``docs/reports/fairness.md``) from :func:`fairness.rider_frame` output."""
    from riskstream.lab.fairness import (
        PROTECTED, disparity_ratio, group_table, observed_rates, premium_ratios, ratio_interval, reference_group,
    )

    at_cap = float((frame["premium_multiplier"] >= cap - 1e-9).mean())
    lines = [
        "# Fairness over protected attributes", "",
        f"Regenerate: `{command}`", "",
        f"Setup: {riders} simulated riders × {hours:g} h, scenario `{scenario}`, seed {seed}, in-process processor, "
        f"models {run.model_versions}. {len(run.insurer)} insurer records of {len(frame)} riders, joined to the "
        "simulator's protected attributes (`sex`, `age_band`, never emitted) through the HMAC pseudonym. Score = "
        "the rider's mean `risk_score`; premium = the rider's last `premium_multiplier`; high/severe = the last "
        "published band. Loss ratio = the rider's mean own expected loss (P(injury)·2000 + P(accident)·5000 "
        "per hour) over the fleet mean: what the multiplier would be at full credibility with this fleet as "
        "the class, before caps. Ratios are group means over the largest group's, with 95 % bootstrap "
        "intervals over riders.", "",
        f"Saturation: {_pct(at_cap)} of the riders end at the "
        f"first period's surcharge cap ({cap:g}) and {_pct(float(frame['high_band'].mean()))} in the high/severe "
        f"band; mean risk score {frame['risk_score'].mean():.3f}. " + (
            "Where most riders are at the cap, equal premiums say nothing about fairness: read the score and "
            "loss-ratio columns." if at_cap >= 0.5 else
            f"After {hours:g} h of exposure credibility keeps premiums near the class price, so premium ratios "
            "are small by construction: the loss-ratio column is the price signal at full credibility."), "",
        "## Inputs and outputs carry no protected attribute", "",
        f"- Model features named like a protected attribute: {feature_hits or 'none'} "
        "(of `features.FEATURE_NAMES`).",
        f"- Output fields named like, or holding the value of, a protected attribute: "
        f"{sorted(set(run.protected_hits))[:10] or 'none'} (scanned: {dict(sorted(run.outputs_by_role.items()))}).",
        "- The one indirect path the simulator has: maximum heart rate falls with age (Tanaka), so heart-rate "
        "features (HRR %, time above 85 % HRmax) differ by age band even at equal true risk.", "",
    ]
    for attr in PROTECTED:
        table = group_table(frame, attr)
        ref = reference_group(frame, attr)
        loss_ratios = premium_ratios(frame, attr, "loss_ratio")
        observed = observed_rates(run.incidents, run.online_s_by_rider, run.profiles, attr)
        lines += [f"## By {attr} (reference: {ref})", "",
                  "| group | riders | score mean | score median | premium mean | premium p10–p90 | premium ratio "
                  "(95 % CI) | high/severe | loss ratio vs reference (95 % CI) | true incidents / 100 online h |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for group, row in table.iterrows():
            lo, hi = ratio_interval(frame, attr, str(group))
            ci = "reference" if str(group) == ref else f"{_f(lo, 3)}–{_f(hi, 3)}"
            llo, lhi = ratio_interval(frame, attr, str(group), column="loss_ratio")
            lci = "reference" if str(group) == ref else f"{_f(llo, 2)}–{_f(lhi, 2)}"
            loss = loss_ratios.get(str(group), math.nan)
            lines.append(
                f"| {group} | {int(row.riders)} | {row.score_mean:.4f} | {row.score_median:.4f} | "
                f"{row.premium_mean:.3f} | {row.premium_p10:.3f}–{row.premium_p90:.3f} | {row.premium_ratio:.3f} "
                f"({ci}) | {_pct(row.high_severe_share, 1)} | {_f(loss, 3)} ({lci}) | {_observed(observed, group)} |")
        lines += ["", f"Lowest over highest group mean: premium {disparity_ratio(frame, attr):.3f}, score "
                  f"{disparity_ratio(frame, attr, 'risk_score'):.3f}, loss ratio "
                  f"{disparity_ratio(frame, attr, 'loss_ratio'):.3f} (the four-fifths rule of thumb flags < 0.8).", ""]
    lines += [f"![premium and score by group]({png_name})", ""]
    return "\n".join(lines) + "\n"
