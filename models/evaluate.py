"""Held-out evaluation: discrimination (ROC-AUC, PR-AUC) and calibration (Brier, ECE).

Incidents are rare, so the expected calibration error uses equal-*count* bins (each bin
holds the same number of predictions) rather than equal-width bins, which would leave
almost every prediction in the first bin.

>>> round(expected_calibration_error([0.1, 0.1, 0.9, 0.9], [0, 0, 1, 1], bins=2), 3)
0.1
>>> m = binary_metrics([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])
>>> m["roc_auc"], m["pr_auc"], m["n_pos"]
(1.0, 1.0, 2)
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score


def expected_calibration_error(p: Sequence[float] | np.ndarray, y: Sequence[int] | np.ndarray, bins: int = 10) -> float:
    """Count-weighted mean |mean prediction − observed rate| over ``bins`` equal-count bins."""
    p = np.asarray(p, dtype=float)
    y = np.asarray(y, dtype=float)
    if p.size == 0:
        return math.nan
    order = np.argsort(p, kind="stable")
    err = 0.0
    for chunk in np.array_split(order, min(bins, p.size)):
        if chunk.size:
            err += chunk.size * abs(p[chunk].mean() - y[chunk].mean())
    return float(err / p.size)


def binary_metrics(p: Sequence[float] | np.ndarray, y: Sequence[int] | np.ndarray) -> dict[str, float]:
    """ROC-AUC, PR-AUC (average precision), Brier, log loss, ECE, base rate and counts.

    AUCs are NaN when the fold has only one class (no incidents), never a made-up number.
    """
    probs = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    y = np.asarray(y, dtype=int)
    both = 0 < y.sum() < y.size
    return {
        "n": int(y.size),
        "n_pos": int(y.sum()),
        "base_rate": float(y.mean()) if y.size else math.nan,
        "mean_pred": float(probs.mean()) if probs.size else math.nan,
        "roc_auc": float(roc_auc_score(y, probs)) if both else math.nan,
        "pr_auc": float(average_precision_score(y, probs)) if both else math.nan,
        "brier": float(brier_score_loss(y, probs, pos_label=1)) if y.size else math.nan,
        "log_loss": float(log_loss(y, np.clip(probs, 1e-6, 1 - 1e-6), labels=[0, 1])) if y.size else math.nan,
        "ece": expected_calibration_error(probs, y),
    }


def format_report(metrics: dict[str, dict[str, dict[str, float]]]) -> str:
    """A small fixed-width table: one line per (target, scorer)."""
    cols = ("n", "n_pos", "roc_auc", "pr_auc", "brier", "ece")
    lines = [f"{'target':9} {'scorer':12} " + " ".join(f"{c:>8}" for c in cols)]
    for target, by_scorer in metrics.items():
        for scorer, m in by_scorer.items():
            cells = []
            for c in cols:
                v = m.get(c, math.nan)
                cells.append(f"{v:>8d}" if isinstance(v, int) else f"{v:>8.4f}")
            lines.append(f"{target:9} {scorer:12} " + " ".join(cells))
    return "\n".join(lines)


def rider_bootstrap(
    stat: Callable[[np.ndarray], float], groups: Sequence[str] | np.ndarray, n_boot: int = 200, seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile confidence interval of ``stat(rows)`` resampling whole riders (``groups``) with replacement.

    Snapshots of one rider an hour apart share the same incident, so rows are not
    independent; resampling riders keeps that dependence. ``stat`` gets an index array.

    >>> g = np.repeat(np.arange(50), 4)
    >>> lo, hi = rider_bootstrap(lambda idx: float(len(idx)), g, n_boot=20)
    >>> lo <= 200 <= hi
    True
    """
    codes, inverse = np.unique(np.asarray(groups), return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    starts = np.searchsorted(inverse[order], np.arange(codes.size))
    ends = np.append(starts[1:], order.size)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_boot):
        pick = rng.integers(0, codes.size, codes.size)
        idx = np.concatenate([order[starts[k] : ends[k]] for k in pick])
        v = stat(idx)
        if math.isfinite(v):
            values.append(v)
    if not values:
        return math.nan, math.nan
    a = (1.0 - level) / 2.0
    return float(np.quantile(values, a)), float(np.quantile(values, 1.0 - a))


