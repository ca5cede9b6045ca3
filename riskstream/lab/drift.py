"""Drift experiment: the world changes mid-stream; how fast does the LightGBM + River blend recover?

A fleet of its own (neither training nor held-out riders) is simulated in rain
(``SimConfig.weather_override``: 3 mm/h in every zone, so every rider on the road is
exposed) with ``SimConfig.drift_after_s``/``drift_rain_crash_rr``: from ``drift_after_h``
on, a crash in rain is ``rain_crash_rr`` times likelier than the documented model says. The snapshots
are then replayed in event time exactly as :mod:`streams.processor` handles them:

- each snapshot is scored by LightGBM (fixed) and by the blend (:meth:`models.blend.BlendedScorer.mix`:
  LightGBM recalibrated online, then River mixed in), with the weights it has at that moment;
- the snapshot goes into a :class:`~models.labels.LabelBuffer`; incident *reports* (1-20 min
  after the incident) mark the rider's recent snapshots positive, and River learns every
  snapshot, positive or negative, once it is older than the horizon plus the grace for late
  reports (30 min), as the worker does.

Metrics are prequential: every prediction was made before its label was known. They are
computed per time window of ``window_h`` hours over the snapshots taken in that window.
It runs at a chosen hazard scale (default 1, as served), with LightGBM's probabilities
mapped to that scale, so the blend mixes probabilities of the same world.
"""

from __future__ import annotations

import heapq
import math
import pickle
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss, roc_auc_score
from tqdm.auto import tqdm

from features.catalog import FEATURE_NAMES
from models.artifact import TARGETS, Calibrator, ModelBundle
from models.blend import BlendedScorer
from models.labels import DEFAULT_GRACE_S, LabelBuffer
from models.online import DEFAULT_ESTIMATOR, OnlineRiskModel
from models.risk import ScoredRisk
from models.scoring import LightGBMScorer
from riskstream.lab.holdout import EVAL_SEED_OFFSET
from riskstream.lab.train import ShardSpec, map_shards, simulate_with_incidents, spec_key

#: Rain in every zone all day (SimConfig.weather_override), so the drift touches every rider on the road.
RAIN_EVERYWHERE_MM_H = 3.0
#: The drift scenario's seed offset (a fleet of its own, neither training nor held-out riders).
DRIFT_SEED_OFFSET = 2 * EVAL_SEED_OFFSET


def native_bundle(bundle: ModelBundle, scale: float | None = None) -> ModelBundle:
    """The bundle with calibrators for hazard ``scale`` (default: its training scale, i.e. no correction).

    The served calibrators map the training scale k to 1 (``hazard_scale_correction`` = k);
    for scale s the correction becomes k / s, so s = 1 is the served bundle itself.
    """
    cals = {}
    for t, c in bundle.calibrators.items():
        params = {k: v for k, v in c.params.items() if k != "hazard_scale_correction"}
        k = float(c.params.get("hazard_scale_correction", 1.0))
        if scale is not None and k / scale != 1.0:
            params["hazard_scale_correction"] = k / scale
        cals[t] = Calibrator(c.kind, params)
    return replace(bundle, calibrators=cals)


