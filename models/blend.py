"""Blending LightGBM with the online learner, with a rule-based fallback and a circuit breaker.

Weight of the online (River) model per target, capped so LightGBM always has the majority::

    w = min(MAX_RIVER_WEIGHT, clip((auc_river - 0.5) / (auc_lgbm - 0.5), 0, 1) · n / (n + N0))

``auc_river`` is River's prequential ROC-AUC (scored before learning each example),
``auc_lgbm`` the held-out test AUC on the artifact's card, ``n`` the labelled examples
River has learned, ``N0`` a prior count (:data:`RIVER_PRIOR_EXAMPLES`). River gets no
weight before it has seen :data:`MIN_RIVER_POSITIVES` positives of that target.

Failure handling ("never silently safe", DESIGN.md):
- no LightGBM model, or it raises: the batch is scored by :class:`RuleScorer` (``conservative=True``);
- :data:`FAILURE_LIMIT` consecutive model failures, or :data:`MISJUDGEMENT_LIMIT` calls of
  :meth:`BlendedScorer.record_misjudgement` within :data:`MISJUDGEMENT_WINDOW_S`, open the
  circuit breaker for :data:`COOL_OFF_S`: scores become ``max(model, rules)``, marked conservative.

>>> from models.rules import RuleScorer
>>> scorer = BlendedScorer(lgbm=None, online=None, rules=RuleScorer(), clock=lambda: 0.0)
>>> out = scorer.score_batch([{"heat_category": 3}])[0]
>>> out.source, out.conservative, scorer.conservative_mode
('rules', True, True)
>>> scorer.model_versions()
{'lightgbm': 'none', 'river': 'none', 'rules': '1'}
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import replace
from typing import Callable, Sequence

import numpy as np

from models.artifact import TARGETS
from models.online import OnlineRiskModel
from models.risk import FeatureRow, ScoredRisk
from models.rules import RULES_VERSION, RuleScorer
from models.scoring import LightGBMScorer

log = logging.getLogger(__name__)

MAX_RIVER_WEIGHT = 0.5
RIVER_PRIOR_EXAMPLES = 5_000  # N0: River's weight is half its AUC-based share after N0 examples
MIN_RIVER_POSITIVES = 20
DEFAULT_LGBM_AUC = 0.75  # used when the artifact card has no test AUC
MISJUDGEMENT_LIMIT = 3
MISJUDGEMENT_WINDOW_S = 3600.0
FAILURE_LIMIT = 3
COOL_OFF_S = 1800.0
MAX_REASONS = 4


class BlendedScorer:
    """LightGBM (+ River when it has earned weight), rules as fallback and floor."""

    def __init__(
        self, lgbm: LightGBMScorer | None, online: OnlineRiskModel | None, rules: RuleScorer | None = None,
        clock: Callable[[], float] = time.time, cool_off_s: float = COOL_OFF_S,
    ) -> None:
        self.lgbm = lgbm
        self.online = online
        self.rules = rules or RuleScorer()
        self.clock = clock
        self.cool_off_s = cool_off_s
        self._misjudgements: deque[float] = deque()
        self._consecutive_failures = 0
        self._open_until = -float("inf")
        self.last_error: str | None = None

    # ------------------------------------------------------------------ circuit breaker
    @property
    def conservative_mode(self) -> bool:
        """True while the breaker is open or no LightGBM model is loaded."""
        return self.lgbm is None or self.clock() < self._open_until

    def _trip(self, now: float, why: str) -> None:
        if now >= self._open_until:
            log.warning("circuit breaker open for %.0f s: %s", self.cool_off_s, why)
        self._open_until = now + self.cool_off_s

    def record_misjudgement(self, now: float | None = None) -> None:
        """Count a misjudgement (an incident the model scored as low risk, a false alarm storm, ...)."""
        t = self.clock() if now is None else now
        self._misjudgements.append(t)
        while self._misjudgements and self._misjudgements[0] < t - MISJUDGEMENT_WINDOW_S:
            self._misjudgements.popleft()
        if len(self._misjudgements) >= MISJUDGEMENT_LIMIT:
            self._misjudgements.clear()
            self._trip(t, f"{MISJUDGEMENT_LIMIT} misjudgements within {MISJUDGEMENT_WINDOW_S:.0f} s")

    def reset(self) -> None:
        """Close the breaker now (a human took over and cleared it)."""
        self._open_until = -float("inf")
        self._misjudgements.clear()
        self._consecutive_failures = 0

    # ------------------------------------------------------------------ weights
    def river_weight(self, target: str) -> float:
        """The online model's weight for ``target`` (formula in the module docstring)."""
        if self.online is None or self.lgbm is None or self.online.n_positive[target] < MIN_RIVER_POSITIVES:
            return 0.0
        auc_river = self.online.auc(target)
        if auc_river is None:
            return 0.0
        auc_lgbm = self.lgbm.bundle.test_auc(target) or DEFAULT_LGBM_AUC
        rel = float(np.clip((auc_river - 0.5) / max(auc_lgbm - 0.5, 1e-6), 0.0, 1.0))
        n = self.online.n_learned
        return min(MAX_RIVER_WEIGHT, rel * n / (n + RIVER_PRIOR_EXAMPLES))

    def model_versions(self) -> dict[str, str]:
        return {
            "lightgbm": self.lgbm.version if self.lgbm is not None else "none",
            "river": self.online.version if self.online is not None else "none",
            "rules": RULES_VERSION,
        }

    # ------------------------------------------------------------------ scoring
    def _model_scores(self, rows: Sequence[FeatureRow], now: float) -> list[ScoredRisk] | None:
        if self.lgbm is None:
            return None
        try:
            scored = self.lgbm.score_batch(rows)
        except Exception as exc:  # any model failure falls back to rules; counted for the breaker
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.error("LightGBM scoring failed, rules used for this batch: %s", self.last_error)
            self._consecutive_failures += 1
            if self._consecutive_failures >= FAILURE_LIMIT:
                self._trip(now, f"{self._consecutive_failures} consecutive model failures")
            return None
        self._consecutive_failures = 0
        weights = {t: self.river_weight(t) for t in TARGETS}
        if not any(weights.values()):
            return scored
        blended = []
        for row, s in zip(rows, scored):
            try:
                p_river = self.online.predict_proba_one(row)  # type: ignore[union-attr]
            except Exception as exc:
                log.error("online model failed, LightGBM alone: %s", exc)
                return scored
            blended.append(replace(
                s,
                injury=(1 - weights["injury"]) * s.injury + weights["injury"] * p_river["injury"],
                accident=(1 - weights["accident"]) * s.accident + weights["accident"] * p_river["accident"],
                source="lightgbm+river",
            ))
        return blended

    def score_batch(self, rows: Sequence[FeatureRow], now: float | None = None) -> list[ScoredRisk]:
        """Score a batch; see the module docstring for fallback and conservative mode."""
        if not rows:
            return []
        t = self.clock() if now is None else now
        scored = self._model_scores(rows, t)
        if scored is None:
            return self.rules.score_batch(rows)
        if t < self._open_until:
            return [_floor(s, r) for s, r in zip(scored, self.rules.score_batch(rows))]
        return scored


def _floor(model: ScoredRisk, rules: ScoredRisk) -> ScoredRisk:
    """Conservative mode: never below the rules; reasons from both, rules first."""
    reasons, seen = [], set()
    for reason in [*rules.reasons, *model.reasons]:
        if reason.code not in seen:
            seen.add(reason.code)
            reasons.append(reason)
    return ScoredRisk(
        injury=max(model.injury, rules.injury), accident=max(model.accident, rules.accident),
        reasons=reasons[:MAX_REASONS], source=f"{model.source}|rules", conservative=True,
    )