def paired_auc_difference(
    p_a: np.ndarray, p_b: np.ndarray, y: np.ndarray, groups: Sequence[str] | np.ndarray, n_boot: int = 200, seed: int = 0,
) -> tuple[float, float, float]:
    """AUC(a) − AUC(b) on the same rows, with a rider-bootstrap 95 % interval (paired: same resample)."""
    y = np.asarray(y, dtype=int)

    def diff(idx: np.ndarray) -> float:
        if not 0 < y[idx].sum() < idx.size:
            return math.nan
        return float(roc_auc_score(y[idx], p_a[idx]) - roc_auc_score(y[idx], p_b[idx]))

    lo, hi = rider_bootstrap(diff, groups, n_boot, seed)
    return diff(np.arange(y.size)), lo, hi


#: Shares of the highest scores whose observed rate the card records (:func:`risk_bands`), most exclusive last.
RISK_BAND_SHARES = (0.5, 0.25, 0.10, 0.05, 0.01)
#: A band is recorded only with at least this many positives (fewer: its rate would be guessed, not measured).
RISK_BAND_MIN_POSITIVES = 30


def risk_bands(p: np.ndarray, y: np.ndarray, shares: Sequence[float] = RISK_BAND_SHARES,
               min_positives: int = RISK_BAND_MIN_POSITIVES) -> list[dict[str, float | int]]:
    """What happened where a scorer said the most: for each share s, the rows scored at or above its
    (1 − s) quantile ``p_from`` (ties included), their count, positives, observed rate and ``rr``, the
    observed rate over the whole fleet's. Bands with fewer than ``min_positives`` positives are left out.

    A rider's model-risk text says no more than the ``rr`` of the most exclusive band the rider's score
    reaches (:meth:`alerts.reference.PopulationRisk.relative_risk`): the score over the mean alone can
    overstate what the scorer's tail came to.

    >>> p = np.r_[np.full(90, 0.05), np.full(10, 0.4)]
    >>> y = np.r_[np.zeros(85, int), np.ones(5, int), np.ones(4, int), np.zeros(6, int)]
    >>> [(b["share"], b["p_from"], b["n"], b["rr"]) for b in risk_bands(p, y, (0.5, 0.1), 1)]
    [(0.5, 0.05, 100, 1.0), (0.1, 0.4, 10, 4.444444444444445)]
    """
    p, y = np.asarray(p, float), np.asarray(y, int)
    base = float(y.mean()) if y.size else math.nan
    out: list[dict[str, float | int]] = []
    for share in shares:
        p_from = float(np.quantile(p, 1.0 - share, method="higher"))  # a score some row has
        pick = p >= p_from
        n, pos = int(pick.sum()), int(y[pick].sum())
        if pos < min_positives or not base > 0:
            continue
        out.append({"share": float(share), "p_from": p_from, "n": n, "n_pos": pos, "observed": pos / n,
                    "rr": pos / n / base})
    return out


def alert_precision_recall(p: np.ndarray, y: np.ndarray, threshold: float) -> dict[str, float]:
    """Share of rows alerted, precision and recall of alerting when ``p ≥ threshold``.

    >>> alert_precision_recall(np.array([0.05, 0.2, 0.3, 0.01]), np.array([0, 1, 0, 1]), 0.1)
    {'alert_rate': 0.5, 'precision': 0.5, 'recall': 0.5}
    """
    p, y = np.asarray(p, dtype=float), np.asarray(y, dtype=int)
    alert = p >= threshold
    tp = int((alert & (y == 1)).sum())
    return {
        "alert_rate": float(alert.mean()) if y.size else math.nan,
        "precision": tp / int(alert.sum()) if alert.any() else math.nan,
        "recall": tp / int(y.sum()) if y.any() else math.nan,
    }


def to_scale(p: np.ndarray, hazard_scale: float) -> np.ndarray:
    """A probability at hazard scale 1 expressed at scale k: ``1 − (1 − p)^k`` (inverse of the artifact's correction).

    >>> to_scale(np.array([0.5]), 2.0).tolist()
    [0.75]
    """
    return 1.0 - (1.0 - np.clip(np.asarray(p, dtype=float), 0.0, 1.0)) ** float(hazard_scale)
