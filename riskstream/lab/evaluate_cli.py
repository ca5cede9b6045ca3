"""``riskstream evaluate``: a Markdown report with plots on held-out simulated fleets.

For the artifact (default: the shipped ``CURRENT``) it simulates, or loads from the cache,
held-out fleets (:mod:`riskstream.lab.holdout`: other riders, a later day; disjointness is asserted)
at the training hazard scale and at scale 1 (the scale the model serves at), scores them
with the model, the rule baseline and two oracles of the simulator's true hazard, and
writes ROC-AUC and PR-AUC with rider-bootstrap 95 % intervals, Brier, ECE and alert
precision/recall at the operating threshold, plus ROC, precision-recall, reliability,
importance and contribution plots. ``--drift`` adds the drift experiment (:mod:`riskstream.lab.drift`).
"""

from __future__ import annotations

import argparse
import math
import shlex
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from features.catalog import FEATURE_NAMES
from models.artifact import TARGETS, ModelBundle, load_artifact, update_card
from models.ceiling import learnable_ceiling
from models.evaluate import (alert_precision_recall, binary_metrics, paired_auc_difference, rider_bootstrap,
                             to_scale)
from riskstream.contracts.errors import RiskstreamError
from riskstream.lab.holdout import CACHE_DIR, assert_disjoint, cached_frame, eval_start_day, holdout_specs
from models.rules import RuleScorer
from models.scoring import LightGBMScorer

#: Operating threshold of a model-risk warning at scale 1 (alerts.config: injury/accident_warning_p).
WARNING_P = 0.10
REPO = Path(__file__).resolve().parents[2]
SCORERS = ("lightgbm", "rules", "oracle_now", "ceiling_learnable", "oracle_future")
LABELS = {"lightgbm": "LightGBM (shipped)", "rules": "rules baseline", "oracle_now": "oracle: true hazard now",
          "ceiling_learnable": "learnable ceiling (features → future hazard, cross-fit)",
          "oracle_future": "oracle: future hazard (clairvoyant)"}
#: Paired ROC-AUC differences LightGBM − these, in the report and on the card.
PAIRED = ("rules", "oracle_now", "ceiling_learnable", "oracle_future")


