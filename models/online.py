"""The online learner: one River pipeline per target, learning from delayed labels.

Each target's pipeline is ``StatImputer(mean) | StandardScaler | clip ±3σ | <estimator>``: missing or
non-finite features become ``None`` and are imputed with their running mean, and a
``n_missing`` count is added so that silence can *raise* the risk if the data say so.
Freshness ages span seconds to days, so they enter as ``log1p(age)``. The estimator is
one of :data:`ESTIMATORS`; the default (:data:`DEFAULT_ESTIMATOR`) was chosen by measured
prequential log loss on a fleet of its own (:mod:`riskstream.lab.online_select`,
``riskstream evaluate --online-select``, docs/reports/model-evaluation.md).

Metrics are prequential: each labelled example is first scored, the metric updated, and
only then learned (test-then-train), so they measure performance on unseen data.

Paired with a reference model (the LightGBM probability for the same snapshot, given
to :meth:`OnlineRiskModel.learn_one`), it also keeps a discounted sum of the reference's
log loss minus its own over the same examples: the *edge*, in nats, with an effective
memory of :data:`EDGE_MEMORY` examples. It is the log Bayes factor of "River predicts
these labels better" over the recent past, and :mod:`models.blend` weighs River by it.
The edge restarts at 0 when the reference model's version changes.

It also keeps an online *recalibration* of the reference, per target (:class:`LogitRecalibrator`):
a logistic regression on ``z = logit(p_reference)`` alone that starts as the identity (slope 1, intercept 0) and learns
``sigmoid(a·z + b)`` from the same examples (:meth:`OnlineRiskModel.recalibrate`). A monotone map
keeps the reference's ranking and follows a change of level (the world got more dangerous for
everyone) within a few hundred labels. Its own edge over the raw reference earns it its share
(:meth:`OnlineRiskModel.recalibration_weight`), and River's edge is measured against the reference
as the blend uses it, recalibrated: River earns weight only for what a level shift does not explain.

>>> model = OnlineRiskModel()
>>> p = model.predict_proba_one({"heat_index_c": 41.0})
>>> sorted(p), all(0.0 < v < 1.0 for v in p.values())
(['accident', 'injury'], True)
>>> model.learn_one({"heat_index_c": 41.0}, y_injury=True, y_accident=False,
...                 reference={"injury": 0.5, "accident": 0.01}, reference_version="lgbm-a")
>>> model.n_learned, OnlineRiskModel.from_bytes(model.to_bytes()).n_learned
(1, 1)
>>> round(model.edge("injury"), 3)   # log loss of 0.5 for a positive (0.693) minus River's (≈ 5.8)
-5.116
"""

from __future__ import annotations

import math
import pickle
from typing import Any, Callable, Mapping

from river import base, compose, forest, linear_model, metrics, naive_bayes, optim, preprocessing, stats, tree

from features.catalog import FEATURE_NAMES
from models.artifact import TARGETS
from models.errors import ModelLoadError
from models.estimators import DEFAULT_ESTIMATOR
from models.labels import LabelBuffer  # noqa: F401  (part of this module's public API)

__all__ = ["OnlineRiskModel", "LabelBuffer", "ESTIMATORS", "DEFAULT_ESTIMATOR"]

#: Features whose range spans orders of magnitude; they enter as log1p(value).
LOG_FEATURES = frozenset({"wearable_age_s", "trip_age_s", "weather_age_s", "visibility_m"})
#: Prior probabilities per horizon used as the initial intercepts when no better prior is given
#: (the worker gives the artifact's population rates, :meth:`models.artifact.ModelBundle.population_rate`).
PRIOR_P = {"injury": 0.003, "accident": 0.003}
#: Window of the prequential ROC-AUC (exact over the window, so it follows drift).
AUC_WINDOW = 20_000
#: Effective memory of the paired log-loss edge, in labelled examples (discount 1 − 1/EDGE_MEMORY each).
EDGE_MEMORY = 2_000
_EDGE_DISCOUNT = 1.0 - 1.0 / EDGE_MEMORY
#: Recalibration of the reference: SGD rates of the slope on logit(p) and of the intercept.
RECAL_SLOPE_LR = 0.002
RECAL_INTERCEPT_LR = 0.01
#: π of the recalibration's share, as models.blend.RIVER_PRIOR_SHARE for River: ≈ 4.6 nats of evidence for half.
RECAL_PRIOR_SHARE = 0.01
#: Standardised features are clipped here: a reading far outside what the running mean and
#: variance have seen (early on, a variance near 0) would otherwise push a logit to 0 or 1.
#: 3 was better than 5 and than no clipping on the selection fleet (riskstream.lab.online_select).
CLIP_SIGMA = 3.0
_EPS = 1e-6


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def _clipped_logit(p: float) -> float:
    q = min(max(float(p), _EPS), 1.0 - _EPS)
    return _logit(q)


