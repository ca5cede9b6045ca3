"""The evaluation scorecard: its JSON shape, the serving rule, the baselines, and the disjointness check."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from features.catalog import FEATURE_NAMES
from models.artifact import TARGETS, load_artifact
from models.baselines import Baseline, binned_monotone, fit_baselines
from models.scoring import LightGBMScorer
from riskstream.lab.holdout import assert_disjoint, calibration_specs, holdout_specs
from riskstream.lab.scorecard import SCORERS, score_all, scorecard, serving_decision
from riskstream.testing.artifacts import tiny_artifact
from riskstream.testing.frames import synthetic_frame


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return load_artifact(tiny_artifact(tmp_path_factory.mktemp("a")))


@pytest.fixture(scope="module")
def frame():
    f = synthetic_frame(6000, seed=11, riders=80)
    return f.assign(p_injury_future=f["p_injury_true"], p_accident_future=f["p_accident_true"])


def test_scorecard_json_has_every_scorer_with_intervals(bundle, frame):
    card = scorecard(frame, score_all(bundle, frame, 1.0), n_boot=20)
    text = json.dumps(card, allow_nan=True)  # what `riskstream evaluate --json` writes (NaN as null)
    again = json.loads(text)
    for t in TARGETS:
        block = again["targets"][t]
        assert 0.0 < block["served_p_min"] <= block["served_p_max"] < 1.0
        assert set(block["scorers"]) == set(SCORERS)
        for name, m in block["scorers"].items():
            for key in ("auc", "auc_ci", "log_loss", "brier", "ece", "ece_ci"):
                assert key in m, (t, name, key)
            lo, hi = m["ece_ci"]
            assert lo is not None and lo <= hi
        assert block["scorers"]["base_rate"]["auc"] == 0.5  # one constant ranks nobody
        assert {"bottom_1pct", "top_1pct"} <= set(block["scorers"]["served"]["tails"])
    # the oracle is the true probability here: it beats the base rate
    assert again["targets"]["injury"]["scorers"]["oracle"]["auc"] > 0.6


def test_a_target_lightgbm_does_not_beat_is_served_by_the_better_baseline(bundle, frame):
    card = scorecard(frame, score_all(bundle, frame, 1.0, ceiling=False), n_boot=20)
    for t in TARGETS:  # make LightGBM no better than the baselines for injury only
        card["targets"][t]["scorers"]["lightgbm"]["minus"]["best_feature"]["auc_ci"] = (
            [-0.01, 0.02] if t == "injury" else [0.01, 0.05])
        card["targets"][t]["scorers"]["lightgbm"]["minus"]["rules"]["auc_ci"] = [0.01, 0.05]
    choice = serving_decision(card)
    assert choice["accident"]["scorer"] == "lightgbm"
    best = max(("best_feature", "rules"), key=lambda k: card["targets"]["injury"]["scorers"][k]["auc"])
    assert choice["injury"]["scorer"] == best and "does not beat best feature" in choice["injury"]["reason"]
    # the worker serves what the card says: the baseline's probability, LightGBM's for the other target
    X = frame[list(FEATURE_NAMES)].to_numpy(float)
    fitted = fit_baselines(X, {t: frame[f"y_{t}"].to_numpy(int) for t in TARGETS})
    meta = {**bundle.metadata, "serving": choice,
            "baselines": {t: {k: b.to_json() for k, b in fitted[t].items()} for t in TARGETS}}
    scorer = LightGBMScorer(type(bundle)(bundle.version, bundle.path, bundle.boosters, bundle.calibrators, meta))
    served, own = scorer.predict_matrix(X[:50]), scorer.predict_matrix(X[:50], served=False)
    assert np.array_equal(served["injury"], fitted["injury"][best].predict(X[:50]))
    assert np.array_equal(served["accident"], own["accident"])
    assert scorer.served_by("injury") == best and scorer.score_batch([{}])[0].source == f"lightgbm/injury={best}"


def test_baselines_round_trip_and_keep_their_tails_inside_the_unit_interval(frame):
    X = frame[list(FEATURE_NAMES)].to_numpy(float)
    fitted = fit_baselines(X, {"injury": frame["y_injury"].to_numpy(int)})["injury"]
    assert fitted["best_feature"].feature in FEATURE_NAMES
    for b in fitted.values():
        again = Baseline.from_json("injury", json.loads(json.dumps(b.to_json())))
        p = again.predict(X)
        assert np.array_equal(p, b.predict(X)) and 0.0 < p.min() and p.max() < 1.0
    with pytest.raises(ValueError, match="needs ≥ 30 positives"):
        binned_monotone(np.arange(100.0), np.r_[np.zeros(95), np.ones(5)].astype(int))


def test_disjointness_trips_on_a_training_seed_even_with_another_id_prefix():
    meta = {"training_data": {"seed": 7, "sim_seeds": [7 * 1009, 7 * 1009 + 1], "ts_min": 0.0, "ts_max": 1000.0,
                              "rider_prefixes": ["00-", "01-"]}}
    later = pd.DataFrame({"rider_id": ["evals1-00-rider-0001"], "ts": [1001.0]})
    assert_disjoint(meta, later, holdout_specs(7, 10, 2.0, 1.0))  # seed 1007: other people, other weather
    assert_disjoint(meta, later, calibration_specs(7, 10, 2.0))  # seed 2007
    same_people = holdout_specs(7 - 1000, 10, 2.0, 1.0)  # seed 7 again under an "eval" prefix
    with pytest.raises(AssertionError, match=r"simulator seed\(s\) \[7063, 7064\]"):
        assert_disjoint(meta, later, same_people)
    with pytest.raises(AssertionError, match="before training ends"):
        assert_disjoint(meta, later.assign(ts=500.0), holdout_specs(7, 10, 2.0, 1.0))


def test_the_calibration_cards_served_entry_is_scored_after_the_serving_choice(bundle, frame):
    """Issue 15: the card's `served` entry for injury showed LightGBM's numbers although the best feature served it
    (the scorecard was computed before the serving decision)."""
    from riskstream.lab.scorecard import calibration_card

    X = frame[list(FEATURE_NAMES)].to_numpy(float)
    fitted = fit_baselines(X, {t: frame[f"y_{t}"].to_numpy(int) for t in TARGETS})
    meta = {**bundle.metadata, "baselines": {t: {**{k: b.to_json() for k, b in fitted[t].items()}, "base_rate": 0.05}
                                             for t in TARGETS}}
    with_baselines = type(bundle)(bundle.version, bundle.path, bundle.boosters, bundle.calibrators, meta)
    choice = {"injury": {"scorer": "best_feature", "reason": "test"}, "accident": {"scorer": "lightgbm", "reason": "test"}}
    card, serving, served = calibration_card(with_baselines, frame, n_boot=5, ceiling=False, decide=lambda _: choice)
    assert serving == choice
    rows = {t: card["targets"][t]["scorers"] for t in TARGETS}
    for key in ("auc", "log_loss", "brier", "ece", "mean_p"):
        assert rows["injury"]["served"][key] == pytest.approx(rows["injury"]["best_feature"][key], rel=1e-9), key
        assert rows["accident"]["served"][key] == pytest.approx(rows["accident"]["lightgbm"][key], rel=1e-9), key
    assert rows["injury"]["served"]["auc"] != rows["injury"]["lightgbm"]["auc"]
    assert np.array_equal(served["injury"], fitted["injury"]["best_feature"].predict(X))
    assert card["targets"]["injury"]["served_p_max"] == pytest.approx(float(served["injury"].max()))
