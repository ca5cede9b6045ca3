"""What every scorer returns, and the one conversion of feature rows to a model matrix.

>>> X = feature_matrix([{"heat_index_c": 41.0}, {"heat_index_c": None, "darkness": 1}])
>>> X.shape == (2, len(FEATURE_NAMES)), X[0, 0], bool(np.isnan(X[1, 0]))
(True, np.float64(41.0), True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from features.catalog import FEATURE_NAMES
from models.errors import ScoringError
from riskstream.contracts.records import Reason, any_event_probability

FeatureRow = Mapping[str, "float | int | bool | None"]


@dataclass(frozen=True)
class ScoredRisk:
    """Calibrated probabilities of an injury and of an accident within the horizon, with reasons.

    ``source`` says which scorer produced it (``"lightgbm"``, ``"lightgbm+river"``,
    ``"rules"``, ``"lightgbm|rules"``); ``conservative`` is true when the rule-based,
    never-lower-than-rules mode produced it. ``components`` holds the models' own
    probabilities behind a blend (``lightgbm_<target>``, ``river_<target>``), so the online
    learner can later be judged on what it said *before* the label was known.
    """

    injury: float
    accident: float
    reasons: list[Reason] = field(default_factory=list)
    source: str = "rules"
    conservative: bool = False
    components: Mapping[str, float] = field(default_factory=dict, compare=False)

    @property
    def any_event(self) -> float:
        """Probability of at least one of the two events, treating them as independent."""
        return any_event_probability(self.injury, self.accident)


def feature_matrix(rows: Sequence[FeatureRow], names: Sequence[str] = FEATURE_NAMES) -> np.ndarray:
    """Rows of named features → float matrix in ``names`` order; absent, ``None`` and non-finite → NaN."""
    nan = float("nan")
    try:
        X = np.array([[row.get(n, nan) for n in names] for row in rows], dtype=float)
    except (TypeError, ValueError) as exc:
        raise ScoringError(f"feature rows must hold numbers or None ({exc})") from exc
    if X.size == 0:
        return np.empty((len(rows), len(names)))
    X[~np.isfinite(X)] = nan
    return X
