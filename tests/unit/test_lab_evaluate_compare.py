"""``riskstream evaluate --fleet-seed S --compare OTHER``: two artifacts' LightGBM on the same rows, paired.

Issue 15's finding on lgbm-20261203-s7b against s7c (ROC-AUC 0.753 against 0.704 on test fleet 1007) is
read from this block of the evaluation JSON, not from a scratch script.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from features.catalog import FEATURE_NAMES
from models.artifact import ARTIFACTS_DIR, load_artifact
from models.scoring import LightGBMScorer
from riskstream.contracts.errors import RiskstreamError
from riskstream.lab import scorecard as sc
from riskstream.lab.evaluate_cli import _scorecard_compare
from riskstream.lab.holdout import training_span
from riskstream.testing.frames import synthetic_frame

S8, S7C = ARTIFACTS_DIR / "lgbm-20261203-s8", ARTIFACTS_DIR / "lgbm-20261203-s7c"
pytestmark = pytest.mark.skipif(not (S8.exists() and S7C.exists()), reason="the two artifacts are not shipped")


def _fleet_after(*bundles):
    frame = synthetic_frame(3000, seed=6, riders=40)
    end = max(training_span(b.metadata)[1] for b in bundles)
    frame["ts"] = frame["ts"] - frame["ts"].min() + end + 86400.0
    frame["rider_id"] = "evals1-00-" + frame["rider_id"].astype(str)
    for t in ("injury", "accident"):  # the oracle's column, as a simulated fleet has it
        frame[f"p_{t}_future"] = frame[f"p_{t}_true"]
    return frame


def test_compare_reports_the_paired_lightgbm_difference_on_the_same_rows() -> None:
    mine, other = load_artifact(S8), load_artifact(S7C)
    frame = _fleet_after(mine, other)
    scores = sc.score_all(mine, frame, 1.0, seed=7, ceiling=False)
    block, lines = _scorecard_compare(mine, other, frame, [], scores, 1.0, 50, 7)
    X = frame[list(FEATURE_NAMES)].to_numpy(float)
    a, b = (LightGBMScorer(x).predict_matrix(X, served=False) for x in (mine, other))
    assert block["artifact"] == "lgbm-20261203-s7c"
    for t in ("injury", "accident"):
        y = frame[f"y_{t}"].to_numpy(int)
        want = roc_auc_score(y, a[t]) - roc_auc_score(y, b[t])
        assert block[t]["auc"] == pytest.approx(want)
        lo, hi = block[t]["auc_ci"]
        assert lo <= hi and np.isfinite([lo, hi]).all()
    assert lines[1] == "### LightGBM against `lgbm-20261203-s7c` on the same rows" and len(lines) == 6


def test_compare_refuses_rows_the_other_artifact_was_trained_on() -> None:
    mine, other = load_artifact(S8), load_artifact(S7C)
    frame = _fleet_after(mine, other)
    frame["ts"] = training_span(other.metadata)[0] + np.arange(len(frame)) % 3600.0  # inside s7c's training span
    with pytest.raises(RiskstreamError, match="refusing to compare on lgbm-20261203-s7c's training data"):
        _scorecard_compare(mine, other, frame, [], sc.score_all(mine, frame, 1.0, seed=7, ceiling=False), 1.0, 10, 7)
