"""Fitting on a labelled feature frame: rider-and-time split, LightGBM, calibration, held-out metrics.

A *labelled frame* has ``rider_id``, ``ts`` (epoch s), the :data:`FEATURE_NAMES` columns,
``y_injury``/``y_accident`` (an incident within the horizon after ``ts``) and, when the
data are simulated, ``p_injury_true``/``p_accident_true`` (the true probability, whose
AUC on the test fold is the ceiling no model of these features can beat on average).

Folds (:func:`split_frame`), so that no number is measured on data the model saw:
train = train riders before the time cut (the row-quantile of ``ts``), minus one horizon so no label looks across it;
valid = other riders before the cut (early stopping and calibration);
test = held-out riders after the cut (metrics only).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import lightgbm as lgb
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from features.catalog import FEATURE_NAMES
from models.artifact import TARGETS, Calibrator, ModelBundle
from models.evaluate import binary_metrics
from models.rules import RuleScorer

#: LightGBM hyper-parameters: small trees and strong regularisation for rare events. Chosen
#: on the validation fold (not test) of the default simulated frame among 4 candidates
#: (depth 1, 2, 3, 6): depth 2 had the best validation AUC for accident, close for injury.
DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.02,
    "num_leaves": 4,
    "max_depth": 2,  # pairwise interactions (heat x strain, rain x speed) and no deeper: few incidents
    "min_data_in_leaf": 150,
    "feature_fraction": 0.6,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 10.0,
    "max_bin": 63,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 1,  # small data: threads cost more than they save, and a busy machine stalls OpenMP
    "verbose": -1,
}
MAX_ROUNDS = 1500
EARLY_STOPPING_ROUNDS = 50


def split_frame(
    frame: pd.DataFrame, seed: int, horizon_min: float, test_rider_frac: float = 0.35,
    valid_rider_frac: float = 0.2, test_time_frac: float = 0.4,
) -> dict[str, pd.DataFrame]:
    """Split by rider and by time into ``train``, ``valid`` and ``test`` (see module docstring)."""
    riders = np.array(sorted(frame["rider_id"].unique()))
    np.random.default_rng(seed).shuffle(riders)
    n_test = max(1, int(round(len(riders) * test_rider_frac)))
    n_valid = max(1, int(round(len(riders) * valid_rider_frac)))
    test_r = set(riders[:n_test])
    valid_r = set(riders[n_test : n_test + n_valid])
    cut = float(frame["ts"].quantile(1.0 - test_time_frac))  # by rows: activity is uneven over the day
    early = frame["ts"] < cut - horizon_min * 60.0
    in_test, in_valid = frame["rider_id"].isin(test_r), frame["rider_id"].isin(valid_r)
    return {
        "train": frame[early & ~in_test & ~in_valid],
        "valid": frame[early & in_valid],
        "test": frame[(frame["ts"] >= cut) & in_test],
    }


def split_by_rider(frame: pd.DataFrame, seed: int, valid_rider_frac: float = 0.25) -> dict[str, pd.DataFrame]:
    """``train`` and ``valid`` (early stopping, calibration) by rider over the whole span.

    Used when the test data are a separately simulated, later fleet (:mod:`riskstream.lab.holdout`),
    so no rows of the training frame need to be held back for testing.
    """
    riders = np.array(sorted(frame["rider_id"].unique()))
    np.random.default_rng(seed).shuffle(riders)
    valid_r = set(riders[: max(1, int(round(len(riders) * valid_rider_frac)))])
    in_valid = frame["rider_id"].isin(valid_r)
    return {"train": frame[~in_valid], "valid": frame[in_valid]}


def _tqdm_callback(bar: tqdm) -> Callable[[lgb.callback.CallbackEnv], None]:
    def callback(env: lgb.callback.CallbackEnv) -> None:
        bar.update(1)

    return callback


def fit_booster(
    train: pd.DataFrame, valid: pd.DataFrame, target: str, seed: int,
    params: dict[str, Any] | None = None, max_rounds: int = MAX_ROUNDS, progress: bool = True,
) -> lgb.Booster:
    """One binary LightGBM model for ``y_<target>``, early-stopped on ``valid`` log loss."""
    p = {**DEFAULT_PARAMS, **(params or {}), "seed": seed}
    y_col = f"y_{target}"
    dtrain = lgb.Dataset(train[list(FEATURE_NAMES)].to_numpy(float), label=train[y_col].to_numpy(),
                         feature_name=list(FEATURE_NAMES), free_raw_data=True)
    dvalid = lgb.Dataset(valid[list(FEATURE_NAMES)].to_numpy(float), label=valid[y_col].to_numpy(), reference=dtrain)
    with tqdm(total=max_rounds, desc=f"lightgbm {target}", unit="tree", disable=not progress, leave=False) as bar:
        booster = lgb.train(
            p, dtrain, num_boost_round=max_rounds, valid_sets=[dvalid], valid_names=["valid"],
            callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False), _tqdm_callback(bar)],
        )
    # keep only the trees up to the best iteration in the saved model text
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=booster.best_iteration or -1))


#: The highest tail bin of a calibration holds at least this share of the rows ...
TAIL_BIN_SHARE = 0.01
#: ... and at least this many positives (bins merged downwards until they do), so its rate is measured, not guessed.
TAIL_BIN_MIN_POSITIVES = 30
#: z of the one-sided upper bound (Wilson score interval) of the highest bin's observed rate.
TAIL_CAP_Z = 1.96


def wilson_upper(positives: int, n: int, z: float = TAIL_CAP_Z) -> float:
    """Upper end of the Wilson score interval of ``positives`` of ``n``.

    >>> round(wilson_upper(50, 100), 3), round(wilson_upper(0, 100), 3)
    (0.596, 0.037)
    """
    rate = positives / n
    centre = rate + z * z / (2 * n)
    half = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n))
    return min(1.0, (centre + half) / (1 + z * z / n))


def tail_cap(p: np.ndarray, y: np.ndarray, share: float = TAIL_BIN_SHARE,
             min_positives: int = TAIL_BIN_MIN_POSITIVES) -> float | None:
    """The most a calibrated probability may say: the highest tail bin's observed rate plus its interval.

    The bin is the highest ``share`` of ``p``, widened downwards until it holds ``min_positives``
    positives; the cap is the Wilson upper bound of its observed rate. ``None`` when the calibration
    already stays below it (nothing to cap) or the data have too few positives to measure a tail.
    A smooth calibration (beta) follows the bulk of the data and can run past what its
    highest predictions ever turned out to be (accident: 0.75 predicted, 0.51 observed in the top 1 %).

    >>> p = np.r_[np.full(900, 0.05), np.linspace(0.5, 0.95, 100)]
    >>> y = np.r_[np.zeros(855, int), np.ones(45, int), np.tile([0, 1], 50)]
    >>> round(tail_cap(p, y), 3)   # the top 59 hold 30 positives: observed 0.51, upper bound 0.63 < 0.95
    0.632
    >>> tail_cap(np.full(100, 0.2), np.r_[np.zeros(70, int), np.ones(30, int)]) is None
    True
    """
    p, y = np.asarray(p, float), np.asarray(y, int)
    if y.sum() < min_positives:
        return None
    order = np.argsort(-p, kind="stable")
    positives = np.cumsum(y[order])
    k = max(int(math.ceil(share * p.size)), int(np.searchsorted(positives, min_positives)) + 1)
    cap = wilson_upper(int(positives[k - 1]), k)
    return cap if cap < float(p.max()) else None


def fit_calibrator(raw: np.ndarray, y: np.ndarray) -> Calibrator:
    """Beta calibration (Kull et al. 2017) of raw → observed rate, constrained to be monotone.

    ``p = sigmoid(a·ln raw − b·ln(1 − raw) + c)``: three parameters fit by logistic regression on
    ``[ln raw, −ln(1 − raw)]``. Smooth in both tails, so there is no floor or cap below what the
    model's raw score supports (an isotonic map is flat beyond its outermost bins, which capped
    injury below the alert thresholds), and never exactly 0 or 1. Above, it is capped where the
    data say so (:func:`tail_cap`): at the highest tail bin's observed rate plus its interval. With a or b < 0 the map would
    not be monotone; then only the term with the positive slope is kept (b = 0 or a = 0).

    >>> rng = np.random.default_rng(0)
    >>> raw = rng.uniform(0.01, 0.5, 4000)
    >>> cal = fit_calibrator(raw, (rng.random(4000) < raw).astype(int))
    >>> cal.kind, bool(abs(cal.apply([0.3])[0] - 0.3) < 0.05)
    ('beta', True)
    """
    raw = np.clip(np.asarray(raw, dtype=float), 1e-12, 1 - 1e-12)
    y = np.asarray(y, dtype=int)
    if y.sum() == 0 or y.sum() == y.size:
        return Calibrator("identity", {})
    from sklearn.linear_model import LogisticRegression

    Z = np.column_stack([np.log(raw), -np.log1p(-raw)])
    lr = LogisticRegression(C=1e4, max_iter=1000).fit(Z, y)
    a, b = float(lr.coef_[0, 0]), float(lr.coef_[0, 1])
    if a < 0.0 or b < 0.0:  # not monotone: keep the one term with the positive slope (b = 0 or a = 0)
        keep = 0 if a >= b else 1
        lr = LogisticRegression(C=1e4, max_iter=1000).fit(Z[:, [keep]], y)
        slope = max(0.0, float(lr.coef_[0, 0]))
        a, b = (slope, 0.0) if keep == 0 else (0.0, slope)
    cal = Calibrator("beta", {"a": a, "b": b, "c": float(lr.intercept_[0]), "n": int(y.size), "n_pos": int(y.sum())})
    cap = tail_cap(cal.apply(raw), y)
    return cal if cap is None else Calibrator("beta", {**cal.params, "cap": cap})


#: Folds of the cross-fit: out-of-fold raw scores of every training row feed the calibration.
CROSS_FIT_FOLDS = 4
#: Rider ids of a training fleet simulated with another seed than the first start ``t<seed>-``
#: (:func:`riskstream.lab.train.fleet_specs`); the first fleet's ids start with the shard (``00-``).
FLEET_ID_PATTERN = r"^(t\d+)-"


def fleet_of(rider_ids: pd.Series | np.ndarray) -> np.ndarray:
    """The training fleet of each row from its rider id: ``"t<seed>"``, or ``""`` for the first fleet.

    >>> fleet_of(np.array(["00-rider-0001", "t8-01-rider-0002", "t9-00-rider-0001"])).tolist()
    ['', 't8', 't9']
    """
    return pd.Series(np.asarray(rider_ids, dtype=str)).str.extract(FLEET_ID_PATTERN)[0].fillna("").to_numpy(str)


def cross_fit_folds(frame: pd.DataFrame, folds: int = CROSS_FIT_FOLDS, seed: int = 0) -> np.ndarray:
    """Fold of each row for the cross-fit: one fold per training fleet when the frame holds two or more
    (a fleet is its own weather; riders of one fleet share the zones and hours whose coming weather is in
    the label, so rider folds inside a fleet let the other folds teach a model that weather), else
    ``folds`` rider folds.

    >>> f = pd.DataFrame({"rider_id": ["00-a", "01-b", "t8-00-a", "t8-01-c"]})
    >>> cross_fit_folds(f).tolist()
    [0, 0, 1, 1]
    """
    from models.ceiling import rider_folds

    fleets = fleet_of(frame["rider_id"])
    names = sorted(set(fleets.tolist()))
    if len(names) >= 2:
        return np.searchsorted(np.array(names), fleets).astype(int)
    return rider_folds(frame["rider_id"], folds, seed)


def cross_validate(frame: pd.DataFrame, candidates: list[dict[str, Any]], seed: int,
                   max_rounds: int = MAX_ROUNDS, progress: bool = False) -> dict[str, list[dict[str, Any]]]:
    """Per target, each candidate's cross-validated ROC-AUC on ``frame`` alone (:func:`cross_fit_folds`).

    Each fold is scored by a booster fit on the other folds, early-stopped on a quarter of *their* riders
    (never on the scored fold), with the candidate's parameters over :data:`DEFAULT_PARAMS`; ``auc`` is the
    mean of the folds' ROC-AUCs, ``auc_by_fold`` each. Candidates are picked by this, never by a test fleet.
    """
    from sklearn.metrics import roc_auc_score

    from models.ceiling import rider_folds

    fold = cross_fit_folds(frame, CROSS_FIT_FOLDS, seed)
    X = frame[list(FEATURE_NAMES)].to_numpy(float)
    out: dict[str, list[dict[str, Any]]] = {t: [] for t in TARGETS}
    for cand in candidates:
        for target in TARGETS:
            y = frame[f"y_{target}"].to_numpy(int)
            aucs, trees = [], []
            for k in np.unique(fold):
                rest = frame[fold != k]
                inner = rider_folds(rest["rider_id"], 4, seed + int(k)) == 0
                b = fit_booster(rest[~inner], rest[inner], target, seed + int(k), cand, max_rounds, progress)
                trees.append(b.num_trees())
                aucs.append(float(roc_auc_score(y[fold == k], b.predict(X[fold == k], num_threads=1))))
            out[target].append({"params": cand, "auc": float(np.mean(aucs)), "auc_by_fold": aucs, "trees": trees})
    return out


def choose_params(cv: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per target, the candidate of :func:`cross_validate` with the highest mean fold ROC-AUC (the first on a tie).

    >>> choose_params({"injury": [{"params": {"max_depth": 1}, "auc": 0.6}, {"params": {"max_depth": 2}, "auc": 0.61}]})
    {'injury': {'max_depth': 2}}
    """
    return {t: max(rows, key=lambda r: r["auc"])["params"] for t, rows in cv.items()}


