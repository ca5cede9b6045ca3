"""Blending LightGBM with the online learner, with a rule-based fallback and a circuit breaker.

The blend is a mixture ``p = (1 − w)·p_lightgbm + w·p_river`` per target. River's weight is
earned on the labels themselves: every labelled example is scored by both models before
River learns it (:meth:`BlendedScorer.learn`), and River keeps the discounted sum of
LightGBM's log loss minus its own over those examples, its *edge* ``E`` in nats
(:meth:`models.online.OnlineRiskModel.edge`, memory ≈ 2,000 examples). ``E`` is the log
Bayes factor for "River predicts these labels better"; with a prior share ``π``
(:data:`RIVER_PRIOR_SHARE`) the posterior share of River is ``sigmoid(E + logit π)``, and::

    w = MAX_RIVER_WEIGHT · sigmoid(E + logit(π))

So River gets almost nothing while it is no better than LightGBM (``E ≤ 0`` → ``w ≤ 0.8 %``),
half of the cap after it has out-predicted LightGBM by ``−logit π ≈ 4.6`` nats, and the cap
when the world has moved away from what LightGBM learned. The cap keeps a share for the
model that was validated on held-out data. River gets no weight before it has seen
:data:`MIN_RIVER_POSITIVES` positives of that target.

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
import math
import time
from collections import deque
from dataclasses import replace
from typing import Callable, Iterable, Sequence

from models.artifact import TARGETS
from models.online import OnlineRiskModel
from models.risk import FeatureRow, ScoredRisk, feature_matrix
from models.rules import RULES_VERSION, RuleScorer
from models.scoring import LightGBMScorer

log = logging.getLogger(__name__)

MAX_RIVER_WEIGHT = 0.8  # project choice: LightGBM, validated on held-out data, keeps at least 20 %
RIVER_PRIOR_SHARE = 0.01  # π: River must out-predict LightGBM by ≈ 4.6 nats to get half the cap
MIN_RIVER_POSITIVES = 20
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
        if self.online.reference_version != self.lgbm.version or not self.online.n_paired[target]:
            return 0.0  # no evidence yet against the LightGBM model now loaded
        z = self.online.edge(target) + math.log(RIVER_PRIOR_SHARE / (1.0 - RIVER_PRIOR_SHARE))
        return MAX_RIVER_WEIGHT / (1.0 + math.exp(-z)) if z > -700 else 0.0

    def learn(self, examples: Iterable[tuple[FeatureRow, bool, bool]]) -> int:
        """Teach the online model labelled examples, each paired with LightGBM's score for it.

        LightGBM scores the examples in one batch (the same features it scored when they
        were live, so the same probabilities unless the artifact changed since); without a
        LightGBM model River learns unpaired. Returns the number of examples learned.
        """
        if self.online is None:
            return 0
        batch = list(examples)
        if not batch:
            return 0
        reference: list[dict[str, float]] | None = None
        if self.lgbm is not None:
            try:
                p = self.lgbm.predict_matrix(feature_matrix([x for x, _, _ in batch]))
                reference = [{t: float(p[t][i]) for t in TARGETS} for i in range(len(batch))]
            except Exception as exc:  # learning must not stop on a scoring failure; River learns unpaired
                log.error("LightGBM failed to score labelled examples, River learns them unpaired: %s", exc)
        version = self.lgbm.version if reference is not None and self.lgbm is not None else None
        for i, (x, y_injury, y_accident) in enumerate(batch):
            self.online.learn_one(x, y_injury, y_accident,
                                  reference=reference[i] if reference is not None else None, reference_version=version)
        return len(batch)

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
