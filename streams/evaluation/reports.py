"""Markdown reports of the alert-policy evaluation, the closed loop and the fairness check."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from streams.evaluation.closed_loop import LoopComparison
from streams.evaluation.matching import (
    DETECTION_WINDOW_S, HORIZON_S, RELEVANT, AlertIndex, alert_rates, detected_share, warned_share,
)
from streams.evaluation.run import RunResult

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
        "per_rider_hour_max": _max_rider_rate(runs),
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


def _max_rider_rate(runs: list[RunResult]) -> float:
    """Highest alerts per online hour of a rider with at least 1 h online (from sampled moments)."""
    best = 0.0
    for r in runs:
        online = Counter(rider for rider, _ in r.moments)  # one moment per 5 min online
        sent = Counter(a.rider_id for a in r.alerts)
        for rider, n in online.items():
            h = n * 300.0 / 3600.0
            if h >= 1.0:
                best = max(best, sent[rider] / h)
    return best


def alerts_markdown(command: str, summary: dict[str, Any], loop: LoopComparison | None, riders: int, hours: float,
                    scenario: str, seeds: list[int], model_versions: dict[str, str]) -> str:
    """The alert-policy and closed-loop report (``docs/reports/alerts.md``)."""
    s = summary
    rates = s["rates"]
    lines = [
        "# Alert policy on the simulated fleet", "",
        f"Regenerate: `{command}`", "",
        f"Setup: {riders} riders × {hours:g} h × seeds {seeds}, scenario `{scenario}`, in-process processor "
        f"(the worker's decision path without Kafka), models {model_versions}; "
        f"{_pct(s['conservative_share'])} of the alerts were sent in conservative mode.", "",
        "## Alert volume", "",
        f"{s['alerts']} alerts in {s['rider_hours']:.0f} online rider-hours: **{rates['all']:.2f} alerts per "
        f"rider-hour** ({rates['warnings']:.2f} without the suspected-fall prompts); target ≤ "
        f"{TARGET_ALERTS_PER_RIDER_HOUR:g}. Busiest rider (≥ 1 h online): {s['per_rider_hour_max']:.1f} per hour "
        f"(the policy caps at 3 per hour, falls exempt).", "",
        "| kind | alerts per rider-hour |", "|---|---|",
        *[f"| {k} | {v:.3f} |" for k, v in rates.items() if k not in ("all", "warnings")],
        "", f"By severity: {dict(sorted(s['severity'].items()))}.", "",
        "## Warned ahead of incidents", "",
        f"An incident (true time from the simulator's incident log, not the delayed report) is warned when "
        f"the rider got a relevant alert in the {HORIZON_S / 60:.0f} min before it. Relevant: "
        + "; ".join(f"{k} ← {', '.join(sorted(v))}" for k, v in RELEVANT.items())
        + ". Suspected-fall prompts never count as warnings. *Chance* is the share of random online moments "
        "(one per rider per 5 min) that the same rule would call warned: the share an alert stream "
        "unrelated to risk would get.", "",
        "| incident kind | incidents | warned (relevant) | chance | warned (any alert) | chance | median lead |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, rel in s["relevant"].items():
        anyk = s["any"].get(kind, {})
        lines.append(f"| {kind} | {rel['incidents']} | {rel['warned']} ({_pct(rel['share'])}) | {_pct(rel['chance'])} "
                     f"| {anyk.get('warned', 0)} ({_pct(anyk.get('share', math.nan))}) | "
                     f"{_pct(anyk.get('chance', math.nan))} | {_f(rel['lead_min'], 0)} min |")
    d, n = s["detected"]
    lines += ["", f"Crashes and falls followed by a suspected-fall prompt within {DETECTION_WINDOW_S:.0f} s: "
              f"{d} of {n} ({_pct(d / n if n else math.nan)}).", ""]
    if loop is not None:
        lines += loop_markdown(loop)
    return "\n".join(lines) + "\n"


def loop_markdown(loop: LoopComparison) -> list[str]:
    red, lo, hi = loop.count_reduction()
    rred, rlo, rhi = loop.rate_reduction()
    n0, e0 = loop.totals(loop.ignored)
    n1, e1 = loop.totals(loop.followed)
    lines = [
        "## Closed loop: riders who follow the advice", "",
        f"Alerts are fed back to the simulator as the run goes (`FleetSimulator.advise`): a rider follows "
        f"an alert with probability {loop.compliance:g} — heat, strain, fatigue and model-risk alerts: a 15-30 min "
        "break; riding alerts and weather warnings: 30 min of calmer riding (85 % speed, 30 % of the harsh "
        "manoeuvres, 20 % of the phone handling); weather danger: off the road 30-45 min. Same seeds with "
        "alerts ignored are the control.", "",
        "| seed | incidents ignored | incidents followed | rider-h ignored | rider-h followed | advice followed |",
        "|---|---|---|---|---|---|",
    ]
    for a, b in zip(loop.ignored, loop.followed):
        lines.append(f"| {a.seed} | {a.incidents} {dict(sorted(a.by_kind.items()))} | {b.incidents} "
                     f"{dict(sorted(b.by_kind.items()))} | {a.online_hours:.0f} | {b.online_hours:.0f} | "
                     f"{b.advice_followed} of {b.alerts} alerts |")
    lines += [
        "", f"Pooled: {n0} incidents ignoring alerts, {n1} following them at p = {loop.compliance:g}: "
        f"**incident reduction {_pct(red)} (95 % interval {_pct(lo)} to {_pct(hi)})**; per online rider-hour "
        f"({e0:.0f} vs {e1:.0f} h): {_pct(rred)} ({_pct(rlo)} to {_pct(rhi)}). Exact conditional-Poisson "
        f"intervals, arms treated as independent. The source reports {_pct(-SOURCE_REDUCTION)} accident rate "
        "for a comparable platform.", "",
    ]
    return lines


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def fairness_markdown(command: str, frame: Any, run: RunResult, feature_hits: list[str], png_name: str,
                      riders: int, hours: float, scenario: str, seed: int) -> str:
    """The fairness report (``docs/reports/fairness.md``) from :func:`fairness.rider_frame` output."""
    from streams.evaluation.fairness import PROTECTED, disparity_ratio, group_table, ratio_interval, reference_group

    lines = [
        "# Fairness over protected attributes", "",
        f"Regenerate: `{command}`", "",
        f"Setup: {riders} simulated riders × {hours:g} h, scenario `{scenario}`, seed {seed}, in-process processor, "
        f"models {run.model_versions}. {len(run.insurer)} insurer records of {len(frame)} riders, joined to the "
        "simulator's protected attributes (`sex`, `age_band`, never emitted) through the HMAC pseudonym. Score = "
        "the rider's mean `risk_score`; premium = the rider's last `premium_multiplier`; high/severe = the last "
        "published band. Ratios are group mean premium over the largest group's, with a 95 % bootstrap "
        "interval over riders.", "",
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
        lines += [f"## By {attr} (reference: {ref})", "",
                  "| group | riders | score mean | score median | premium mean | premium p10–p90 | premium ratio "
                  "(95 % CI) | high/severe |", "|---|---|---|---|---|---|---|---|"]
        for group, row in table.iterrows():
            lo, hi = ratio_interval(frame, attr, str(group))
            ci = "reference" if str(group) == ref else f"{_f(lo, 3)}–{_f(hi, 3)}"
            lines.append(
                f"| {group} | {int(row.riders)} | {row.score_mean:.4f} | {row.score_median:.4f} | "
                f"{row.premium_mean:.3f} | {row.premium_p10:.3f}–{row.premium_p90:.3f} | {row.premium_ratio:.3f} "
                f"({ci}) | {_pct(row.high_severe_share, 1)} |")
        lines += ["", f"Lowest over highest group mean premium: {disparity_ratio(frame, attr):.3f}; "
                  f"of mean score: {disparity_ratio(frame, attr, 'risk_score'):.3f} (the four-fifths rule of thumb "
                  "flags < 0.8).", ""]
    lines += [f"![premium and score by group]({png_name})", ""]
    return "\n".join(lines) + "\n"
