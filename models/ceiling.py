"""A learnable ceiling: the best a model of these features could do, estimated on the held-out fleet.

The clairvoyant oracle (``p_<target>_future``: the hazard the rider actually met in the next
hour) knows the future, so its AUC is a loose upper bound. What a model of the *features*
can reach at best is the AUC of ``E[y | features]``. On simulated data that expectation
can be estimated with far less noise than from the 0/1 incident labels: the simulator's
``p_<target>_future`` is the probability of an incident given everything that happened, so
``E[p_future | features] = E[y | features]``, and a regression on it sees a smooth target
instead of rare coin flips.

:func:`learnable_ceiling` cross-fits that regression by rider *and* by zone-and-time cell
(by rider alone, the other fold's riders share the zone and hour whose coming weather is
inside the target, which made the ceiling optimistic): a LightGBM model with the cross-entropy objective (labels in [0, 1]) is fit to
``p_future`` on the other folds' riders (early stopping on a quarter of them) and scores
the held-out fold's riders. Its out-of-fold scores are then graded on the real incident
labels like any scorer. If the shipped model is close to it, the gap to the clairvoyant
oracle is the unpredictable future, not model weakness. It is an estimate, not a bound:
it is fit on half the fleet with a flexible model, so it can fall short of the true
``E[y | features]`` (finite data) and its intervals do not include the refit's variance.

>>> import numpy as np
>>> from riskstream.testing.frames import synthetic_frame
>>> f = synthetic_frame(2000, seed=3, riders=40)
>>> f = f.assign(p_accident_future=f["p_accident_true"])
>>> p = learnable_ceiling(f, "accident", seed=0)
>>> p.shape == (2000,) and bool(((p > 0) & (p < 1)).all())
True
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from features.catalog import FEATURE_NAMES

#: LightGBM parameters of the ceiling regression: more capacity than the shipped model
#: (the target is a smooth probability, not a rare label), still regularised.
CEILING_PARAMS: dict[str, Any] = {
    "objective": "cross_entropy",
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 50,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "max_bin": 63,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 1,
    "verbose": -1,
}
CEILING_MAX_ROUNDS = 1000
CEILING_EARLY_STOPPING = 50


def rider_folds(riders: pd.Series | np.ndarray, folds: int = 2, seed: int = 0) -> np.ndarray:
    """Fold number of each row, whole riders per fold (a shuffled round-robin of the sorted rider ids).

    >>> rider_folds(np.array(["a", "b", "a", "c", "d"]), 2, seed=0).tolist()
    [1, 0, 1, 0, 1]
    """
    ids = np.asarray(riders).astype(str)
    unique = np.array(sorted(set(ids)))
    np.random.default_rng(seed).shuffle(unique)
    fold_of = {r: k % folds for k, r in enumerate(unique)}
    return np.array([fold_of[r] for r in ids], dtype=int)


#: Zone-and-time cells of the zone-and-time cross-fit span this many hours.
CELL_HOURS = 2.0


def zone_time_folds(frame: pd.DataFrame, seed: int = 0, cell_hours: float = CELL_HOURS) -> np.ndarray:
    """Fold (0 or 1) of each row's (zone, ``cell_hours`` time block) cell, cells shuffled round-robin.

    Riders in one zone and hour meet the same coming weather, which is inside the ceiling's
    target; folds by rider alone let the other fold's riders teach it that weather.

    >>> f = pd.DataFrame({"zone_id": ["a", "a", "b", "b"], "ts": [0.0, 7200.0, 0.0, 100.0]})
    >>> zone_time_folds(f).tolist()
    [1, 0, 0, 0]
    """
    zone = frame["zone_id"].astype(str).fillna("none").to_numpy() if "zone_id" in frame else np.full(len(frame), "none")
    block = np.floor(frame["ts"].to_numpy(float) / (cell_hours * 3600.0)).astype(np.int64)
    cells = np.char.add(np.char.add(zone.astype(str), "|"), block.astype(str))
    return rider_folds(cells, 2, seed)


def learnable_ceiling(frame: pd.DataFrame, target: str, folds: int = 2, seed: int = 0,
                      column: str | None = None, by: str = "zone_time") -> np.ndarray:
    """Out-of-fold estimates of ``E[y_target | features]``, cross-fit to ``p_<target>_future``.

    ``by="rider"``: ``folds`` rider folds. ``by="zone_time"`` (default): each row is scored by a
    model fit on rows of *other* riders (rider fold) in *other* zone-and-time cells
    (:func:`zone_time_folds`), so neither the rider nor the coming weather of its zone and hour
    was seen in fitting; each of the 2 × 2 models is fit on about a quarter of the fleet.
    """
    import lightgbm as lgb

    if by not in ("rider", "zone_time"):
        raise ValueError(f"by must be 'rider' or 'zone_time', got {by!r}")
    column = column or f"p_{target}_future"
    X = frame[list(FEATURE_NAMES)].to_numpy(float)
    z = np.clip(frame[column].to_numpy(float), 0.0, 1.0)
    rider = rider_folds(frame["rider_id"], folds if by == "rider" else 2, seed)
    cell = zone_time_folds(frame, seed) if by == "zone_time" else np.zeros(len(frame), dtype=int)
    inner = rider_folds(frame["rider_id"], 4, seed + 1)  # a quarter of the training riders stop the boosting
    out = np.full(len(frame), np.nan)
    parts = [(k, 0) for k in range(folds)] if by == "rider" else [(r, c) for r in (0, 1) for c in (0, 1)]
    for r, c in parts:
        other = (rider != r) & ((cell != c) if by == "zone_time" else True)
        score = (rider == r) & ((cell == c) if by == "zone_time" else True)
        fit, stop = other & (inner != 0), other & (inner == 0)
        if not score.any():
            continue
        params = {**CEILING_PARAMS, "seed": seed + 2 * r + c}
        train = lgb.Dataset(X[fit], z[fit], free_raw_data=True)
        valid = lgb.Dataset(X[stop], z[stop], reference=train)
        booster = lgb.train(params, train, CEILING_MAX_ROUNDS, valid_sets=[valid],
                            callbacks=[lgb.early_stopping(CEILING_EARLY_STOPPING, verbose=False)])
        out[score] = booster.predict(X[score], num_iteration=booster.best_iteration)
    return np.clip(out, 1e-6, 1.0 - 1e-6)