def score_frame(bundle: ModelBundle, frame: pd.DataFrame, scale: float, ceiling: bool = True,
                seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """Per target, per scorer: probabilities at hazard ``scale`` (the model's are served at 1 and mapped).

    ``ceiling`` adds the learnable ceiling (:func:`models.ceiling.learnable_ceiling`, cross-fit on ``frame``).
    """
    X = frame[list(FEATURE_NAMES)].to_numpy(float)
    served = LightGBMScorer(bundle).predict_matrix(X)
    rules = RuleScorer().score_batch(frame[list(FEATURE_NAMES)].to_dict("records"))
    out = {t: {"lightgbm": to_scale(served[t], scale), "rules": np.array([getattr(r, t) for r in rules]),
               "oracle_now": frame[f"p_{t}_true"].to_numpy(float),
               "oracle_future": frame[f"p_{t}_future"].to_numpy(float)} for t in TARGETS}
    if ceiling:
        for t in TARGETS:
            out[t]["ceiling_learnable"] = learnable_ceiling(frame, t, seed=seed)
    return out


def _present(scores_or_table: dict[str, Any]) -> list[str]:
    return [s for s in SCORERS if s in scores_or_table]


def metrics_table(frame: pd.DataFrame, scores: dict[str, dict[str, np.ndarray]], scale: float, n_boot: int,
                  seed: int) -> dict[str, dict[str, dict[str, Any]]]:
    """Metrics with rider-bootstrap intervals, alert precision/recall, and paired AUC differences."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    groups = frame["rider_id"].astype(str).to_numpy()
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for t in TARGETS:
        y = frame[f"y_{t}"].to_numpy(int)
        out[t] = {}
        for name in _present(scores[t]):
            p = np.nan_to_num(scores[t][name], nan=0.0)
            m: dict[str, Any] = binary_metrics(p, y)
            for metric, fn in (("roc_auc", roc_auc_score), ("pr_auc", average_precision_score)):
                m[f"{metric}_ci"] = rider_bootstrap(
                    lambda idx, fn=fn: float(fn(y[idx], p[idx])) if 0 < y[idx].sum() < idx.size else math.nan,
                    groups, n_boot, seed)
            thr = WARNING_P if name == "rules" else float(to_scale(np.array([WARNING_P]), scale)[0])
            m.update({f"alert_{k}": v for k, v in alert_precision_recall(p, y, thr).items()}, threshold=thr)
            out[t][name] = m
        lg = np.nan_to_num(scores[t]["lightgbm"])
        for other in (o for o in PAIRED if o in scores[t]):
            out[t]["lightgbm"][f"vs_{other}"] = paired_auc_difference(
                lg, np.nan_to_num(scores[t][other]), y, groups, n_boot, seed)
    return out


def _f(v: Any, nd: int = 3) -> str:
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{nd}f}"


def _metrics_md(title: str, frame: pd.DataFrame, table: dict[str, dict[str, dict[str, Any]]], scale: float) -> list[str]:
    lines = [f"### {title}", "",
             f"{len(frame):,} snapshots of {frame['rider_id'].nunique():,} riders; hazard scale {scale:g}; "
             + ", ".join(f"{t}: {int(frame[f'y_{t}'].sum()):,} positive snapshots from "
                         f"{_incidents(frame, t):,} riders with an incident" for t in TARGETS) + ".", ""]
    for t in TARGETS:
        lines += [f"**{t}** (base rate {table[t]['lightgbm']['base_rate']:.4f})", "",
                  "| scorer | ROC-AUC [95 % CI] | PR-AUC [95 % CI] | Brier | ECE | mean p | alert rate | precision | recall |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for name in _present(table[t]):
            m = table[t][name]
            lines.append(
                f"| {LABELS[name]} | {_f(m['roc_auc'])} [{_f(m['roc_auc_ci'][0])}, {_f(m['roc_auc_ci'][1])}] "
                f"| {_f(m['pr_auc'])} [{_f(m['pr_auc_ci'][0])}, {_f(m['pr_auc_ci'][1])}] | {_f(m['brier'], 4)} "
                f"| {_f(m['ece'], 4)} | {_f(m['mean_pred'], 4)} | {_f(m['alert_alert_rate'])} "
                f"| {_f(m['alert_precision'])} | {_f(m['alert_recall'])} |")
        lg = table[t]["lightgbm"]
        lines += ["", "Paired ROC-AUC differences (same rider resamples): "
                  + "; ".join(f"LightGBM − {LABELS[o]} = {_f(lg[f'vs_{o}'][0])} [{_f(lg[f'vs_{o}'][1])}, "
                              f"{_f(lg[f'vs_{o}'][2])}] ({_verdict(lg[f'vs_{o}'])})" for o in PAIRED
                              if f"vs_{o}" in lg)
                  + ".", ""]
    return lines


def _compare_md(bundle: ModelBundle, other: ModelBundle, frame: pd.DataFrame, scores: dict[str, dict[str, np.ndarray]],
                scale: float, n_boot: int, seed: int) -> list[str]:
    """Paired differences of this artifact against ``other`` on the same held-out rows."""
    from sklearn.metrics import log_loss

    theirs = score_frame(other, frame, scale, ceiling=False)
    groups = frame["rider_id"].astype(str).to_numpy()
    lines = [f"Against `{other.version}` on the same rows:", ""]
    for t in TARGETS:
        y = frame[f"y_{t}"].to_numpy(int)
        a, b = scores[t]["lightgbm"], theirs[t]["lightgbm"]
        d = paired_auc_difference(a, b, y, groups, n_boot, seed)
        ll = lambda idx, p: float(log_loss(y[idx], np.clip(p[idx], 1e-6, 1 - 1e-6), labels=[0, 1]))  # noqa: E731
        dl = rider_bootstrap(lambda idx: ll(idx, b) - ll(idx, a), groups, n_boot, seed)
        lines.append(f"- {t}: ROC-AUC {_f(d[0])} [{_f(d[1])}, {_f(d[2])}] ({_verdict(d)}); log-loss gain "
                     f"{_f(ll(np.arange(y.size), b) - ll(np.arange(y.size), a), 4)} [{_f(dl[0], 4)}, {_f(dl[1], 4)}]; "
                     f"ECE {_f(binary_metrics(a, y)['ece'], 4)} vs {_f(binary_metrics(b, y)['ece'], 4)}")
    return [*lines, ""]


def _verdict(diff: tuple[float, float, float]) -> str:
    """Plain reading of a paired difference's interval."""
    _, lo, hi = diff
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "no interval"
    if lo > 0:
        return "LightGBM better"
    if hi < 0:
        return "LightGBM worse"
    return "interval includes 0: no evidence of a difference"


def _incidents(frame: pd.DataFrame, target: str) -> int:
    return int(frame.loc[frame[f"y_{target}"] == 1, "rider_id"].nunique())


def importance(bundle: ModelBundle, X: np.ndarray) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """(gain importance, mean |TreeSHAP contribution| on ``X``) per target and feature."""
    gain, contrib = {}, {}
    for t in TARGETS:
        b = bundle.boosters[t]
        gain[t] = dict(zip(FEATURE_NAMES, b.feature_importance("gain").astype(float)))
        c = b.predict(X, pred_contrib=True, num_threads=1)[:, : len(FEATURE_NAMES)]
        contrib[t] = dict(zip(FEATURE_NAMES, np.abs(c).mean(axis=0).astype(float)))
    return gain, contrib


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of ``riskstream evaluate`` (the CLI's tree in :mod:`riskstream.cli.main` calls this)."""
    p.add_argument("--artifact", type=Path, default=None, help="artifact directory (default: the shipped CURRENT)")
    p.add_argument("--out", type=Path, default=REPO / "docs/reports/model-evaluation.md", help="Markdown report path")
    p.add_argument("--img-dir", type=Path, default=None, help="PNG directory (default: <out dir>/img)")
    p.add_argument("--riders", type=int, default=400, help="riders of the held-out fleet at the training scale")
    p.add_argument("--scale1-riders", type=int, default=400, help="riders of the held-out fleet at scale 1 (0: skip)")
    p.add_argument("--hours", type=float, default=16.0, help="simulated hours of each held-out fleet")
    p.add_argument("--bootstrap", type=int, default=200, help="rider-bootstrap resamples for the intervals")
    p.add_argument("--drift", action="store_true", help="also run the drift experiment (blend vs LightGBM alone)")
    p.add_argument("--drift-riders", type=int, default=400, help="riders of the drift fleet")
    p.add_argument("--drift-hours", type=float, default=14.0, help="simulated hours of the drift fleet")
    p.add_argument("--drift-after-h", type=float, default=4.0, help="hours until rain becomes more dangerous")
    p.add_argument("--drift-scale", type=float, default=1.0, help="hazard scale of the drift fleet (default 1, as served)")
    p.add_argument("--drift-rr", type=float, default=4.0, help="extra crash multiplier in rain after the drift")
    p.add_argument("--drift-weather", choices=("everywhere", "half-zones"), default="everywhere",
                   help="where the drift fleet's rain falls: 3 mm/h all day in every zone (the drift hits every rider "
                        "on the road), or in every other zone only, the rest keeping their simulated weather (the "
                        "drift hits some riders, some of the time)")
    p.add_argument("--drift-estimator", default=None, metavar="NAME",
                   help="River estimator of the drift run (models.online.ESTIMATORS; default: the worker's default)")
    p.add_argument("--online-select", action="store_true",
                   help="also compare the River estimators prequentially on a fleet of their own (riskstream.lab.online_select)")
    p.add_argument("--select-riders", type=int, default=400, help="riders of the estimator-selection fleet")
    p.add_argument("--select-hours", type=float, default=16.0, help="simulated hours of the estimator-selection fleet")
    p.add_argument("--online-corrections", action="store_true",
                   help="only measure the worker's online_corrections settings (off, recalibrate, recalibrate+river) "
                        "on the drift fleet (--drift-*) and a no-drift fleet (--select-riders/--select-hours) and "
                        "say which default the rule picks; writes --out (default "
                        "docs/reports/model-online-corrections.md) and --json")
    p.add_argument("--compare", type=Path, default=None,
                   help="another artifact directory: add paired ROC-AUC and log-loss differences against it")
    p.add_argument("--update-card", action="store_true",
                   help="write the held-out metrics into the artifact's metadata.json (the population block, which "
                        "sets alert thresholds and prices, comes from the calibration fleet of `riskstream train`)")
    p.add_argument("--fleet-seed", type=int, default=None, metavar="S",
                   help="scorecard mode: simulate a fleet of --riders riders for --hours hours with seed S (refused if "
                        "the training used its simulator seeds), score every scorer (served, lightgbm, rules, "
                        "best_feature, base_rate, ceiling, oracle) and write --json; --out only if given")
    p.add_argument("--fleet-scale", type=float, default=1.0,
                   help="hazard scale of the --fleet-seed fleet (default 1: the scale the model serves at)")
    p.add_argument("--json", type=Path, default=None, metavar="FILE",
                   help="scorecard mode: write the per-target, per-scorer metrics as JSON to FILE")
    p.add_argument("--workers", type=int, default=None, help="simulation processes (default: cores)")
    p.add_argument("--no-cache", action="store_true", help=f"re-simulate instead of using {CACHE_DIR}")


def run(args: argparse.Namespace) -> int:
    """``riskstream evaluate`` with the flags of :func:`add_arguments`; returns the process exit code.

    ``args.argv``, the flags as given, goes into the report's "Regenerate" line.
    """
    from riskstream.lab import plots

    from models.online import ESTIMATORS

    if getattr(args, "fleet_seed", None) is not None:
        return run_scorecard(args)
    if getattr(args, "online_corrections", False):
        return run_online_corrections(args)
    if getattr(args, "json", None) is not None and not getattr(args, "online_corrections", False):
        raise RiskstreamError("--json needs --fleet-seed S: the JSON scorecard is written for one simulated fleet")
    if args.drift_estimator is not None and args.drift_estimator not in ESTIMATORS:
        raise RiskstreamError(f"--drift-estimator {args.drift_estimator!r} is not one of: {', '.join(ESTIMATORS)}")
    started = time.monotonic()
    bundle = load_artifact(args.artifact)
    meta = bundle.metadata
    seed = int(meta.get("training_data", {}).get("seed", 7))
    k = float(meta.get("training_data", {}).get("hazard_scale", 1.0))
    cache = None if args.no_cache else CACHE_DIR
    img = args.img_dir or args.out.parent / "img"
    day = eval_start_day(meta)
    sets = [(f"held-out fleet at the training scale ({k:g})", "scaled", k, args.riders)]
    if args.scale1_riders and k != 1.0:
        sets.append(("held-out fleet at scale 1 (as served)", "scale1", 1.0, args.scale1_riders))
    lines = [f"# Model evaluation: `{bundle.version}`", "",
             f"Regenerate: `{_command(args.argv)}` (simulated fleets are cached in `{CACHE_DIR}`).", "",
             *_method_md(meta, k, day)]
    reliability: list[tuple[str, np.ndarray, dict[str, np.ndarray]]] = []
    card: dict[str, Any] = {"heldout_metrics": {}, "metrics_note": METRICS_NOTE}
    first: tuple[pd.DataFrame, dict[str, dict[str, np.ndarray]]] | None = None
    for title, tag, scale, riders in sets:
        frame = cached_frame(holdout_specs(seed, riders, args.hours, scale, start_day=day), cache, args.workers,
                             desc=f"simulate {tag}")
        assert_disjoint(meta, frame)  # never evaluate on training data: other riders, later time
        scores = score_frame(bundle, frame, scale, seed=seed)
        table = metrics_table(frame, scores, scale, args.bootstrap, seed)
        lines += _metrics_md(title, frame, table, scale)
        card["heldout_metrics"][tag] = _card_metrics(table, scale, riders, args.hours, frame)
        # the card's population comes from the calibration fleet (`riskstream train`), never from a test fleet
        if args.compare is not None:
            lines += _compare_md(bundle, load_artifact(args.compare), frame, scores, scale, args.bootstrap, seed)
        for t in TARGETS:
            reliability.append((f"{t}, scale {scale:g}", frame[f"y_{t}"].to_numpy(),
                                {LABELS[s]: np.nan_to_num(scores[t][s]) for s in ("lightgbm", "oracle_now")}))
        first = first or (frame, scores)
    frame, scores = first  # type: ignore[misc]
    ys = {t: frame[f"y_{t}"].to_numpy() for t in TARGETS}
    named = {t: {LABELS[s]: np.nan_to_num(scores[t][s]) for s in _present(scores[t])} for t in TARGETS}
    rel = lambda p: p.relative_to(args.out.parent).as_posix()  # noqa: E731
    paths = {"roc_pr": plots.roc_pr_plot(ys, named, img / "model-roc-pr.png"),
             "reliability": plots.reliability_plot(reliability, img / "model-reliability.png")}
    sample = frame.sample(min(len(frame), 5000), random_state=0)[list(FEATURE_NAMES)].to_numpy(float)
    gain, contrib = importance(bundle, sample)
    paths["gain"] = plots.bar_plot(gain, "gain importance", "total gain", img / "model-importance-gain.png")
    paths["contrib"] = plots.bar_plot(contrib, "mean |contribution|", "log-odds", img / "model-contributions.png")
    lines += ["### Plots (held-out fleet at the training scale)", "",
              f"![ROC and precision-recall]({rel(paths['roc_pr'])})", "",
              f"![Reliability diagrams]({rel(paths['reliability'])})", "",
              "Reliability: equal-count bins (10), the same bins as the ECE.", "",
              f"![Gain importance]({rel(paths['gain'])})", "",
              f"![Mean absolute TreeSHAP contribution]({rel(paths['contrib'])})", "",
              "Contributions: mean |pred_contrib| over 5,000 held-out snapshots (log-odds, before calibration).", ""]
    if args.online_select:
        lines += _online_select_section(bundle, args, seed, day)
    if args.drift:
        lines += _drift_section(bundle, args, seed, day, img, rel)
    if args.update_card:
        if bundle.path is None:
            raise SystemExit("--update-card needs an artifact directory")
        print(f"card updated: {update_card(bundle.path, card)}")
    lines += [f"_Generated in {time.monotonic() - started:.0f} s._", ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(f"report written to {args.out}")
    return 0


#: Written next to the card's top-level ``metrics`` (from training time) so nobody reads those as the evidence.
METRICS_NOTE = ("`metrics`/`metrics_detail` are from training time (a small test fold at the training hazard scale); "
                "the held-out evidence is `heldout_metrics` (separately simulated fleets, `riskstream evaluate "
                "--update-card`, docs/reports/model-evaluation.md)")
CARD_KEYS = ("n", "n_pos", "base_rate", "mean_pred", "roc_auc", "pr_auc", "brier", "log_loss", "ece")


def _card_metrics(table: dict[str, dict[str, dict[str, Any]]], scale: float, riders: int, hours: float,
                  frame: pd.DataFrame) -> dict[str, Any]:
    """The held-out numbers worth keeping on the artifact card, per target and scorer."""
    return {"hazard_scale": scale, "riders": riders, "hours": hours, "snapshots": len(frame),
            **{t: {**{s: {k: table[t][s][k] for k in CARD_KEYS} for s in _present(table[t])},
                   "lightgbm_minus": {o: dict(zip(("roc_auc", "ci_low", "ci_high"), table[t]["lightgbm"][f"vs_{o}"]))
                                      for o in PAIRED if f"vs_{o}" in table[t]["lightgbm"]}} for t in TARGETS}}


def _population(table: dict[str, dict[str, dict[str, Any]]], frame: pd.DataFrame, bundle: ModelBundle, riders: int,
                args: argparse.Namespace) -> dict[str, Any]:
    """The card's ``population`` block (:meth:`ModelBundle.population_rate`) from the scale-1 held-out fleet."""
    return {"source": f"held-out fleet at scale 1 (as served): {riders} riders, {args.hours:g} h, "
                      f"{len(frame):,} snapshots; `riskstream evaluate --update-card`",
            "hazard_scale": 1.0, "horizon_min": bundle.horizon_min,
            **{t: {"mean_p": table[t]["lightgbm"]["mean_pred"], "base_rate": table[t]["lightgbm"]["base_rate"],
                   "n": table[t]["lightgbm"]["n"]} for t in TARGETS}}


def _command(argv: Sequence[str]) -> str:
    return "riskstream evaluate" + (" " + shlex.join(argv) if argv else "")


def _method_md(meta: dict[str, Any], k: float, day: int) -> list[str]:
    td = meta.get("training_data", {})
    return [
        "## How this was measured", "",
        f"- Training data: {td.get('riders')} simulated riders, {td.get('hours')} h, seed {td.get('seed')}, "
        f"hazard ×{k:g}, {td.get('rows')} snapshots (see the artifact's `metadata.json`).",
        f"- Held-out data: separately simulated fleets (seed + 1000: other people, other weather; ids `eval…`) "
        f"starting {day} day(s) after the training data; the code asserts no rider id in common and that every "
        "held-out snapshot is later than the training span.",
        "- Hazard scale: training data are simulated with every hazard ×k to get k times the incidents per CPU "
        "second; the artifact's calibration maps its probabilities back to scale 1 (p₁ = 1 − (1 − p_k)^(1/k), "
        "exact for a constant hazard). At scale k the model's served p₁ is mapped forward (1 − (1 − p₁)^k); at "
        "scale 1 it is used as served. The rule baseline is used as served at both scales.",
        f"- Operating threshold: a model-risk warning at p ≥ {WARNING_P} (alerts.config `*_warning_p`), i.e. "
        f"p_k ≥ {float(to_scale(np.array([WARNING_P]), k)[0]):.3f} at scale k for the model and the oracles.",
        "- Oracles (from the simulator's hidden true hazard λ, which includes unobservable rider traits): "
        "*now* = 1 − exp(−λ̄·1 h) with λ̄ the mean of the last 5 min (what a perfect model of the current hidden "
        "state would say if nothing changed); *future* = 1 − exp(−∫λ over the next hour as it happened) "
        "(clairvoyant: it knows the coming weather and riding; after an incident the pre-incident rate is "
        "carried to the end of the hour). Neither is a strict ceiling for a model of the features: *now* "
        "ignores that crash hazard is momentary (riding vs waiting, speed²), *future* uses information no "
        "model has.",
        "- Learnable ceiling (`models.ceiling`): an estimate of E[y | features], the best any model of these "
        "features can rank. On each held-out fleet, riders are split in 2 folds; a LightGBM regression "
        "(cross-entropy objective, 15 leaves, early stopping on a quarter of the fitting riders) is fit to the "
        "clairvoyant *future* hazard from the same features on one fold and scores the other, then it is graded "
        "on the real incident labels like the other scorers. The future hazard is the expected label given "
        "everything that happened, so its regression on the features estimates E[y | features] with far less "
        "noise than the 0/1 labels. The gap between it and the clairvoyant oracle is what the features cannot "
        "know (the coming hour); the gap between LightGBM and it is model weakness. Its interval resamples "
        "riders of the fixed out-of-fold scores (the refit's own variance is not in it).",
        "- Intervals: 95 % percentile intervals from resampling whole riders (a rider's snapshots share "
        "incidents), paired for differences. ECE: 10 equal-count bins.", ""]


def _online_select_section(bundle: ModelBundle, args: argparse.Namespace, seed: int, day: int) -> list[str]:
    from sklearn.metrics import log_loss

    from riskstream.lab.drift import drift_frame
    from models.online import DEFAULT_ESTIMATOR
    from riskstream.lab.online_select import MAX_STATE_GROWTH_B, SELECT_SEED_OFFSET, choose, compare, report_md

    frame, incidents = drift_frame(seed, args.select_riders, args.select_hours, 0.0, 1.0, 1.0, start_day=day + 4,
                                   rain_mm_h=None, workers=args.workers or 2, seed_offset=SELECT_SEED_OFFSET,
                                   prefix="select", cache_dir=None if args.no_cache else CACHE_DIR)
    results = compare(frame, incidents, bundle.horizon_min, priors={t: bundle.population_rate(t) for t in TARGETS})
    chosen = choose(results)
    served = LightGBMScorer(bundle).predict_matrix(frame[list(FEATURE_NAMES)].to_numpy(float))
    ref = {t: float(log_loss(frame[f"y_{t}"].to_numpy(int), np.clip(served[t], 1e-6, 1 - 1e-6), labels=[0, 1]))
           for t in TARGETS}
    true = {t: float(log_loss(frame[f"y_{t}"].to_numpy(int), np.clip(frame[f"p_{t}_true"].to_numpy(float), 1e-6,
                                                                     1 - 1e-6), labels=[0, 1])) for t in TARGETS}
    how = (f"{args.select_riders} riders (seed + {SELECT_SEED_OFFSET}, ids `select…`), {args.select_hours:g} h at scale 1, "
           f"default scenario, no drift: {len(frame):,} snapshots, each scored when taken and learned when its label "
           "arrived, as the worker does; graded on those live predictions against what happened within the horizon. "
           "Every candidate starts from the artifact's population rates. The choice is the lowest log loss summed "
           "over both targets on the second half of the snapshots (steady state); within 0.5 % of it, the cheapest "
           f"(`riskstream.lab.online_select.choose`); only candidates whose pickled state grows by ≤ {MAX_STATE_GROWTH_B:g} bytes "
           "per learned example in the second half are eligible (the worker keeps and saves the model for weeks).")
    verdict = ("This is the worker's default (`models.online.DEFAULT_ESTIMATOR`)." if chosen == DEFAULT_ESTIMATOR else
               f"**The worker's default is `{DEFAULT_ESTIMATOR}`, not the chosen `{chosen}`: update "
               "`models.online.DEFAULT_ESTIMATOR` and `RISKSTREAM_WORKER__ONLINE_ESTIMATOR`'s default.**")
    return ["## Online model: choosing the River estimator", "",
            *report_md(results, chosen, "Prequential comparison", how),
            f"For scale, on all the same snapshots: the shipped LightGBM, trained offline, has log loss {ref['injury']:.4f} "
            f"(injury) and {ref['accident']:.4f} (accident); the oracle *now* (true hazard) {true['injury']:.4f} and "
            f"{true['accident']:.4f}. Chosen: `{chosen}`. {verdict}", "",
            *_no_drift_blend_md(bundle, frame, incidents)]


def _no_drift_blend_md(bundle: ModelBundle, frame: pd.DataFrame, incidents: list[dict[str, Any]]) -> list[str]:
    """What the online corrections cost, or gain, when nothing drifts: the blend replayed on the selection fleet."""
    from riskstream.lab.drift import log_loss_and_auc, prequential_replay
    from models.online import DEFAULT_ESTIMATOR

    res = prequential_replay(bundle, frame, incidents, scale=1.0)
    half = len(res) // 2
    lines = ["### The blend when nothing drifts", "",
             f"The same fleet replayed through the worker's blend (River `{DEFAULT_ESTIMATOR}`, `riskstream.lab.drift."
             "prequential_replay`): LightGBM alone, LightGBM after the online recalibration, the blend, and River "
             "alone, each graded on what it said live. Pooled log loss / ROC-AUC; *v* and *w* are the mean shares of "
             "the recalibration and of River.", "",
             "| target | span | LightGBM | recalibrated | blend | River | mean v | mean w |", "|---|---|---|---|---|---|---|---|"]
    for t in TARGETS:
        y_all = res[f"y_{t}"].to_numpy(int)
        for span, sl in (("whole stream", slice(None)), ("2nd half", slice(half, None))):
            y = y_all[sl]
            cells = []
            for sc in ("lightgbm", "recalibrated", "blend", "river"):
                loss, auc = log_loss_and_auc(y, res[f"p_{t}_{sc}"].to_numpy(float)[sl])
                cells.append(f"{loss:.4f} / {auc:.3f}")
            lines.append(f"| {t} | {span} | " + " | ".join(cells) + f" | {res[f'v_{t}'].to_numpy()[sl].mean():.2f} | "
                         f"{res[f'w_{t}'].to_numpy()[sl].mean():.2f} |")
    return lines + [""]


def _drift_summary(res: pd.DataFrame, target: str, after_h: float, t0: float | None = None) -> str:
    """Pooled log loss (and AUC) of LightGBM and the blend before the drift, in its first 4 h, and later."""
    from riskstream.lab.drift import log_loss_and_auc

    h = (res["ts"] - (res["ts"].min() if t0 is None else t0)) / 3600.0
    spans = {"before": h < after_h, "first 4 h after": (h >= after_h) & (h < after_h + 4),
             "later": h >= after_h + 4}
    parts = []
    for name, m in spans.items():
        y = res.loc[m, f"y_{target}"].to_numpy(int)
        if not 0 < y.sum() < y.size:
            continue
        cells = []
        for s in ("lightgbm", "recalibrated", "blend"):
            loss, auc = log_loss_and_auc(y, res.loc[m, f"p_{target}_{s}"].to_numpy(float))
            cells.append(f"{s} log loss {loss:.4f} / AUC {auc:.3f}")
        parts.append(f"{name} ({int(m.sum())} rows, {int(y.sum())} positive): " + ", ".join(cells))
    return "Pooled: " + "; ".join(parts) + "."


def _drift_section(bundle: ModelBundle, args: argparse.Namespace, seed: int, day: int, img: Path, rel: Any) -> list[str]:
    from riskstream.lab import plots
    from riskstream.lab.drift import drift_frame, prequential_replay, windowed_metrics
    from models.online import DEFAULT_ESTIMATOR
    from riskstream.simulation.hazard import RAIN_MM_H

    k = args.drift_scale
    everywhere = args.drift_weather == "everywhere"
    frame, incidents = drift_frame(seed, args.drift_riders, args.drift_hours, args.drift_after_h, args.drift_rr, k,
                                   start_day=day + 2, workers=args.workers or 2,
                                   cache_dir=None if args.no_cache else CACHE_DIR,
                                   rain_every=1 if everywhere else 2)
    weather = ("raining 3 mm/h in every zone all day (`SimConfig.weather_override`)" if everywhere else
               "raining 3 mm/h all day in every other zone, the others with their simulated weather "
               "(`SimConfig.weather_override`, `weather_override_every=2`)")
    estimator = args.drift_estimator or DEFAULT_ESTIMATOR
    res = prequential_replay(bundle, frame, incidents, scale=k, estimator=estimator)
    scorers = ("lightgbm", "recalibrated", "blend", "river", "true")
    title = "" if everywhere else " in half the zones"
    lines = [f"## Drift: rain becomes far more dangerous mid-stream{title}", "",
             f"River `{estimator}`. {args.drift_riders} riders (seed + 2000), {args.drift_hours:g} h at hazard ×{k:g}, "
             f"{weather}; from hour {args.drift_after_h:g} a crash in rain is ×{args.drift_rr:g} likelier "
             "(`drift_after_s`, `drift_rain_crash_rr`). Snapshots and incident reports are replayed in "
             "event time as the worker does (`LabelBuffer`: a report marks the rider's snapshots of the hour before "
             "it; River learns every snapshot once it is older than the horizon + 30 min grace; the blend weight "
             "from `BlendedScorer.river_weight`). Prequential metrics per 2-h window of "
             "snapshot time; `recalibrated` is LightGBM after the blend's online recalibration (step 1 of "
             "`models.blend`; its share in the *recal. weight* column), `blend` adds River (weight in *River weight*); "
             "`true` is the oracle *now*.", ""]
    series: dict[str, dict[str, np.ndarray]] = {}
    for t in TARGETS:
        w = windowed_metrics(res, t, 2.0, scorers)
        lines += [f"**{t}**", "", "| hour | rows | positives | recal. weight | River weight | " + " | ".join(
            f"AUC {s}" for s in scorers) + " | " + " | ".join(f"log loss {s}" for s in scorers) + " |",
                  "|---" * (5 + 2 * len(scorers)) + "|"]
        for _, r in w.iterrows():
            lines.append(f"| {r['hour']:.0f} | {r['n']:.0f} | {r['n_pos']:.0f} | {r['recal_weight']:.2f} | "
                         f"{r['river_weight']:.2f} | "
                         + " | ".join(_f(r[f"roc_auc_{s}"]) for s in scorers) + " | "
                         + " | ".join(_f(r[f"log_loss_{s}"], 4) for s in scorers) + " |")
        lines += ["", _drift_summary(res, t, args.drift_after_h), ""]
        if not everywhere:
            wet = frame["precip_mm_h"].fillna(0.0).to_numpy(float) >= RAIN_MM_H
            lines += [f"In rain (precip ≥ {RAIN_MM_H:g} mm/h, {int(wet.sum())} snapshots): "
                      + _drift_summary(res[wet], t, args.drift_after_h, t0=float(res["ts"].min())).removeprefix("Pooled: "),
                      "", f"Dry ({int((~wet).sum())} snapshots): "
                      + _drift_summary(res[~wet], t, args.drift_after_h, t0=float(res["ts"].min())).removeprefix("Pooled: "),
                      ""]
        for metric in ("log_loss", "roc_auc"):
            series[f"{t}: {metric.replace('_', ' ')}"] = {s: w[f"{metric}_{s}"].to_numpy()
                                                          for s in ("lightgbm", "recalibrated", "blend", "river")}
        hours = w["hour"].to_numpy() + 1.0
    name = "model-drift.png" if everywhere else f"model-drift-{args.drift_weather}.png"
    path = plots.drift_plot(hours, series, args.drift_after_h, img / name)
    lines += [f"![Drift: prequential metrics per window]({rel(path)})", ""]
    return lines


def run_online_corrections(args: argparse.Namespace) -> int:
    """``riskstream evaluate --online-corrections``: each setting replayed on a drift and a no-drift fleet."""
    import json

    from models.artifact import _json_safe
    from models.online import DEFAULT_ESTIMATOR
    from riskstream.lab import corrections
    from riskstream.lab.drift import drift_frame, prequential_replay
    from riskstream.lab.online_select import SELECT_SEED_OFFSET

    started = time.monotonic()
    bundle = load_artifact(args.artifact)
    seed = int(bundle.metadata.get("training_data", {}).get("seed", 7))
    day = eval_start_day(bundle.metadata)
    cache = None if args.no_cache else CACHE_DIR
    everywhere = args.drift_weather == "everywhere"
    frame, incidents = drift_frame(seed, args.drift_riders, args.drift_hours, args.drift_after_h, args.drift_rr,
                                   args.drift_scale, start_day=day + 2, workers=args.workers or 2, cache_dir=cache,
                                   rain_every=1 if everywhere else 2)
    drift = prequential_replay(bundle, frame, incidents, scale=args.drift_scale)
    frame, incidents = drift_frame(seed, args.select_riders, args.select_hours, 0.0, 1.0, 1.0, start_day=day + 4,
                                   rain_mm_h=None, workers=args.workers or 2, seed_offset=SELECT_SEED_OFFSET,
                                   prefix="select", cache_dir=cache)
    steady = prequential_replay(bundle, frame, incidents, scale=1.0)
    spans = corrections.measure(drift, steady, args.drift_after_h)
    chosen, why = corrections.choose_default(spans)
    how = (f"`{bundle.version}`, River `{DEFAULT_ESTIMATOR}`. Drift fleet: {args.drift_riders} riders (seed + 2000), "
           f"{args.drift_hours:g} h at hazard ×{args.drift_scale:g}, raining 3 mm/h "
           f"{'in every zone' if everywhere else 'in every other zone'}; from hour {args.drift_after_h:g} a crash in "
           f"rain is ×{args.drift_rr:g} likelier. No-drift fleet: {args.select_riders} riders (seed + 3000), "
           f"{args.select_hours:g} h at scale 1, its own weather. Both replayed in event time as the worker runs "
           "(`riskstream.lab.drift.prequential_replay`: scored when taken, learned when the label arrives); pooled "
           "log loss / ROC-AUC of what each setting would have served.")
    lines = [f"# Online corrections: `{bundle.version}`", "",
             *corrections.markdown(spans, chosen, why, how, _command(args.argv)),
             f"_Generated in {time.monotonic() - started:.0f} s._", ""]
    out = args.out if "--out" in (args.argv or []) else REPO / "docs/reports/model-online-corrections.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    print("\n".join(lines))
    if args.json is not None:
        args.json.write_text(json.dumps(_json_safe({"artifact": bundle.version, "command": _command(args.argv),
                                                    "spans": spans, "default": chosen, "why": why}), indent=1,
                                        allow_nan=False) + "\n")
    print(f"report written to {out}")
    return 0


def run_scorecard(args: argparse.Namespace) -> int:
    """``riskstream evaluate --fleet-seed S``: one fleet, every scorer, JSON (and Markdown with an explicit --out)."""
    import json
    import sys

    from models.artifact import _json_safe
    from riskstream.lab import scorecard as sc
    from riskstream.lab.train import shard_specs

    started = time.monotonic()
    bundle = load_artifact(args.artifact)
    meta = bundle.metadata
    specs = shard_specs(args.riders, args.hours, args.fleet_seed, hazard_scale=args.fleet_scale, shards=2,
                        start_day=eval_start_day(meta), prefix=f"evals{args.fleet_scale:g}-")
    frame = cached_frame(specs, None if args.no_cache else CACHE_DIR, args.workers, desc="simulate fleet")
    try:
        assert_disjoint(meta, frame, specs)
    except AssertionError as exc:
        raise RiskstreamError(f"refusing to evaluate on training data: {exc}") from exc
    seed = int(meta.get("training_data", {}).get("seed", 7))
    scores = sc.score_all(bundle, frame, args.fleet_scale, seed=seed)
    card = sc.scorecard(frame, scores, args.bootstrap, seed)
    out = {"artifact": bundle.version, "command": _command(args.argv),
           "fleet": {"seed": args.fleet_seed, "riders": args.riders, "hours": args.hours,
                     "hazard_scale": args.fleet_scale, "start_day": specs[0].start_day, "snapshots": len(frame)},
           "serving": {t: (meta.get("serving") or {}).get(t, {"scorer": "lightgbm"}) for t in TARGETS},
           "world": meta.get("world"), **card}
    compare_lines: list[str] = []
    if getattr(args, "compare", None) is not None:
        out["compare"], compare_lines = _scorecard_compare(bundle, load_artifact(args.compare), frame, specs, scores,
                                                           args.fleet_scale, args.bootstrap, seed)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(_json_safe(out), indent=1, allow_nan=False) + "\n")
        print(f"scorecard written to {args.json}")
    lines = sc.markdown(card, f"Fleet seed {args.fleet_seed}: {args.riders} riders × {args.hours:g} h at hazard scale "
                              f"{args.fleet_scale:g} (`{bundle.version}`)") + compare_lines
    if "--out" in (args.argv or []):
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join([*_scorecard_head(bundle, args, specs), *lines,
                                       *_calibration_fleet_md(meta), ""]))
        print(f"report written to {args.out}")
    else:
        sys.stdout.write("\n".join(lines) + "\n")
    print(f"done in {time.monotonic() - started:.0f} s")
    return 0


def _scorecard_compare(bundle: ModelBundle, other: ModelBundle, frame: pd.DataFrame, specs: Sequence[Any],
                       scores: dict[str, dict[str, np.ndarray]], scale: float, n_boot: int, seed: int
                       ) -> tuple[dict[str, Any], list[str]]:
    """``--compare`` in scorecard mode: per target, this artifact's LightGBM minus ``other``'s on the same rows
    (ROC-AUC with a paired rider-bootstrap interval), for the JSON's ``compare`` block and the Markdown."""
    from riskstream.lab import scorecard as sc

    try:
        assert_disjoint(other.metadata, frame, specs)
    except AssertionError as exc:
        raise RiskstreamError(f"refusing to compare on {other.version}'s training data: {exc}") from exc
    theirs = sc.score_all(other, frame, scale, seed=seed, ceiling=False)
    groups = frame["rider_id"].astype(str).to_numpy()
    block: dict[str, Any] = {"artifact": other.version}
    lines = ["", f"### LightGBM against `{other.version}` on the same rows", ""]
    for t in TARGETS:
        y = frame[f"y_{t}"].to_numpy(int)
        d, lo, hi = paired_auc_difference(scores[t]["lightgbm"], theirs[t]["lightgbm"], y, groups, n_boot, seed)
        block[t] = {"auc": d, "auc_ci": [lo, hi]}
        verdict = ("this one better" if lo > 0 else f"`{other.version}` better" if hi < 0
                   else "interval includes 0: no evidence of a difference")
        lines.append(f"- {t}: ROC-AUC {_f(d)} [{_f(lo)}, {_f(hi)}] ({verdict})")
    return block, [*lines, ""]


def _scorecard_head(bundle: ModelBundle, args: argparse.Namespace, specs: Sequence[Any]) -> list[str]:
    """Title, the command, what the numbers are, and the card's serving choice with its reasons."""
    meta = bundle.metadata
    td, world = meta.get("training_data") or {}, meta.get("world") or {}
    lines = [f"# Model evaluation: `{bundle.version}`", "",
             f"Regenerate: `{_command(args.argv)}` (fleets are cached in `{CACHE_DIR}`; "
             f"`--json` writes the same numbers for other tools).", "",
             "## What the numbers are", "",
             "- What a probability is: " + (world.get("meaning", "see the card's world block") + "." if world else
                                            f"P(incident within {meta.get('horizon_min', 60)} min) in the simulated "
                                            "world; this card has no world block."),
             f"- Training: `{td.get('command', '?')}`: {td.get('riders')} riders, {td.get('hours')} h, simulator seeds "
             f"{td.get('sim_seeds')}, {td.get('rows')} rows, all of them fit the served model (hazard scale "
             f"{td.get('hazard_scale')}).",
             f"- This fleet: seed {args.fleet_seed} (simulator seeds {sorted({s.seed * 1009 + s.shard for s in specs})}, "
             f"disjoint from training by seed and by time: day {specs[0].start_day}), {args.riders} riders × "
             f"{args.hours:g} h at hazard scale {args.fleet_scale:g}; {args.bootstrap} rider-bootstrap resamples.",
             "- Scorers: `served` (what a worker serves, online corrections off), `lightgbm`, `rules` and "
             "`best_feature` (fitted on the training frame, on the card), `base_rate` (the training rate), "
             "`ceiling` (features → the simulator's future hazard, cross-fit by rider and by zone-and-time cell), "
             "`oracle` (the hazard the rider actually met: its ECE is this fleet's ECE noise floor).", "",
             "## Served scorer per target (the card's `serving` block)", ""]
    for t in TARGETS:
        choice = (meta.get("serving") or {}).get(t) or {"scorer": "lightgbm", "reason": "the card has no serving block"}
        lines.append(f"- **{t}**: `{choice['scorer']}`: {choice['reason']}.")
    return [*lines, "", "## Test fleet", ""]


def _calibration_fleet_md(meta: dict[str, Any]) -> list[str]:
    """The calibration fleet's scorecard from the card (the serving choice was made on it)."""
    from riskstream.lab import scorecard as sc

    block = meta.get("calibration_fleet")
    if not block:
        return []
    return ["## Calibration fleet (the serving choice and the population were set on it)", "",
            f"{block['where']}. From the card (`calibration_fleet.scorecard`), written by `riskstream train`.", "",
            *sc.markdown(block["scorecard"], "Calibration fleet")]