def fit_full(frame: pd.DataFrame, seed: int, horizon_min: int, version: str = "dev",
             params: dict[str, Any] | None = None, max_rounds: int = MAX_ROUNDS, folds: int = CROSS_FIT_FOLDS,
             progress: bool = True, target_params: dict[str, dict[str, Any]] | None = None) -> ModelBundle:
    """Fit on the *whole* frame: cross-fit for rounds and calibration, then one model on all rows.

    For each fold (:func:`cross_fit_folds`: one per training fleet if there are several, else
    ``folds`` rider folds) a booster is fit on the other folds, early-stopped on this one, and scores
    this one (out of fold). The calibrator is fit on every row's out-of-fold raw score, and the served
    booster on all rows with the folds' mean best round count × folds/(folds−1) (it sees that much
    more data). Every row is used for fitting and every row for calibration. ``target_params``: per
    target, parameters over ``params`` (e.g. chosen by :func:`cross_validate`).
    """
    fold = cross_fit_folds(frame, folds, seed)
    folds = int(fold.max()) + 1
    X = frame[list(FEATURE_NAMES)].to_numpy(float)
    boosters, calibrators, rounds, oof_auc = {}, {}, {}, {}
    for target in TARGETS:
        own = {**(params or {}), **((target_params or {}).get(target) or {})}
        p = {**DEFAULT_PARAMS, **own, "seed": seed}
        y = frame[f"y_{target}"].to_numpy(int)
        oof = np.full(len(frame), np.nan)
        best = []
        for k in range(folds):
            b = fit_booster(frame[fold != k], frame[fold == k], target, seed + k, own, max_rounds, progress)
            best.append(b.num_trees())
            oof[fold == k] = b.predict(X[fold == k], num_threads=1)
        n = max(1, int(round(np.mean(best) * folds / (folds - 1))))
        dall = lgb.Dataset(X, label=y, feature_name=list(FEATURE_NAMES), free_raw_data=True)
        boosters[target] = lgb.train(p, dall, num_boost_round=n)
        rounds[target] = n
        calibrators[target] = fit_calibrator(oof, y)
        oof_auc[target] = binary_metrics(calibrators[target].apply(oof), y)
    metadata = {
        "version": version,
        "feature_names": list(FEATURE_NAMES),
        "horizon_min": int(horizon_min),
        "hyperparameters": {**DEFAULT_PARAMS, **(params or {}), "seed": seed, "max_rounds": max_rounds,
                            "early_stopping_rounds": EARLY_STOPPING_ROUNDS, "trees": rounds,
                            "cross_fit_folds": folds,
                            **({"by_target": target_params} if target_params else {})},
        "folds": {"train": {"rows": int(len(frame)), "riders": int(frame["rider_id"].nunique()),
                            **{f"pos_{t}": int(frame[f"y_{t}"].sum()) for t in TARGETS},
                            "note": f"every row fits the served model; calibration on {folds}-fold out-of-fold scores"
                                    + (" (one fold per training fleet)" if len(set(fleet_of(frame["rider_id"]))) > 1
                                       else "")}},
        "out_of_fold_metrics": oof_auc,
        "calibration": {t: calibrators[t].to_json() for t in TARGETS},
    }
    return ModelBundle(version=version, path=None, boosters=boosters, calibrators=calibrators, metadata=metadata)