def drift_frame(seed: int, riders: int, hours: float, drift_after_h: float, rain_crash_rr: float,
                hazard_scale: float, start_day: int, rain_mm_h: float | None = RAIN_EVERYWHERE_MM_H,
                shards: int = 2, workers: int = 2, progress: bool = True, cache_dir: Path | None = None,
                seed_offset: int = DRIFT_SEED_OFFSET, prefix: str = "drift",
                scenario: str = "default", rain_every: int = 1) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Simulate the drift fleet in ``shards`` processes; returns (snapshots sorted by time, incidents).

    ``rain_every`` = k puts the rain in zones 0, k, 2k, ... only (2: every other zone).
    ``seed_offset``/``prefix`` make it another fleet of its own (the online-estimator selection
    stream uses this with no drift: ``rain_crash_rr=1``, ``rain_mm_h=None``).
    """
    sizes = [riders // shards + (i < riders % shards) for i in range(shards)]
    weather = (("precipitation_mm_h", rain_mm_h),) if rain_mm_h is not None else None
    drift = (drift_after_h * 3600.0, rain_crash_rr) if rain_crash_rr != 1.0 else None
    specs = [ShardSpec(i, n, hours, seed + seed_offset, scenario, hazard_scale=hazard_scale, start_day=start_day,
                       prefix=prefix, drift=drift, weather=weather, weather_every=rain_every)
             for i, n in enumerate(sizes) if n]
    key = spec_key(specs)
    path = Path(cache_dir) / f"{prefix}-{key}.pkl" if cache_dir is not None else None
    if path is not None and path.exists():
        with open(path, "rb") as fh:
            return pickle.load(fh)  # our own cache file, written below
    parts = map_shards(simulate_with_incidents, specs, workers, f"simulate {prefix}", progress)
    frame = pd.concat([p[0] for p in parts], ignore_index=True).sort_values(["ts", "rider_id"], kind="stable")
    result = frame.reset_index(drop=True), [inc for p in parts for inc in p[1]]
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return result


def labelled_examples(frame: pd.DataFrame, incidents: list[dict[str, Any]], horizon_min: int,
                      progress: bool = True, rows: list[dict[str, Any]] | None = None,
                      grace_s: float = DEFAULT_GRACE_S, snapshot_every_s: float = 300.0,
                      ) -> Iterator[tuple[int, list[tuple[dict[str, Any], bool, bool]]]]:
    """Replay snapshots and incident reports in event time as the worker does.

    Yields ``(i, examples)`` before snapshot ``i`` is scored: the labelled examples released by
    then, in the order the worker would learn them. Reports mark a rider's recent snapshots
    positive; every snapshot is released once older than horizon + grace, by the rider's next
    snapshot or by the sweep every ``snapshot_every_s`` of event time (riders gone silent).
    ``rows[i]`` (default: the frame's features) is put in the label buffer *after* the
    consumer's turn, so the consumer may add what the models said live
    (:meth:`models.blend.BlendedScorer.snapshot_row`). Examples still waiting at the end are not produced.
    """
    labels = LabelBuffer(horizon_min=horizon_min, snapshot_every_s=snapshot_every_s, grace_s=grace_s)
    rows = rows if rows is not None else frame[list(FEATURE_NAMES)].to_dict("records")
    reports = sorted((float(i["reported_epoch"]), float(i["epoch"]), str(i["rider_id"]), str(i["kind"])) for i in incidents)
    heapq.heapify(reports)
    ts, rider = frame["ts"].to_numpy(float), frame["rider_id"].astype(str).to_numpy()
    pending: list[tuple[dict[str, Any], bool, bool]] = []
    for i in tqdm(range(len(frame)), desc="prequential replay", unit="row", disable=not progress, mininterval=1.0):
        while reports and reports[0][0] <= ts[i]:
            _, epoch, rid, kind = heapq.heappop(reports)
            labels.on_incident(rid, epoch, kind)
        pending.extend(ex for examples in labels.sweep_due(ts[i]).values() for ex in examples)
        yield i, pending
        pending = list(labels.add_snapshot(rider[i], ts[i], rows[i]))


def prequential_replay(bundle: ModelBundle, frame: pd.DataFrame, incidents: list[dict[str, Any]],
                       progress: bool = True, scale: float | None = None,
                       estimator: str = DEFAULT_ESTIMATOR) -> pd.DataFrame:
    """Replay snapshots and incident reports in time order; per snapshot the predictions made then.

    Returns ``frame``'s ``rider_id``, ``ts``, labels and oracles plus ``p_<target>_lightgbm``,
    ``p_<target>_recalibrated`` (step 1 of the blend), ``p_<target>_blend``, ``p_<target>_river``,
    ``w_<target>`` (River's weight) and ``v_<target>`` (the recalibration's share).
    """
    lgbm = LightGBMScorer(native_bundle(bundle, scale), explain_min_risk=math.inf)
    online = OnlineRiskModel(estimator, {t: bundle.population_rate(t) for t in TARGETS})
    blend = BlendedScorer(lgbm=lgbm, online=online, clock=lambda: 0.0)
    X = frame[list(FEATURE_NAMES)].to_numpy(float)
    p_lgbm = lgbm.predict_matrix(X)
    rows = frame[list(FEATURE_NAMES)].to_dict("records")
    out = {f"{c}_{t}": np.zeros(len(frame)) for c in ("p_river", "p_blend", "p_recalibrated", "w", "v") for t in TARGETS}
    for i, examples in labelled_examples(frame, incidents, bundle.horizon_min, progress, rows):
        blend.learn(examples)
        p_river = online.predict_proba_one(rows[i])
        for t in TARGETS:
            w, v = blend.river_weight(t), blend.recalibration_weight(t)
            out[f"w_{t}"][i], out[f"v_{t}"][i] = w, v
            out[f"p_river_{t}"][i] = p_river[t]
            out[f"p_blend_{t}"][i], out[f"p_recalibrated_{t}"][i] = blend.mix(t, float(p_lgbm[t][i]), p_river[t], v, w)
        live = {**{f"lightgbm_{t}": float(p_lgbm[t][i]) for t in TARGETS}, **{f"river_{t}": p_river[t] for t in TARGETS}}
        rows[i] = blend.snapshot_row(rows[i], ScoredRisk(injury=0.0, accident=0.0, components=live))
    keep = ["rider_id", "ts", *[c for c in frame if c.startswith(("y_", "p_"))]]
    res = frame[keep].copy()
    for t in TARGETS:
        res[f"p_{t}_lightgbm"] = p_lgbm[t]
        res[f"p_{t}_blend"] = out[f"p_blend_{t}"]
        res[f"p_{t}_river"] = out[f"p_river_{t}"]
        res[f"p_{t}_recalibrated"] = out[f"p_recalibrated_{t}"]
        res[f"w_{t}"] = out[f"w_{t}"]
        res[f"v_{t}"] = out[f"v_{t}"]
    return res


def windowed_metrics(res: pd.DataFrame, target: str, window_h: float, scorers: tuple[str, ...]) -> pd.DataFrame:
    """Per window of ``window_h`` hours: rows, positives, ROC-AUC and log loss of each scorer, mean River weight.

    >>> res = pd.DataFrame({"ts": [0.0, 10.0, 3700.0, 3710.0], "y_accident": [0, 1, 1, 0],
    ...                     "p_accident_a": [0.1, 0.9, 0.2, 0.1], "w_accident": [0.0, 0.0, 0.5, 0.5]})
    >>> windowed_metrics(res, "accident", 1.0, ("a",))[["hour", "n_pos", "roc_auc_a"]].values.tolist()
    [[0.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    """
    t0 = float(res["ts"].min())
    win = np.floor((res["ts"].to_numpy() - t0) / (window_h * 3600.0))
    y_all = res[f"y_{target}"].to_numpy(int)
    rows = []
    for k in np.unique(win):
        m = win == k
        y = y_all[m]
        row: dict[str, float] = {"hour": float(k * window_h), "n": float(m.sum()), "n_pos": float(y.sum()),
                                 "river_weight": float(res.loc[m, f"w_{target}"].mean())}
        if f"v_{target}" in res:
            row["recal_weight"] = float(res.loc[m, f"v_{target}"].mean())
        for s in scorers:
            row[f"log_loss_{s}"], row[f"roc_auc_{s}"] = log_loss_and_auc(y, res.loc[m, f"p_{target}_{s}"].to_numpy(float))
        rows.append(row)
    return pd.DataFrame(rows)


def log_loss_and_auc(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """Log loss and ROC-AUC of probabilities clipped to [1e-6, 1 − 1e-6]; the AUC is NaN with one class only.

    >>> log_loss_and_auc(np.array([0, 1]), np.array([0.0, 1.0]))[1], math.isnan(log_loss_and_auc(np.array([0, 0]), np.array([0.1, 0.2]))[1])
    (1.0, True)
    """
    q = np.clip(p, 1e-6, 1 - 1e-6)
    both = 0 < y.sum() < y.size
    return float(log_loss(y, q, labels=[0, 1])), float(roc_auc_score(y, q)) if both else math.nan
