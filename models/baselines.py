"""Baselines every model must beat, and the monotone binned calibration they (and the reports) share.

Per target the artifact carries two fitted baselines besides LightGBM (card block ``baselines``):

- ``best_feature``: the single feature whose ranking of the training frame is best (ROC-AUC
  furthest from 0.5; its sign says whether high or low values are risky), mapped to a
  probability by :func:`binned_monotone`;
- ``rules``: :class:`models.rules.RuleScorer`'s probability of the target (documented
  multipliers, no learning) mapped to the training frame's rates by :func:`binned_monotone`, so
  it speaks the same scale as the other scorers.

A target whose LightGBM does not beat both with a paired interval above 0 on a calibration
fleet is served by the better of them (card block ``serving``; :class:`models.scoring.LightGBMScorer`
reads it).

:func:`binned_monotone` is the calibration map with a floor and a ceiling justified by data:
bins of equal feature values are merged, in order, until each holds at least ``min_events``
positives *and* negatives, rates are pooled until monotone, and the map interpolates between
the bins' mean inputs (constant beyond the outermost bins, whose rates are the floor and
the ceiling, each measured on ≥ ``min_events`` positives).

>>> x = np.repeat(np.arange(10.0), 100)
>>> y = (np.random.default_rng(0).random(1000) < 0.02 + 0.02 * x).astype(int)
>>> cal = binned_monotone(x, y, min_events=20)
>>> p = cal.apply([0.0, 9.0])
>>> bool(p[0] < p[1]) and bool(0.0 < p[0]) and bool(p[1] < 1.0)
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from features.catalog import FEATURE_NAMES
from models.artifact import Calibrator

#: Each calibration bin holds at least this many positives and this many negatives.
MIN_BIN_EVENTS = 30
#: Baseline kinds a target can be served by instead of LightGBM.
BASELINE_KINDS = ("best_feature", "rules")


def _pav(rates: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Pool adjacent violators: the weighted non-decreasing fit of ``rates``."""
    blocks: list[list[float]] = []  # [rate, weight, count]
    for r, w in zip(rates, weights):
        blocks.append([float(r), float(w), 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            r2, w2, c2 = blocks.pop()
            r1, w1, c1 = blocks.pop()
            blocks.append([(r1 * w1 + r2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
    return np.concatenate([np.full(int(c), r) for r, _, c in blocks])


def binned_monotone(x: np.ndarray, y: np.ndarray, min_events: int = MIN_BIN_EVENTS) -> Calibrator:
    """A non-decreasing map ``x → P(y = 1)`` from bins holding ≥ ``min_events`` positives and negatives each.

    Raises ``ValueError`` when there are fewer than ``min_events`` positives or negatives in all.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=int)
    keep = np.isfinite(x)
    x, y = x[keep], y[keep]
    if y.sum() < min_events or (y.size - y.sum()) < min_events:
        raise ValueError(f"binned calibration needs ≥ {min_events} positives and negatives, got {int(y.sum())} "
                         f"of {y.size}: simulate more riders or hours")
    values, inverse = np.unique(x, return_inverse=True)
    n = np.bincount(inverse).astype(float)
    pos = np.bincount(inverse, weights=y).astype(float)
    sx = np.bincount(inverse, weights=x)
    bins: list[list[float]] = []  # [n, pos, sum_x]
    cur = [0.0, 0.0, 0.0]
    for k in range(values.size):
        cur = [cur[0] + n[k], cur[1] + pos[k], cur[2] + sx[k]]
        if cur[1] >= min_events and cur[0] - cur[1] >= min_events:
            bins.append(cur)
            cur = [0.0, 0.0, 0.0]
    if cur[0]:
        last = bins.pop()
        bins.append([last[0] + cur[0], last[1] + cur[1], last[2] + cur[2]])
    b = np.asarray(bins)
    rates = _pav(b[:, 1] / b[:, 0], b[:, 0])
    knots = b[:, 2] / b[:, 0]
    return Calibrator("isotonic", {"x": knots.tolist(), "y": rates.tolist(), "min_events": int(min_events)})


@dataclass(frozen=True)
class Baseline:
    """One fitted baseline of one target: ``kind`` (``best_feature`` or ``rules``) and its calibration."""

    kind: str
    target: str
    calibrator: Calibrator
    feature: str | None = None
    sign: float = 1.0
    fill: float = 0.0
    train_auc: float = math.nan

    def raw(self, X: np.ndarray) -> np.ndarray:
        """The baseline's input on a feature matrix in :data:`FEATURE_NAMES` order (before calibration)."""
        if self.kind == "best_feature":
            col = X[:, FEATURE_NAMES.index(str(self.feature))].astype(float)
            return self.sign * np.where(np.isfinite(col), col, self.fill)
        from models.rules import RuleScorer

        rows = [{n: (None if not math.isfinite(v) else float(v)) for n, v in zip(FEATURE_NAMES, r)} for r in X]
        return np.array([getattr(s, self.target) for s in RuleScorer().score_batch(rows)], dtype=float)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of the target."""
        return self.calibrator.apply(self.raw(X))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "calibration": self.calibrator.to_json(),
                               "train_auc": self.train_auc}
        if self.kind == "best_feature":
            out.update(feature=self.feature, sign=self.sign, fill=self.fill)
        return out

    @classmethod
    def from_json(cls, target: str, data: dict[str, Any]) -> Baseline:
        kind = str(data["kind"])
        if kind not in BASELINE_KINDS:
            raise ValueError(f"unknown baseline kind {kind!r}; expected one of {BASELINE_KINDS}")
        feature = data.get("feature")
        if kind == "best_feature" and feature not in FEATURE_NAMES:
            raise ValueError(f"baseline feature {feature!r} is not in features.catalog.FEATURE_NAMES")
        return cls(kind, target, Calibrator.from_json(data["calibration"]), feature, float(data.get("sign", 1.0)),
                   float(data.get("fill", 0.0)), float(data.get("train_auc") or math.nan))


def best_feature(X: np.ndarray, y: np.ndarray) -> tuple[str, float, float, float]:
    """``(name, sign, fill, auc)`` of the single feature ranking ``y`` best (missing values at the median)."""
    from sklearn.metrics import roc_auc_score

    best: tuple[str, float, float, float] = (FEATURE_NAMES[0], 1.0, 0.0, 0.5)
    for j, name in enumerate(FEATURE_NAMES):
        col = X[:, j].astype(float)
        finite = np.isfinite(col)
        if not finite.any():
            continue
        fill = float(np.median(col[finite]))
        col = np.where(finite, col, fill)
        if np.unique(col).size < 2:
            continue
        auc = float(roc_auc_score(y, col))
        if abs(auc - 0.5) > abs(best[3] - 0.5):
            best = (name, 1.0 if auc >= 0.5 else -1.0, fill, auc)
    name, sign, fill, auc = best
    return name, sign, fill, max(auc, 1.0 - auc)


def fit_baselines(X: np.ndarray, y: dict[str, np.ndarray], min_events: int = MIN_BIN_EVENTS
                  ) -> dict[str, dict[str, Baseline]]:
    """Per target, the fitted ``best_feature`` and ``rules`` baselines on a training matrix and its labels."""
    from sklearn.metrics import roc_auc_score

    out: dict[str, dict[str, Baseline]] = {}
    for target, labels in y.items():
        # small fleets (tests, quick runs): bins of a fifth of the rarer class, at least 3 events each
        m = max(3, min(min_events, int(min(labels.sum(), labels.size - labels.sum())) // 5))
        name, sign, fill, auc = best_feature(X, labels)
        feat = Baseline("best_feature", target, Calibrator(), name, sign, fill, auc)
        feat = Baseline("best_feature", target, binned_monotone(feat.raw(X), labels, m), name, sign, fill, auc)
        rules = Baseline("rules", target, Calibrator())
        raw = rules.raw(X)
        rules = Baseline("rules", target, binned_monotone(raw, labels, m),
                         train_auc=float(roc_auc_score(labels, raw)))
        out[target] = {"best_feature": feat, "rules": rules}
    return out