def fit_bundle(
    folds: dict[str, pd.DataFrame], seed: int, horizon_min: int, version: str = "dev",
    params: dict[str, Any] | None = None, max_rounds: int = MAX_ROUNDS, progress: bool = True,
) -> ModelBundle:
    """Train both targets on ``train``, stop and calibrate on ``valid``; nothing touches ``test``."""
    boosters, calibrators, best = {}, {}, {}
    X_valid = folds["valid"][list(FEATURE_NAMES)].to_numpy(float)
    for target in TARGETS:
        booster = fit_booster(folds["train"], folds["valid"], target, seed, params, max_rounds, progress)
        boosters[target] = booster
        best[target] = booster.num_trees()
        calibrators[target] = fit_calibrator(np.asarray(booster.predict(X_valid)), folds["valid"][f"y_{target}"].to_numpy())
    metadata = {
        "version": version,
        "feature_names": list(FEATURE_NAMES),
        "horizon_min": int(horizon_min),
        "hyperparameters": {**DEFAULT_PARAMS, **(params or {}), "seed": seed, "max_rounds": max_rounds,
                            "early_stopping_rounds": EARLY_STOPPING_ROUNDS, "trees": best},
        "folds": {name: {"rows": int(len(f)), "riders": int(f["rider_id"].nunique()),
                         **{f"pos_{t}": int(f[f"y_{t}"].sum()) for t in TARGETS}} for name, f in folds.items()},
        "calibration": {t: calibrators[t].to_json() for t in TARGETS},
    }
    return ModelBundle(version=version, path=None, boosters=boosters, calibrators=calibrators, metadata=metadata)


