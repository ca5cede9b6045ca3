"""Every scorer against the same labels: the numbers ``riskstream evaluate --fleet-seed`` writes as JSON.

Per target, seven scorers on one simulated fleet:

- ``served``: what a worker serves (LightGBM, or the baseline the card's ``serving`` block names), online
  corrections off;
- ``lightgbm``: the artifact's LightGBM with its calibration, also where it is not served;
- ``rules``, ``best_feature``: the fitted baselines on the card (:mod:`models.baselines`); an artifact
  without that block gets them cross-fit on the fleet by rider (fit on one half, scored on the other);
- ``base_rate``: a constant, the training rate on the card (else the other half's rate);
- ``ceiling``: the learnable ceiling cross-fit by rider and by zone-and-time cell (:mod:`models.ceiling`);
- ``oracle``: the clairvoyant hazard the rider met in the horizon (``p_<target>_future``): its ECE is
  the noise floor of ECE on this fleet.

Each gets ROC-AUC and ECE (10 equal-count bins) with rider-bootstrap 95 % intervals (whole riders
resampled, the same resamples for every scorer), log loss, Brier, and tail bins: the lowest and
highest 1 % and 10 % of its predictions with their mean p and observed rate. LightGBM and the
served scorer also get paired differences against the baselines on the same resamples (ROC-AUC,
and log-loss skill over the base rate).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd

from features.catalog import FEATURE_NAMES
from models.artifact import TARGETS, ModelBundle
from models.baselines import Baseline, fit_baselines
from models.ceiling import learnable_ceiling, rider_folds
from models.evaluate import expected_calibration_error, to_scale
from models.scoring import LightGBMScorer

SCORERS = ("served", "lightgbm", "rules", "best_feature", "base_rate", "ceiling", "oracle")
#: Share of predictions in each tail bin of the tail-calibration table.
TAILS = (0.01, 0.10)
#: Paired comparisons reported for LightGBM and the served scorer.
AGAINST = ("best_feature", "rules", "base_rate", "ceiling")
EPS = 1e-6
#: The small deterministic fleet whose metrics the card records (``ci_check``) and CI reproduces:
#: seed, riders, hours (scale 1, the day after training).
CI_FLEET = {"seed": 4242, "riders": 16, "hours": 3.0}
#: Metrics of ``ci_check`` and the absolute tolerance CI reproduces them within (the simulation and
#: LightGBM are deterministic; the tolerance allows for floating-point differences between machines).
CI_METRICS = ("auc", "log_loss", "brier", "ece", "mean_p")
CI_TOLERANCE = 1e-6


def _log_loss(p: np.ndarray, y: np.ndarray) -> float:
    q = np.clip(p, EPS, 1 - EPS)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log1p(-q)))


def _auc(p: np.ndarray, y: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p)) if 0 < y.sum() < y.size else math.nan


def resamples(groups: np.ndarray, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Row indices of ``n_boot`` rider-bootstrap resamples (whole riders drawn with replacement)."""
    codes, inverse = np.unique(np.asarray(groups), return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    starts = np.searchsorted(inverse[order], np.arange(codes.size))
    ends = np.append(starts[1:], order.size)
    rng = np.random.default_rng(seed)
    for _ in range(n_boot):
        pick = rng.integers(0, codes.size, codes.size)
        yield np.concatenate([order[starts[k]: ends[k]] for k in pick])


def _ci(values: list[float]) -> list[float | None]:
    v = [x for x in values if math.isfinite(x)]
    if not v:
        return [None, None]
    return [float(np.quantile(v, 0.025)), float(np.quantile(v, 0.975))]


def tail_bins(p: np.ndarray, y: np.ndarray) -> dict[str, dict[str, float | int]]:
    """Mean p and observed rate in the lowest and highest ``TAILS`` shares of the predictions.

    >>> t = tail_bins(np.linspace(0, 1, 100), np.r_[np.zeros(90), np.ones(10)])
    >>> t["top_10pct"]["observed"], t["bottom_1pct"]["n"]
    (1.0, 1)
    """
    order = np.argsort(p, kind="stable")
    out: dict[str, dict[str, float | int]] = {}
    for share in TAILS:
        k = max(1, int(round(share * p.size)))
        for name, idx in ((f"bottom_{share * 100:g}pct", order[:k]), (f"top_{share * 100:g}pct", order[-k:])):
            out[name] = {"n": int(idx.size), "n_pos": int(y[idx].sum()), "mean_p": float(p[idx].mean()),
                         "observed": float(y[idx].mean())}
    return out


def crossfit_baselines(frame: pd.DataFrame, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """``best_feature`` and ``rules`` scored out of fold (2 rider folds) on ``frame`` itself; ``base_rate`` its rate."""
    X = frame[list(FEATURE_NAMES)].to_numpy(float)
    fold = rider_folds(frame["rider_id"], 2, seed)
    out = {t: {k: np.full(len(frame), np.nan) for k in ("best_feature", "rules", "base_rate")} for t in TARGETS}
    for k in (0, 1):
        fit, score = fold != k, fold == k
        fitted = fit_baselines(X[fit], {t: frame.loc[fit, f"y_{t}"].to_numpy(int) for t in TARGETS})
        for t in TARGETS:
            for kind in ("best_feature", "rules"):
                out[t][kind][score] = fitted[t][kind].predict(X[score])
    for t in TARGETS:  # one constant (the fleet's rate): a base rate ranks nobody
        out[t]["base_rate"][:] = float(frame[f"y_{t}"].mean())
    return out


def card_baselines(bundle: ModelBundle, X: np.ndarray) -> dict[str, dict[str, np.ndarray]] | None:
    """The card's fitted baselines scored on ``X`` (at scale 1), or ``None`` when the card has none."""
    block = bundle.metadata.get("baselines")
    if not block:
        return None
    out: dict[str, dict[str, np.ndarray]] = {}
    for t in TARGETS:
        out[t] = {k: Baseline.from_json(t, block[t][k]).predict(X) for k in ("best_feature", "rules")}
        out[t]["base_rate"] = np.full(X.shape[0], float(block[t]["base_rate"]))
    return out


def score_all(bundle: ModelBundle, frame: pd.DataFrame, scale: float = 1.0, seed: int = 0, ceiling: bool = True
              ) -> dict[str, dict[str, np.ndarray]]:
    """Per target, each of :data:`SCORERS`' probabilities on ``frame`` (simulated at hazard ``scale``);
    ``ceiling=False`` leaves the ceiling out (small fleets: its four cross-fits need data)."""
    X = frame[list(FEATURE_NAMES)].to_numpy(float)
    scorer = LightGBMScorer(bundle)
    served, lgbm = scorer.predict_matrix(X), scorer.predict_matrix(X, served=False)
    base = card_baselines(bundle, X)
    if base is None:
        base = crossfit_baselines(frame, seed)  # fitted at the fleet's own scale
    else:
        base = {t: {k: to_scale(v, scale) for k, v in base[t].items()} for t in TARGETS}
    out: dict[str, dict[str, np.ndarray]] = {}
    for t in TARGETS:
        out[t] = {"served": to_scale(served[t], scale), "lightgbm": to_scale(lgbm[t], scale), **base[t],
                  "oracle": np.clip(frame[f"p_{t}_future"].to_numpy(float), EPS, 1 - EPS)}
        if ceiling:
            out[t]["ceiling"] = learnable_ceiling(frame, t, seed=seed, by="zone_time")
    return out


def scorecard(frame: pd.DataFrame, scores: dict[str, dict[str, np.ndarray]], n_boot: int = 200, seed: int = 0
              ) -> dict[str, Any]:
    """The ``targets`` block of the evaluation JSON (module docstring), for scores from :func:`score_all`."""
    groups = frame["rider_id"].astype(str).to_numpy()
    boots = list(resamples(groups, n_boot, seed))
    targets: dict[str, Any] = {}
    for t in TARGETS:
        y = frame[f"y_{t}"].to_numpy(int)
        sc = {name: np.nan_to_num(scores[t][name], nan=float(y.mean())) for name in SCORERS if name in scores[t]}
        ll_base = [_log_loss(sc["base_rate"][i], y[i]) for i in boots]
        rows: dict[str, Any] = {}
        auc_b: dict[str, list[float]] = {}
        ll_b: dict[str, list[float]] = {}
        for name, p in sc.items():
            auc_b[name] = [_auc(p[i], y[i]) for i in boots]
            ll_b[name] = [_log_loss(p[i], y[i]) for i in boots]
            ece_b = [expected_calibration_error(p[i], y[i]) for i in boots]
            ll = _log_loss(p, y)
            rows[name] = {
                "auc": _auc(p, y), "auc_ci": _ci(auc_b[name]), "log_loss": ll,
                "brier": float(np.mean((p - y) ** 2)), "ece": expected_calibration_error(p, y), "ece_ci": _ci(ece_b),
                "log_loss_skill": 1.0 - ll / _log_loss(sc["base_rate"], y),
                "log_loss_skill_ci": _ci([1.0 - a / b for a, b in zip(ll_b[name], ll_base)]),
                "mean_p": float(p.mean()), "tails": tail_bins(p, y),
            }
        for name in ("lightgbm", "served"):
            rows[name]["minus"] = {
                other: {"auc": rows[name]["auc"] - rows[other]["auc"],
                        "auc_ci": _ci([a - b for a, b in zip(auc_b[name], auc_b[other])]),
                        "log_loss_gain": rows[other]["log_loss"] - rows[name]["log_loss"],
                        "log_loss_gain_ci": _ci([b - a for a, b in zip(ll_b[name], ll_b[other])])}
                for other in AGAINST if other in rows}
        targets[t] = {"n": int(y.size), "n_pos": int(y.sum()), "riders": int(np.unique(groups).size),
                      "base_rate": float(y.mean()), "served_p_min": float(sc["served"].min()),
                      "served_p_max": float(sc["served"].max()), "scorers": rows}
    return {"targets": targets}


def ci_fleet_specs(meta: dict[str, Any]) -> list[Any]:
    """The shards of :data:`CI_FLEET` for an artifact's card (the day after its training data)."""
    from riskstream.lab.holdout import eval_start_day
    from riskstream.lab.train import shard_specs

    return shard_specs(CI_FLEET["riders"], CI_FLEET["hours"], CI_FLEET["seed"], hazard_scale=1.0, shards=1,
                       start_day=eval_start_day(meta), prefix="ci-")


def ci_check(bundle: ModelBundle) -> dict[str, Any]:
    """Metrics of the served scorer, LightGBM and the baselines on :data:`CI_FLEET` (no bootstrap): the card's
    ``ci_check`` block, which ``tests/unit/test_model_card_reproduces.py`` recomputes."""
    from riskstream.lab.holdout import assert_disjoint, cached_frame

    specs = ci_fleet_specs(bundle.metadata)
    frame = cached_frame(specs, None, workers=1, progress=False)
    assert_disjoint(bundle.metadata, frame, specs)
    card = scorecard(frame, score_all(bundle, frame, 1.0, ceiling=False), n_boot=0)
    return {"fleet": {**CI_FLEET, "hazard_scale": 1.0, "start_day": specs[0].start_day, "snapshots": len(frame)},
            "tolerance": CI_TOLERANCE,
            "metrics": {t: {name: {k: m[k] for k in CI_METRICS} for name, m in block["scorers"].items()}
                        for t, block in card["targets"].items()}}


def serving_decision(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per target: LightGBM if it beats ``best_feature`` and ``rules`` with paired ROC-AUC intervals above 0,
    else the better of those two baselines (higher ROC-AUC); with the reason in words.

    ``card``: :func:`scorecard`'s output on a calibration fleet the training never saw.

    >>> row = lambda lo: {"auc": 0.7, "auc_ci": [lo, 0.1]}
    >>> card = {"targets": {"injury": {"scorers": {"lightgbm": {"minus": {"best_feature": row(-0.01), "rules": row(0.01)}},
    ...     "best_feature": {"auc": 0.66}, "rules": {"auc": 0.64}}}}}
    >>> serving_decision(card)["injury"]["scorer"]
    'best_feature'
    """
    out: dict[str, dict[str, Any]] = {}
    for t, block in card["targets"].items():
        minus = block["scorers"]["lightgbm"]["minus"]
        lows = {k: minus[k]["auc_ci"][0] for k in ("best_feature", "rules")}
        if all(lo is not None and lo > 0 for lo in lows.values()):
            out[t] = {"scorer": "lightgbm", "reason": (
                f"LightGBM beats the best single feature (ROC-AUC +{minus['best_feature']['auc']:.3f}, 95 % CI lower "
                f"bound {lows['best_feature']:+.3f}) and the rules (+{minus['rules']['auc']:.3f}, lower bound "
                f"{lows['rules']:+.3f}) on the calibration fleet")}
            continue
        better = max(("best_feature", "rules"), key=lambda k: block["scorers"][k]["auc"])
        failed = [k for k, lo in lows.items() if lo is None or lo <= 0]
        out[t] = {"scorer": better, "reason": (
            "LightGBM does not beat " + " and ".join(
                f"{k.replace('_', ' ')} (ROC-AUC difference {minus[k]['auc']:+.3f}, 95 % CI "
                f"[{_fmt(minus[k]['auc_ci'][0])}, {_fmt(minus[k]['auc_ci'][1])}])" for k in failed)
            + f" on the calibration fleet; the better baseline, {better.replace('_', ' ')} "
              f"(ROC-AUC {block['scorers'][better]['auc']:.3f}), is served")}
    return out


def calibration_card(bundle: ModelBundle, frame: pd.DataFrame, n_boot: int = 200, seed: int = 0, ceiling: bool = True,
                     decide: Callable[[dict[str, Any]], dict[str, dict[str, Any]]] = serving_decision,
                     ) -> tuple[dict[str, Any], dict[str, dict[str, Any]], dict[str, np.ndarray]]:
    """``(scorecard, serving, served p)`` on a calibration fleet: the serving choice made (``decide``), then the
    ``served`` entry scored *as chosen* (the baseline's numbers where a baseline serves, not LightGBM's)."""
    scores = score_all(bundle, frame, 1.0, seed=seed, ceiling=ceiling)
    serving = decide(scorecard(frame, scores, n_boot, seed))
    chosen = replace(bundle, metadata={**bundle.metadata, "serving": serving})
    served = LightGBMScorer(chosen).predict_matrix(frame[list(FEATURE_NAMES)].to_numpy(float))
    for t in TARGETS:
        scores[t]["served"] = served[t]
    return scorecard(frame, scores, n_boot, seed), serving, served


def _fmt(v: float | None) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v:+.3f}"


def markdown(card: dict[str, Any], title: str) -> list[str]:
    """The scorecard as Markdown tables (one per target) plus the tail-calibration table."""
    lines = [f"### {title}", ""]
    f = lambda v, nd=3: "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{nd}f}"  # noqa: E731
    for t, block in card["targets"].items():
        lines += [f"**{t}**: {block['n']:,} snapshots of {block['riders']} riders, {block['n_pos']:,} positive "
                  f"(rate {block['base_rate']:.4f}); served p from {block['served_p_min']:.2e} to "
                  f"{block['served_p_max']:.3f}.", "",
                  "| scorer | ROC-AUC [95 % CI] | log loss | log-loss skill over base rate [95 % CI] | Brier "
                  "| ECE [95 % CI] | mean p |", "|---|---|---|---|---|---|---|"]
        for name, m in block["scorers"].items():
            lines.append(f"| {name} | {f(m['auc'])} [{f(m['auc_ci'][0])}, {f(m['auc_ci'][1])}] | {f(m['log_loss'], 4)} "
                         f"| {_pct(m['log_loss_skill'])} % [{_pct(m['log_loss_skill_ci'][0])}, "
                         f"{_pct(m['log_loss_skill_ci'][1])}] % | {f(m['brier'], 4)} "
                         f"| {f(m['ece'], 4)} [{f(m['ece_ci'][0], 4)}, {f(m['ece_ci'][1], 4)}] | {f(m['mean_p'], 4)} |")
        lines += ["", "Paired differences (same rider resamples):", ""]
        for name in ("lightgbm", "served"):
            for other, d in block["scorers"][name]["minus"].items():
                lines.append(f"- {name} − {other}: ROC-AUC {_fmt(d['auc'])} [{_fmt(d['auc_ci'][0])}, "
                             f"{_fmt(d['auc_ci'][1])}], log-loss gain {_fmt4(d['log_loss_gain'])} "
                             f"[{_fmt4(d['log_loss_gain_ci'][0])}, {_fmt4(d['log_loss_gain_ci'][1])}]")
        lines += ["", "Tail calibration (mean p / observed rate, n positive of n):", "",
                  "| scorer | lowest 1 % | lowest 10 % | highest 10 % | highest 1 % |", "|---|---|---|---|---|"]
        for name, m in block["scorers"].items():
            cells = [m["tails"][k] for k in ("bottom_1pct", "bottom_10pct", "top_10pct", "top_1pct")]
            lines.append(f"| {name} | " + " | ".join(f"{c['mean_p']:.4f} / {c['observed']:.4f} ({c['n_pos']}/{c['n']})"
                                                     for c in cells) + " |")
        lines.append("")
    return lines


def _pct(v: float | None) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v * 100:.1f}"


def _fmt4(v: float | None) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v:+.4f}"


__all__ = ["SCORERS", "calibration_card", "score_all", "scorecard", "serving_decision", "markdown", "tail_bins"]
