"""Risk models: LightGBM artifact and batched scoring, the River online learner with delayed
labels, rule-based fallback, blending with a circuit breaker, and reason codes.

Pure and synchronous: nothing here imports faust or touches Kafka.

The names below load on first use (PEP 562), so importing a light module of the package
(:mod:`models.estimators`, which the settings read) does not import LightGBM or River.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from models.artifact import ModelBundle, load_artifact
    from models.blend import BlendedScorer
    from models.errors import ModelError, ModelLoadError, ScoringError
    from models.labels import LabelBuffer
    from models.online import OnlineRiskModel
    from models.risk import ScoredRisk
    from models.rules import RuleScorer
    from models.scoring import LightGBMScorer

#: Public name -> the module that defines it.
_HOMES = {
    "BlendedScorer": "models.blend", "LabelBuffer": "models.labels", "LightGBMScorer": "models.scoring",
    "ModelBundle": "models.artifact", "ModelError": "models.errors", "ModelLoadError": "models.errors",
    "OnlineRiskModel": "models.online", "RuleScorer": "models.rules", "ScoredRisk": "models.risk",
    "ScoringError": "models.errors", "load_artifact": "models.artifact",
}

__all__ = [
    "BlendedScorer", "LabelBuffer", "LightGBMScorer", "ModelBundle", "ModelError", "ModelLoadError",
    "OnlineRiskModel", "RuleScorer", "ScoredRisk", "ScoringError", "load_artifact",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'models' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value
