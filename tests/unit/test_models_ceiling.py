"""The learnable ceiling: rider cross-fitting, no leakage across folds, and it finds a learnable truth."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from models.ceiling import learnable_ceiling, rider_folds
from riskstream.testing.frames import synthetic_frame


def test_rider_folds_keep_each_rider_in_one_fold_and_are_deterministic():
    riders = np.array([f"r{i % 37}" for i in range(500)])
    a, b = rider_folds(riders, 2, seed=4), rider_folds(riders, 2, seed=4)
    assert (a == b).all() and set(a) == {0, 1}
    for r in set(riders):
        assert len(set(a[riders == r])) == 1
    sizes = [len(set(riders[a == k])) for k in (0, 1)]
    assert abs(sizes[0] - sizes[1]) <= 1  # round-robin: balanced in riders


def test_learnable_ceiling_recovers_a_learnable_truth_out_of_fold():
    f = synthetic_frame(6000, seed=11, riders=120)
    f = f.assign(p_accident_future=f["p_accident_true"])
    p = learnable_ceiling(f, "accident", seed=0)
    y = f["y_accident"].to_numpy()
    truth = roc_auc_score(y, f["p_accident_true"])
    assert roc_auc_score(y, p) > truth - 0.05  # close to the AUC of the true probability
    assert np.corrcoef(p, f["p_accident_true"])[0, 1] > 0.8


def test_learnable_ceiling_cannot_memorise_riders_across_folds():
    f = synthetic_frame(4000, seed=12, riders=80)
    rider_index = f["rider_id"].str[1:].astype(int).to_numpy()
    per_rider = np.random.default_rng(0).uniform(0.01, 0.5, 80)
    # a feature that names the rider, and a target that is a rider's own random level:
    # fit on the same riders it would be memorised; out of fold there is nothing to learn
    f = f.assign(online_hours_7d=rider_index.astype(float), p_injury_future=per_rider[rider_index])
    p = learnable_ceiling(f, "injury", seed=0)
    assert abs(np.corrcoef(p, f["p_injury_future"])[0, 1]) < 0.3


def test_learnable_ceiling_uses_the_named_column():
    f = synthetic_frame(1500, seed=13, riders=30)
    with pytest.raises(KeyError):
        learnable_ceiling(f, "injury")  # no p_injury_future in a plain synthetic frame
    p = learnable_ceiling(f, "injury", column="p_injury_true")
    assert p.shape == (1500,) and np.isfinite(p).all()
