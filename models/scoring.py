"""Batched scoring: the LightGBM scorer, and the rule scorer re-exported for one import point.

One ``predict`` call per target per batch, on a float matrix in
:data:`features.catalog.FEATURE_NAMES` order (missing → NaN, which LightGBM routes down
each split's learned default branch). Probabilities are calibrated with the artifact's
calibration map. Reasons come from LightGBM's TreeSHAP contributions
(``pred_contrib=True``): the features that pushed this rider's risk up the most.

A target the artifact's card serves by a baseline (card block ``serving``: LightGBM did not
beat the best single feature and the rules on a calibration fleet; :mod:`models.baselines`)
gets that baseline's calibrated probability instead of LightGBM's; reasons still come from
LightGBM's contributions.

TreeSHAP costs several times a plain prediction (``benchmarks/bench_scoring.py``), so
:class:`LightGBMScorer` computes it only for the rows whose risk reaches ``explain_min_risk``
(default 0: every row), and not at all for a call with ``explain=False``: the worker's, whose
published decisions take their reasons from the alert policy and the premium signal.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from features.catalog import FEATURE_NAMES
from models.artifact import TARGETS, ModelBundle, load_artifact
from models.baselines import Baseline
from models.errors import ScoringError
from models.reasons import reason_for
from models.risk import FeatureRow, ScoredRisk, feature_matrix
from models.rules import RuleScorer
from riskstream.contracts.records import Reason

__all__ = ["LightGBMScorer", "RuleScorer", "ScoredRisk", "feature_matrix"]

#: Contributions (log-odds) smaller than this are noise, not a reason.
MIN_CONTRIBUTION = 0.05


class LightGBMScorer:
    """Calibrated LightGBM probabilities per target, with reasons from TreeSHAP contributions.

    >>> scorer = LightGBMScorer.from_path()          # the shipped artifact  # doctest: +SKIP
    >>> scorer.score_batch([{"heat_index_c": 41.0}])[0].injury  # doctest: +SKIP
    """

    def __init__(self, bundle: ModelBundle, top_k: int = 3, explain_min_risk: float = 0.0) -> None:
        if tuple(bundle.feature_names) != FEATURE_NAMES:
            raise ScoringError("the artifact's feature names differ from features.catalog.FEATURE_NAMES")
        self.bundle = bundle
        self.top_k = top_k
        self.explain_min_risk = explain_min_risk
        self.served: dict[str, Baseline | None] = {t: _served_baseline(bundle, t) for t in TARGETS}

    @classmethod
    def from_path(cls, path: Path | None = None, **kwargs: Any) -> LightGBMScorer:
        """Load the artifact at ``path`` (default: the shipped ``CURRENT``) and wrap it."""
        return cls(load_artifact(path), **kwargs)

    @property
    def version(self) -> str:
        return self.bundle.version

    @property
    def horizon_min(self) -> int:
        return self.bundle.horizon_min

    def served_by(self, target: str) -> str:
        """``"lightgbm"`` or the baseline kind the card serves ``target`` by."""
        baseline = self.served[target]
        return "lightgbm" if baseline is None else baseline.kind

    def predict_matrix(self, X: np.ndarray, served: bool = True) -> dict[str, np.ndarray]:
        """Calibrated probabilities per target for a feature matrix (one predict call per target).

        ``served=False``: LightGBM's own probabilities, also for a target the card serves by a baseline.
        """
        if X.ndim != 2 or X.shape[1] != len(FEATURE_NAMES):
            raise ScoringError(f"expected a matrix with {len(FEATURE_NAMES)} columns, got shape {X.shape}")
        out = {}
        for target in TARGETS:
            baseline = self.served[target] if served else None
            if baseline is not None:
                out[target] = baseline.predict(X)
                continue
            raw = self.bundle.boosters[target].predict(X, num_threads=1)
            out[target] = self.bundle.calibrators[target].apply(raw)
        return out

    @property
    def source(self) -> str:
        """``"lightgbm"``, or e.g. ``"lightgbm/injury=best_feature"`` when the card serves a target by a baseline."""
        by = [f"{t}={self.served_by(t)}" for t in TARGETS if self.served[t] is not None]
        return "lightgbm" + ("/" + ",".join(by) if by else "")

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Per-row, per-feature contribution to the log-odds, the larger of the two targets'."""
        per_target = [
            np.asarray(self.bundle.boosters[t].predict(X, pred_contrib=True, num_threads=1))[:, : len(FEATURE_NAMES)]
            for t in TARGETS
        ]
        return np.maximum(*per_target)

    def _reasons(self, x_row: np.ndarray, contrib_row: np.ndarray) -> list[Reason]:
        reasons: list[Reason] = []
        seen: set[str] = set()
        for j in np.argsort(-contrib_row, kind="stable"):
            if contrib_row[j] < MIN_CONTRIBUTION or len(reasons) == self.top_k:
                break
            value = float(x_row[j])
            reason = reason_for(FEATURE_NAMES[j], value if math.isfinite(value) else None)
            if reason.code not in seen:  # several missing features share one "stale source" reason
                seen.add(reason.code)
                reasons.append(reason)
        return reasons

    def score_batch(self, rows: Sequence[FeatureRow], explain: bool = True) -> list[ScoredRisk]:
        """Score a batch of feature rows; input rows are not modified. ``explain=False``: no reasons (no TreeSHAP).

        >>> scorer = LightGBMScorer.from_path()                      # the shipped artifact  # doctest: +SKIP
        >>> scorer.score_batch([{"heat_index_c": 41.0}], explain=False)[0].reasons  # doctest: +SKIP
        []
        """
        if not rows:
            return []
        X = feature_matrix(rows)
        probs = self.predict_matrix(X)
        injury, accident = probs["injury"], probs["accident"]
        reasons: dict[int, list] = {}
        explained = np.flatnonzero(np.maximum(injury, accident) >= self.explain_min_risk) if explain else ()
        if len(explained):
            contrib = self.contributions(X[explained])
            for k, i in enumerate(explained):
                reasons[int(i)] = self._reasons(X[i], contrib[k])
        return [
            ScoredRisk(
                injury=float(injury[i]),
                accident=float(accident[i]),
                reasons=reasons.get(i, []),
                source=self.source,
                conservative=False,
            )
            for i in range(len(rows))
        ]


def _served_baseline(bundle: ModelBundle, target: str) -> Baseline | None:
    """The baseline the card's ``serving`` block names for ``target``, or ``None`` (LightGBM serves it)."""
    choice = (bundle.metadata.get("serving") or {}).get(target) or {}
    kind = choice.get("scorer", "lightgbm")
    if kind == "lightgbm":
        return None
    try:
        return Baseline.from_json(target, bundle.metadata["baselines"][target][kind])
    except Exception as exc:
        raise ScoringError(f"artifact {bundle.version}: {target} is served by {kind!r} but the card's baselines "
                           f"block cannot build it ({exc}); retrain with `riskstream train`") from exc