def evaluate_on_test(bundle: ModelBundle, test: pd.DataFrame) -> dict[str, dict[str, dict[str, float]]]:
    """Per target: metrics of the calibrated model, the rule scorer, and the true-hazard ceiling."""
    from models.scoring import LightGBMScorer

    X = test[list(FEATURE_NAMES)].to_numpy(float)
    probs = LightGBMScorer(bundle).predict_matrix(X)
    rows = test[list(FEATURE_NAMES)].to_dict("records")
    rules = RuleScorer().score_batch(rows)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for target in TARGETS:
        y = test[f"y_{target}"].to_numpy()
        out[target] = {
            "lightgbm": binary_metrics(probs[target], y),
            "rules": binary_metrics([getattr(r, target) for r in rules], y),
        }
        true_col = f"p_{target}_true"
        if true_col in test and not test[true_col].isna().all():
            out[target]["true_hazard"] = binary_metrics(test[true_col].to_numpy(float), y)
    return out


def headline(metrics: dict[str, dict[str, dict[str, float]]]) -> dict[str, dict[str, float | None]]:
    """The metadata card's ``metrics``: the model's test metrics plus the ceiling AUCs (NaN as None)."""
    out: dict[str, dict[str, float | None]] = {}
    for target, by in metrics.items():
        m = dict(by["lightgbm"])
        if "true_hazard" in by:
            m["ceiling_roc_auc"] = by["true_hazard"]["roc_auc"]
            m["ceiling_pr_auc"] = by["true_hazard"]["pr_auc"]
        m["rules_roc_auc"] = by["rules"]["roc_auc"]
        out[target] = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in m.items()}
    return out
