"""Choosing the online model's estimator by measured prequential performance.

Every candidate in :data:`models.online.ESTIMATORS` replays the same simulated fleet as the
worker would see it (:func:`riskstream.lab.drift.labelled_examples`): snapshots every 5 min, each
scored when it is taken, then labelled by an incident report or aged out as a negative
after the horizon, and learned only then. Each candidate is graded on the predictions it
made at snapshot time, against what happened within the horizon, so every number is on
data the learner had not seen. (Grading a score made at *learn* time would flatter
memorising learners: one incident labels up to 12 near-identical snapshots of a rider at
once, and each would be scored just after learning the previous one.)

The choice is the candidate with the lowest log loss summed over both targets on the second
half of the stream, in steady state: log loss is a proper scoring rule, and the blend mixes
probabilities, so a learner that ranks well but is badly calibrated would hurt; a worker
runs for weeks, so the cold start (reported too, in the whole-stream numbers) weighs less
than what the learner settles at. Among candidates within :data:`TIE_TOLERANCE` of the
best, the cheapest per example wins. Only candidates whose state stays bounded are eligible:
the worker keeps the model for weeks and saves it to disk, so a learner whose pickled state
grows by more than :data:`MAX_STATE_GROWTH_B` bytes per learned example over the second half
(a forest that keeps splitting) is reported but not chosen. Every candidate starts from the same priors (the
artifact's population rates, as in the worker). The fleet is one of its own (seed + 3000, ids ``select…``),
neither training, held-out nor drift riders, so the choice is not tuned on the data the
reports are measured on.

>>> import numpy as np
>>> from riskstream.testing.frames import synthetic_frame
>>> f = synthetic_frame(300, seed=1, riders=10)
>>> f = f.assign(ts=1_780_000_000.0 + np.arange(300) * 60.0)
>>> incidents = [{"rider_id": r, "epoch": t + 30.0, "reported_epoch": t + 600.0, "kind": "crash"}
...              for r, t in f.loc[f["y_accident"] == 1, ["rider_id", "ts"]].itertuples(index=False)]
>>> res = compare(f, incidents, 60, ["logreg-sgd", "gaussian-nb"], progress=False)
>>> sorted(res), res["logreg-sgd"]["snapshots"]
(['gaussian-nb', 'logreg-sgd'], 300.0)
>>> choose(res) in res
True
"""

from __future__ import annotations

import math
import time
from typing import Any, Iterable

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss, roc_auc_score
from tqdm.auto import tqdm

from features.catalog import FEATURE_NAMES
from models.artifact import TARGETS
from models.online import ESTIMATORS, OnlineRiskModel

#: Candidates whose summed log loss is within this fraction of the best count as tied; the cheapest wins.
TIE_TOLERANCE = 0.005
#: Eligible candidates grow their pickled state by at most this many bytes per learned example in the
#: second half (64 MB per million examples; a worker of 10,000 riders learns ~2.9 million a day).
MAX_STATE_GROWTH_B = 64.0
#: The selection fleet's seed offset (training 0, held-out 1000, drift 2000).
SELECT_SEED_OFFSET = 3000


def compare(frame: pd.DataFrame, incidents: list[dict[str, Any]], horizon_min: int,
            estimators: Iterable[str] | None = None, progress: bool = True,
            priors: dict[str, float | None] | None = None) -> dict[str, dict[str, float]]:
    """Prequential metrics of each estimator on ``frame``'s snapshots: log loss and ROC-AUC per target, µs per call.

    ``log_loss`` is the sum over targets over all snapshots; ``log_loss_late`` (and
    ``log_loss_late_<target>``) covers the second half of the snapshots only (steady state).
    """
    from riskstream.lab.drift import labelled_examples

    names = list(estimators) if estimators is not None else list(ESTIMATORS)
    ys = {t: frame[f"y_{t}"].to_numpy(int) for t in TARGETS}
    half = len(frame) // 2
    out: dict[str, dict[str, float]] = {}
    for name in names:
        model = OnlineRiskModel(name, priors)
        preds = {t: np.empty(len(frame)) for t in TARGETS}
        learn_s = predict_s = 0.0
        learned = learned_half = size_half = 0
        rows = frame[list(FEATURE_NAMES)].to_dict("records")
        for i, examples in tqdm(labelled_examples(frame, incidents, horizon_min, False, rows), total=len(frame),
                                desc=f"prequential {name}", unit="row", disable=not progress, mininterval=1.0):
            t0 = time.perf_counter()
            for x, y_inj, y_acc in examples:
                model.learn_one(x, y_inj, y_acc)
            t1 = time.perf_counter()
            p = model.predict_proba_one(rows[i])
            predict_s += time.perf_counter() - t1
            learn_s += t1 - t0
            learned += len(examples)
            for t in TARGETS:
                preds[t][i] = p[t]
            if i == half:
                size_half, learned_half = len(model.to_bytes()), learned
        size_end = len(model.to_bytes())
        row: dict[str, float] = {"snapshots": float(len(frame)), "learned": float(learned),
                                 "learn_us": 1e6 * learn_s / max(learned, 1),
                                 "predict_us": 1e6 * predict_s / max(len(frame), 1),
                                 "state_kib": size_end / 1024.0,
                                 "state_growth_b": (size_end - size_half) / max(learned - learned_half, 1)}
        for t in TARGETS:
            y, q = ys[t], np.clip(preds[t], 1e-6, 1 - 1e-6)
            row[f"log_loss_{t}"] = float(log_loss(y, q, labels=[0, 1]))
            row[f"log_loss_late_{t}"] = float(log_loss(y[half:], q[half:], labels=[0, 1]))
            row[f"roc_auc_{t}"] = float(roc_auc_score(y, q)) if 0 < y.sum() < y.size else math.nan
            row[f"positives_{t}"] = float(y.sum())
        row["log_loss"] = sum(row[f"log_loss_{t}"] for t in TARGETS)
        row["log_loss_late"] = sum(row[f"log_loss_late_{t}"] for t in TARGETS)
        out[name] = row
    return out


