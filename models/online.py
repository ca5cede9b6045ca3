"""The online learner: one River logistic regression per target, learning from delayed labels.

Each target's pipeline is ``StatImputer(mean) | StandardScaler | LogisticRegression``:
missing or non-finite features become ``None`` and are imputed with their running mean,
and a ``n_missing`` count is added so that silence can *raise* the risk if the data say so.
Freshness ages span seconds to days, so they enter as ``log1p(age)``.

Metrics are prequential: each labelled example is first scored, the metric updated, and
only then learned (test-then-train), so they measure performance on unseen data.

>>> model = OnlineRiskModel()
>>> p = model.predict_proba_one({"heat_index_c": 41.0})
>>> sorted(p), all(0.0 < v < 1.0 for v in p.values())
(['accident', 'injury'], True)
>>> model.learn_one({"heat_index_c": 41.0}, y_injury=True, y_accident=False)
>>> model.n_learned, OnlineRiskModel.from_bytes(model.to_bytes()).n_learned
(1, 1)
"""

from __future__ import annotations

import math
import pickle
from typing import Any, Mapping

from river import compose, linear_model, metrics, optim, preprocessing, stats

from features.catalog import FEATURE_NAMES
from models.artifact import TARGETS
from models.errors import ModelLoadError
from models.labels import LabelBuffer  # noqa: F401  (part of this module's public API)

__all__ = ["OnlineRiskModel", "LabelBuffer"]

#: Features whose range spans orders of magnitude; they enter as log1p(value).
LOG_FEATURES = frozenset({"wearable_age_s", "trip_age_s", "weather_age_s", "visibility_m"})
#: Prior probabilities per horizon used as the initial intercepts (so early predictions are sane).
PRIOR_P = {"injury": 0.003, "accident": 0.003}
#: Window of the prequential ROC-AUC (exact over the window, so it follows drift).
AUC_WINDOW = 20_000


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def _pipeline(prior: float, learning_rate: float, l2: float) -> compose.Pipeline:
    imputer = preprocessing.StatImputer(*[(name, stats.Mean()) for name in FEATURE_NAMES])
    return compose.Pipeline(
        imputer,
        preprocessing.StandardScaler(),
        linear_model.LogisticRegression(
            optimizer=optim.SGD(learning_rate), l2=l2, intercept_init=_logit(prior), intercept_lr=learning_rate
        ),
    )


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
    """Per-target River pipelines with prequential ROC-AUC and log loss."""

    def __init__(self, learning_rate: float = 0.01, l2: float = 1e-4) -> None:
        self.models = {t: _pipeline(PRIOR_P[t], learning_rate, l2) for t in TARGETS}
        self._metrics: dict[str, dict[str, Any]] = {
            t: {"roc_auc": metrics.RollingROCAUC(window_size=AUC_WINDOW), "log_loss": metrics.LogLoss()} for t in TARGETS
        }
        self.n_learned = 0
        self.n_positive = {t: 0 for t in TARGETS}

    @property
    def version(self) -> str:
        """Names the learner and how much it has learned, e.g. ``river-logreg:n=1200``."""
        return f"river-logreg:n={self.n_learned}"

    def predict_proba_one(self, x: Mapping[str, Any]) -> dict[str, float]:
        """Probability of each target within the horizon; ``x`` is not modified."""
        xp = prepare(x)
        return {t: float(self.models[t].predict_proba_one(xp).get(True, 0.0)) for t in TARGETS}

    def learn_one(self, x: Mapping[str, Any], y_injury: bool, y_accident: bool) -> None:
        """Score ``x``, update the prequential metrics, then learn from it."""
        xp = prepare(x)
        labels = {"injury": bool(y_injury), "accident": bool(y_accident)}
        for t in TARGETS:
            model = self.models[t]
            p = float(model.predict_proba_one(xp).get(True, 0.0))
            self._metrics[t]["roc_auc"].update(labels[t], p)
            self._metrics[t]["log_loss"].update(labels[t], p)
            model.learn_one(xp, labels[t])
            self.n_positive[t] += labels[t]
        self.n_learned += 1

    def auc(self, target: str) -> float | None:
        """Prequential ROC-AUC of ``target``; ``None`` until both classes have been seen."""
        if self.n_positive[target] == 0 or self.n_positive[target] == self.n_learned:
            return None
        return float(self._metrics[target]["roc_auc"].get())

    def metrics(self) -> dict[str, dict[str, float | None]]:
        """Prequential ``{target: {"roc_auc", "log_loss", "n_positive"}}`` for logs and Prometheus."""
        return {
            t: {
                "roc_auc": self.auc(t),
                "log_loss": float(self._metrics[t]["log_loss"].get()) if self.n_learned else None,
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