def posterior_share(edge_nats: float, prior_share: float) -> float:
    """``sigmoid(E + logit π)``: the share a model earns from a log-loss edge ``E`` over a prior share ``π``."""
    z = edge_nats + _logit(prior_share)
    return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0


def _logreg(optimizer: Callable[[], optim.base.Optimizer], l2: float = 1e-4) -> Callable[[float], base.Classifier]:
    def make(prior: float) -> base.Classifier:
        return linear_model.LogisticRegression(optimizer=optimizer(), l2=l2, intercept_init=_logit(prior), intercept_lr=0.01)
    return make


#: Candidate estimators by name, each made from the target's prior probability; the names, without River,
#: are :data:`models.estimators.ESTIMATOR_NAMES` (a unit test keeps the two equal).
ESTIMATORS: dict[str, Callable[[float], base.Classifier]] = {
    "logreg-sgd": _logreg(lambda: optim.SGD(0.01)),
    "logreg-adagrad": _logreg(lambda: optim.AdaGrad(0.05)),
    "hoeffding-adaptive-tree": lambda prior: tree.HoeffdingAdaptiveTreeClassifier(
        grace_period=200, leaf_prediction="nba", seed=0),
    "amf": lambda prior: forest.AMFClassifier(n_estimators=10, use_aggregation=True, dirichlet=0.5, seed=0),
    "arf": lambda prior: forest.ARFClassifier(n_models=5, seed=0),
    "gaussian-nb": lambda prior: naive_bayes.GaussianNB(),
}


class LogitRecalibrator:
    """``p' = sigmoid(a·logit p + b)`` learned by SGD on log loss; starts at the identity (a = 1, b = 0).

    Two numbers, so plain Python: it pickles with the online model and costs ~1 µs a call.

    >>> r = LogitRecalibrator()
    >>> round(r.predict(0.2), 12)
    0.2
    >>> for _ in range(3000):
    ...     r.learn(0.05, True); r.learn(0.05, False); r.learn(0.05, False)  # really 1 in 3, not 1 in 20
    >>> round(r.predict(0.05), 2), r.predict(0.1) > r.predict(0.05)  # the level moved, the order kept
    (0.33, True)
    """

    def __init__(self, slope_lr: float = RECAL_SLOPE_LR, intercept_lr: float = RECAL_INTERCEPT_LR) -> None:
        self.a, self.b = 1.0, 0.0
        self.slope_lr, self.intercept_lr = slope_lr, intercept_lr

    def predict(self, p: float) -> float:
        u = self.a * _clipped_logit(p) + self.b
        return 1.0 / (1.0 + math.exp(-u)) if u > -700 else 0.0

    def learn(self, p: float, y: bool) -> None:
        z = _clipped_logit(p)
        g = self.predict(p) - float(y)  # d(log loss)/du
        self.a -= self.slope_lr * g * z
        self.b -= self.intercept_lr * g


def clip_scaled(x: dict[str, float]) -> dict[str, float]:
    """Winsorise standardised features at ±:data:`CLIP_SIGMA` (a module function, so pipelines pickle)."""
    return {k: CLIP_SIGMA if v > CLIP_SIGMA else -CLIP_SIGMA if v < -CLIP_SIGMA else v for k, v in x.items()}


def _pipeline(estimator: str, prior: float) -> compose.Pipeline:
    imputer = preprocessing.StatImputer(*[(name, stats.Mean()) for name in FEATURE_NAMES])
    return compose.Pipeline(imputer, preprocessing.StandardScaler(), compose.FuncTransformer(clip_scaled),
                            ESTIMATORS[estimator](prior))


def _log_loss(y: bool, p: float) -> float:
    q = min(max(p, _EPS), 1.0 - _EPS)
    return -math.log(q if y else 1.0 - q)