def choose(results: dict[str, dict[str, float]], tolerance: float = TIE_TOLERANCE,
           max_growth_b: float = MAX_STATE_GROWTH_B) -> str:
    """Among bounded-state candidates, the lowest steady-state log loss (``log_loss_late``); within ``tolerance``, the cheapest.

    >>> choose({"a": {"log_loss_late": 0.500, "learn_us": 90.0, "predict_us": 10.0},
    ...         "b": {"log_loss_late": 0.501, "learn_us": 20.0, "predict_us": 5.0},
    ...         "c": {"log_loss_late": 0.400, "learn_us": 900.0, "predict_us": 90.0}})
    'c'
    >>> choose({"a": {"log_loss_late": 0.500, "learn_us": 90.0, "predict_us": 10.0},
    ...         "b": {"log_loss_late": 0.501, "learn_us": 20.0, "predict_us": 5.0}})
    'b'
    >>> choose({"a": {"log_loss_late": 0.500, "learn_us": 90.0, "predict_us": 10.0, "state_growth_b": 8.0},
    ...         "c": {"log_loss_late": 0.400, "learn_us": 900.0, "predict_us": 90.0, "state_growth_b": 7000.0}})
    'a'
    """
    eligible = {n: r for n, r in results.items() if r.get("state_growth_b", 0.0) <= max_growth_b}
    if not eligible:
        raise ValueError(f"no candidate keeps its state within {max_growth_b:g} bytes per learned example")
    best = min(r["log_loss_late"] for r in eligible.values())
    tied = [n for n, r in eligible.items() if r["log_loss_late"] <= best * (1.0 + tolerance)]
    return min(tied, key=lambda n: (eligible[n]["learn_us"] + eligible[n]["predict_us"], n))


def report_md(results: dict[str, dict[str, float]], chosen: str, title: str, how: str) -> list[str]:
    """A Markdown table of :func:`compare`'s results, best first, with the choice marked."""
    lines = [f"### {title}", "", how, "",
             "| estimator | 2nd half: log loss (sum) | injury | accident | whole stream: log loss (sum) | injury "
             "| accident | AUC injury | AUC accident | µs per learn | µs per predict | state KiB at end "
             "| state growth, B per example (2nd half) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in sorted(results.items(), key=lambda kv: kv[1]["log_loss_late"]):
        mark = " **(chosen)**" if name == chosen else ""
        if r.get("state_growth_b", 0.0) > MAX_STATE_GROWTH_B:
            mark = f" (state grows > {MAX_STATE_GROWTH_B:g} B per example: not eligible)"
        lines.append(
            f"| `{name}`{mark} | {r['log_loss_late']:.4f} | {r['log_loss_late_injury']:.4f} | "
            f"{r['log_loss_late_accident']:.4f} | {r['log_loss']:.4f} | {r['log_loss_injury']:.4f} | "
            f"{r['log_loss_accident']:.4f} | {r['roc_auc_injury']:.3f} | {r['roc_auc_accident']:.3f} | "
            f"{r['learn_us']:.0f} | {r['predict_us']:.0f} | {r.get('state_kib', math.nan):,.0f} | "
            f"{r.get('state_growth_b', math.nan):,.0f} |")
    return lines + [""]
