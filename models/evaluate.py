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
from typing import Sequence

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
    p = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    y = np.asarray(y, dtype=int)
    both = 0 < y.sum() < y.size
    return {
        "n": int(y.size),
        "n_pos": int(y.sum()),
        "base_rate": float(y.mean()) if y.size else math.nan,
        "mean_pred": float(p.mean()) if p.size else math.nan,
        "roc_auc": float(roc_auc_score(y, p)) if both else math.nan,
        "pr_auc": float(average_precision_score(y, p)) if both else math.nan,
        "brier": float(brier_score_loss(y, p, pos_label=1)) if y.size else math.nan,
        "log_loss": float(log_loss(y, np.clip(p, 1e-6, 1 - 1e-6), labels=[0, 1])) if y.size else math.nan,
        "ece": expected_calibration_error(p, y),
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