def prepare(x: Mapping[str, Any]) -> dict[str, float | None]:
    """The River input for a feature row: every catalog feature, ``None`` when missing."""
    out: dict[str, float | None] = {}
    missing = 0
    for name in FEATURE_NAMES:
        v = x.get(name)
        try:
            f = float(v) if v is not None else math.nan
        except (TypeError, ValueError):
            f = math.nan
        if not math.isfinite(f):
            out[name] = None
            missing += 1
        else:
            out[name] = math.log1p(max(f, 0.0)) if name in LOG_FEATURES else f
    out["n_missing"] = float(missing)
    return out


class OnlineRiskModel:
    """Per-target River pipelines with prequential ROC-AUC, log loss and the paired edge."""

    def __init__(self, estimator: str = DEFAULT_ESTIMATOR, priors: Mapping[str, float | None] | None = None) -> None:
        if estimator not in ESTIMATORS:
            raise ValueError(f"unknown online estimator {estimator!r}; choose one of {', '.join(ESTIMATORS)}")
        self.estimator = estimator
        given = {t: (priors or {}).get(t) for t in TARGETS}
        self.priors = {t: float(v) if v is not None and 0.0 < v < 1.0 else PRIOR_P[t] for t, v in given.items()}
        self.models = {t: _pipeline(estimator, self.priors[t]) for t in TARGETS}
        self._metrics: dict[str, dict[str, Any]] = {
            t: {"roc_auc": metrics.RollingROCAUC(window_size=AUC_WINDOW), "log_loss": metrics.LogLoss(),
                "reference_log_loss": metrics.LogLoss()} for t in TARGETS
        }
        self.n_learned = 0
        self.n_positive = {t: 0 for t in TARGETS}
        self._edge = {t: 0.0 for t in TARGETS}
        self.n_paired = {t: 0 for t in TARGETS}
        self.reference_version: str | None = None
        self._reset_recalibration()

    def _reset_recalibration(self) -> None:
        self.recalibrators = {t: LogitRecalibrator() for t in TARGETS}
        self._recal_edge = {t: 0.0 for t in TARGETS}

    def recalibration_weight(self, target: str) -> float:
        """Share of the recalibrated reference, ``sigmoid(E_recal + logit π)`` (≈ 1 % while it has not helped)."""
        return posterior_share(self._recal_edge[target], RECAL_PRIOR_SHARE)

    def recalibrate(self, target: str, p_reference: float, weight: float | None = None) -> float:
        """The reference probability as the blend uses it: ``(1 − v)·p + v·sigmoid(a·logit p + b)``.

        ``v`` is ``weight`` if given (the blend gates it), else :meth:`recalibration_weight`.
        """
        v = self.recalibration_weight(target) if weight is None else weight
        if v == 0.0:
            return float(p_reference)
        cal = self.recalibrators[target].predict(p_reference)
        return (1.0 - v) * float(p_reference) + v * cal

    @property
    def version(self) -> str:
        """Names the learner and how much it has learned, e.g. ``river-logreg-sgd:n=1200``."""
        return f"river-{self.estimator}:n={self.n_learned}"

    def predict_proba_one(self, x: Mapping[str, Any]) -> dict[str, float]:
        """Probability of each target within the horizon; ``x`` is not modified."""
        xp = prepare(x)
        return {t: float(self.models[t].predict_proba_one(xp).get(True, 0.0)) for t in TARGETS}

    def learn_one(self, x: Mapping[str, Any], y_injury: bool, y_accident: bool,
                  reference: Mapping[str, float] | None = None, reference_version: str | None = None,
                  prediction: Mapping[str, float] | None = None) -> None:
        """Score ``x``, update the prequential metrics (and the edge over ``reference``), then learn from it.

        ``prediction`` is what this model said for ``x`` when it was live (the worker keeps it
        in the snapshot); given, the metrics and the edge use it instead of a score made now.
        That matters: an incident labels up to 12 snapshots of one rider at once, nearly alike,
        and scoring each just after learning the previous one would grade the learner on
        answers it has just been told. ``reference`` is another model's probability per target
        for the same example (the LightGBM score the blend used); ``reference_version`` names
        that model, and a new name restarts the edge, since evidence about the old model says
        nothing about the new.
        """
        xp = prepare(x)
        labels = {"injury": bool(y_injury), "accident": bool(y_accident)}
        if reference is not None and reference_version != self.reference_version:
            self._edge = {t: 0.0 for t in TARGETS}
            self.n_paired = {t: 0 for t in TARGETS}
            self._metrics = {t: {**m, "reference_log_loss": metrics.LogLoss()} for t, m in self._metrics.items()}
            self.reference_version = reference_version
            self._reset_recalibration()  # a correction of the old model says nothing about the new
        for t in TARGETS:
            model = self.models[t]
            given = prediction.get(t) if prediction is not None else None
            p = float(given) if given is not None and math.isfinite(given) else float(
                model.predict_proba_one(xp).get(True, 0.0))
            self._metrics[t]["roc_auc"].update(labels[t], p)
            self._metrics[t]["log_loss"].update(labels[t], p)
            q = reference.get(t) if reference is not None else None
            if q is not None and math.isfinite(q):
                # judged before learning this example: the pure map (its edge) and the blend's use of it
                pure = self.recalibrators[t].predict(q)
                v = self.recalibration_weight(t)
                used = (1.0 - v) * float(q) + v * pure  # as recalibrate(t, q), without predicting twice
                y = labels[t]
                self._recal_edge[t] = self._recal_edge[t] * _EDGE_DISCOUNT + _log_loss(y, q) - _log_loss(y, pure)
                self._metrics[t]["reference_log_loss"].update(y, used)
                self._edge[t] = self._edge[t] * _EDGE_DISCOUNT + _log_loss(y, used) - _log_loss(y, p)
                self.n_paired[t] += 1
                self.recalibrators[t].learn(q, y)
            model.learn_one(xp, labels[t])
            self.n_positive[t] += labels[t]
        self.n_learned += 1

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Load a state pickled by an older version: no edge yet, the estimator it was built with."""
        state.setdefault("estimator", "logreg-sgd")
        state.setdefault("_edge", {t: 0.0 for t in TARGETS})
        state.setdefault("n_paired", {t: 0 for t in TARGETS})
        state.setdefault("reference_version", None)
        for m in state.get("_metrics", {}).values():
            m.setdefault("reference_log_loss", metrics.LogLoss())
        self.__dict__.update(state)
        if "recalibrators" not in state:
            self._reset_recalibration()

    def edge(self, target: str) -> float:
        """Discounted Σ (recalibrated reference's log loss − own) over paired examples, in nats (> 0: River better)."""
        return self._edge[target]

    def auc(self, target: str) -> float | None:
        """Prequential ROC-AUC of ``target``; ``None`` until both classes have been seen."""
        if self.n_positive[target] == 0 or self.n_positive[target] == self.n_learned:
            return None
        return float(self._metrics[target]["roc_auc"].get())

    def metrics(self) -> dict[str, dict[str, float | None]]:
        """Prequential ``{target: {"roc_auc", "log_loss", "reference_log_loss", "edge_nats", "recalibration_edge_nats",
        "recalibration_weight", "n_positive"}}`` (``reference_log_loss``: the recalibrated reference's)."""
        return {
            t: {
                "roc_auc": self.auc(t),
                "log_loss": float(self._metrics[t]["log_loss"].get()) if self.n_learned else None,
                "reference_log_loss": float(self._metrics[t]["reference_log_loss"].get()) if self.n_paired[t] else None,
                "edge_nats": self._edge[t],
                "recalibration_edge_nats": self._recal_edge[t],
                "recalibration_weight": self.recalibration_weight(t),
                "n_positive": float(self.n_positive[t]),
            }
            for t in TARGETS
        }

    def to_bytes(self) -> bytes:
        """Pickle of the whole learner (pipelines, metrics, counts), for a restart."""
        return pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def from_bytes(cls, data: bytes) -> OnlineRiskModel:
        """Inverse of :meth:`to_bytes`; a corrupt blob raises :class:`ModelLoadError`.

        Only load blobs this service wrote itself: unpickling runs code from the blob.
        """
        try:
            obj = pickle.loads(data)
        except Exception as exc:
            raise ModelLoadError(f"online model state is unreadable ({type(exc).__name__}: {exc}); start a fresh one") from exc
        if not isinstance(obj, cls):
            raise ModelLoadError(f"online model state holds a {type(obj).__name__}, not an OnlineRiskModel")
        return obj
