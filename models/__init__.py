"""Risk models: LightGBM artifact and batched scoring, the River online learner with delayed
labels, rule-based fallback, blending with a circuit breaker, and reason codes.

Pure and synchronous: nothing here imports faust or touches Kafka.
"""

from __future__ import annotations

from models.artifact import ModelBundle, load_artifact
from models.blend import BlendedScorer
from models.errors import ModelError, ModelLoadError, ScoringError
from models.labels import LabelBuffer
from models.online import OnlineRiskModel
from models.risk import ScoredRisk
from models.rules import RuleScorer
from models.scoring import LightGBMScorer

__all__ = [
    "BlendedScorer", "LabelBuffer", "LightGBMScorer", "ModelBundle", "ModelError", "ModelLoadError",
    "OnlineRiskModel", "RuleScorer", "ScoredRisk", "ScoringError", "load_artifact",
]
