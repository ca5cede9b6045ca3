"""Blending LightGBM with the online learner, with a rule-based fallback and a circuit breaker.

Per target, in two steps, both learned online from the incident labels (:mod:`models.online`):

1. LightGBM's probability is *recalibrated*: ``p' = (1 − v)·p + v·sigmoid(a·logit p + b)``, a
   monotone map that keeps LightGBM's ranking and follows a change in the level of risk;
   ``v = sigmoid(E_recal + logit 0.01)`` from the map's log-loss edge over the raw ``p``;
2. River is mixed in: ``p_blend = (1 − w)·p' + w·p_river``.

River's weight is earned on the labels themselves: every labelled example is scored by both
models before River learns it (:meth:`BlendedScorer.learn`), and River keeps the discounted
sum of the recalibrated LightGBM's log loss minus its own over those examples, its *edge* ``E``
in nats (:meth:`models.online.OnlineRiskModel.edge`, memory ≈ 2,000 examples). ``E`` is the log
Bayes factor for "River predicts these labels better"; with a prior share ``π``
(:data:`RIVER_PRIOR_SHARE`) the posterior share of River is ``sigmoid(E + logit π)``, and::

    w = MAX_RIVER_WEIGHT · sigmoid(E + logit(π))

``corrections`` (the worker's ``online_corrections`` setting) turns step 1, step 2 or both off:
``"off"`` serves LightGBM as calibrated offline (the online model still learns, so turning the
corrections on later starts from its evidence), ``"recalibrate"`` step 1 only.

So River gets almost nothing while it is no better than LightGBM (``E ≤ 0`` → ``w ≤ 0.8 %``),
half of the cap after it has out-predicted LightGBM by ``−logit π ≈ 4.6`` nats, and the cap
when the world has moved in a way a change of level does not explain. The cap keeps a share
for the model that was validated on held-out data. Neither the recalibration nor River gets
any weight before :data:`MIN_RIVER_POSITIVES` positives of that target were paired with the
LightGBM model now loaded.

Failure handling ("never silently safe", docs/design.md):
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
import zlib
from collections import deque
from dataclasses import replace
from typing import Callable, Iterable, Sequence, cast

from models.artifact import TARGETS
from models.online import OnlineRiskModel, posterior_share
from models.risk import FeatureRow, ScoredRisk, feature_matrix
from models.rules import RULES_VERSION, RuleScorer
from models.scoring import LightGBMScorer

log = logging.getLogger(__name__)

#: Online corrections a scorer may apply (worker setting ``online_corrections``): none, step 1 only, both steps.
CORRECTIONS = ("off", "recalibrate", "recalibrate+river")
MAX_RIVER_WEIGHT = 0.8  # project choice: LightGBM, validated on held-out data, keeps at least 20 %
RIVER_PRIOR_SHARE = 0.01  # π: River must out-predict LightGBM by ≈ 4.6 nats to get half the cap
MIN_RIVER_POSITIVES = 20
#: Snapshot keys holding the models' live probabilities (not features: every scorer ignores them).
SNAPSHOT_PREFIX = "_scored_"
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
        corrections: str = "recalibrate+river",
    ) -> None:
        if corrections not in CORRECTIONS:
            raise ValueError(f"unknown online corrections {corrections!r}; choose one of: {', '.join(CORRECTIONS)}")
        self.corrections = corrections
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
    def _has_evidence(self, target: str) -> bool:
        """Enough labels paired with the LightGBM model now loaded to judge the online corrections."""
        return (self.online is not None and self.lgbm is not None
                and self.online.n_positive[target] >= MIN_RIVER_POSITIVES
                and self.online.reference_version == self.lgbm.version and self.online.n_paired[target] > 0)

    def river_weight(self, target: str) -> float:
        """The online model's weight for ``target`` (formula in the module docstring); 0 unless corrections
        are ``recalibrate+river``."""
        if self.corrections != "recalibrate+river" or not self._has_evidence(target):
            return 0.0
        # union-attr: no evidence without an online model, so self.online is set past the check above
        return MAX_RIVER_WEIGHT * posterior_share(self.online.edge(target), RIVER_PRIOR_SHARE)  # type: ignore[union-attr]

    def recalibration_weight(self, target: str) -> float:
        """The share ``v`` of the recalibrated LightGBM probability (module docstring, step 1); 0 with corrections off."""
        if self.corrections == "off":
            return 0.0
        # union-attr: _has_evidence() is False without an online model
        return self.online.recalibration_weight(target) if self._has_evidence(target) else 0.0  # type: ignore[union-attr]

    def mix(self, target: str, p_lightgbm: float, p_river: float, v: float | None = None,
            w: float | None = None) -> tuple[float, float]:
        """``(p_blend, p')`` for one row: LightGBM recalibrated, then River mixed in (weights as now unless given)."""
        v = self.recalibration_weight(target) if v is None else v
        w = self.river_weight(target) if w is None else w
        p_cal = self.online.recalibrate(target, p_lightgbm, weight=v) if v and self.online is not None else p_lightgbm
        return (1.0 - w) * p_cal + w * p_river, p_cal

    def learn(self, examples: Iterable[tuple[FeatureRow, bool, bool]]) -> int:
        """Teach the online model labelled examples, each paired with LightGBM's score for it.

        A snapshot made by :meth:`snapshot_row` carries both models' live probabilities, and
        those are what is compared (each model judged on what it said before the label was
        known). For other examples, or when LightGBM changed since, LightGBM scores them now
        in one batch and River is judged on a score made now. Without a LightGBM model River
        learns unpaired. Returns the number of examples learned.
        """
        if self.online is None:
            return 0
        batch = list(examples)
        if not batch:
            return 0
        version = self.lgbm.version if self.lgbm is not None else None
        crc = float(zlib.crc32(version.encode())) if version is not None else None
        refs: list[dict[str, float] | None] = [None] * len(batch)
        redo = []
        for i, (x, _, _) in enumerate(batch):
            stored = {t: x.get(f"{SNAPSHOT_PREFIX}lightgbm_{t}") for t in TARGETS}
            if crc is not None and x.get(f"{SNAPSHOT_PREFIX}lightgbm_crc") == crc and None not in stored.values():
                refs[i] = stored  # type: ignore[assignment]  # None ruled out in the test above
            elif crc is not None:
                redo.append(i)
        if redo:
            try:
                # union-attr: redo is empty without LightGBM (crc is None)
                p = self.lgbm.predict_matrix(feature_matrix([batch[i][0] for i in redo]))  # type: ignore[union-attr]
                for k, i in enumerate(redo):
                    refs[i] = {t: float(p[t][k]) for t in TARGETS}
            except Exception as exc:  # learning must not stop on a scoring failure; River learns unpaired
                log.error("LightGBM failed to score labelled examples, River learns them unpaired: %s", exc)
                for i in redo:
                    refs[i] = None
        for (x, y_injury, y_accident), ref in zip(batch, refs):
            own = {t: x.get(f"{SNAPSHOT_PREFIX}river_{t}") for t in TARGETS}
            prediction = cast("dict[str, float]", own) if None not in own.values() else None  # None ruled out
            self.online.learn_one(x, y_injury, y_accident, reference=ref, reference_version=version if ref else None,
                                  prediction=prediction)
        return len(batch)

    def snapshot_row(self, features: FeatureRow, scored: ScoredRisk) -> dict[str, float | None]:
        """The features to keep for a delayed label, plus the models' live probabilities (see :meth:`learn`)."""
        row: dict[str, float | None] = dict(features)
        for key, value in scored.components.items():
            row[f"{SNAPSHOT_PREFIX}{key}"] = value
        if self.lgbm is not None and "lightgbm_injury" in scored.components:
            row[f"{SNAPSHOT_PREFIX}lightgbm_crc"] = float(zlib.crc32(self.lgbm.version.encode()))
        return row

    def model_versions(self) -> dict[str, str]:
        return {
            "lightgbm": self.lgbm.version if self.lgbm is not None else "none",
            "river": self.online.version if self.online is not None else "none",
            "rules": RULES_VERSION,
        }

    # ------------------------------------------------------------------ scoring
    def _model_scores(self, rows: Sequence[FeatureRow], now: float, explain: bool) -> list[ScoredRisk] | None:
        if self.lgbm is None:
            return None
        try:
            scored = self.lgbm.score_batch(rows, explain=explain)
        except Exception as exc:  # any model failure falls back to rules; counted for the breaker
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.error("LightGBM scoring failed, rules used for this batch: %s", self.last_error)
            self._consecutive_failures += 1
            if self._consecutive_failures >= FAILURE_LIMIT:
                self._trip(now, f"{self._consecutive_failures} consecutive model failures")
            return None
        self._consecutive_failures = 0
        p_river: list[dict[str, float]] | None = None
        if self.online is not None:
            try:
                p_river = [self.online.predict_proba_one(row) for row in rows]
            except Exception as exc:
                log.error("online model failed, LightGBM alone: %s", exc)
        if p_river is None:
            return [replace(s, components={f"lightgbm_{t}": getattr(s, t) for t in TARGETS}) for s in scored]
        w = {t: self.river_weight(t) for t in TARGETS}
        v = {t: self.recalibration_weight(t) for t in TARGETS}
        out = []
        for k, s in enumerate(scored):
            parts = {f"lightgbm_{t}": getattr(s, t) for t in TARGETS}
            parts.update({f"river_{t}": p_river[k][t] for t in TARGETS})
            if not any(w.values()) and not any(v.values()):
                out.append(replace(s, components=parts))
                continue
            mixed = {t: self.mix(t, getattr(s, t), p_river[k][t], v[t], w[t]) for t in TARGETS}
            parts.update({f"recalibrated_{t}": mixed[t][1] for t in TARGETS})
            out.append(replace(s, injury=mixed["injury"][0], accident=mixed["accident"][0],
                               source="lightgbm+river", components=parts))
        return out

    def score_batch(self, rows: Sequence[FeatureRow], now: float | None = None, explain: bool = True) -> list[ScoredRisk]:
        """Score a batch; see the module docstring for fallback and conservative mode.

        ``explain=False`` leaves out LightGBM's reasons (its TreeSHAP contributions, several times the cost
        of the prediction): for a caller that publishes no model reasons. The rules' reasons are kept.
        """
        if not rows:
            return []
        t = self.clock() if now is None else now
        scored = self._model_scores(rows, t, explain)
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
        components=model.components,
    )
