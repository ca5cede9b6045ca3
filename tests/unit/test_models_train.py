"""Training pipeline pieces: labels, rider-and-time split, calibration, a tiny simulated frame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.catalog import FEATURE_NAMES
from models.artifact import Calibrator
from models.fit import fit_calibrator, split_frame, wilson_upper
from riskstream.lab.train import _label, build_training_frame, rescale_calibrator
from riskstream.testing.frames import synthetic_frame


def test_labels_look_forward_within_horizon_only():
    frame = pd.DataFrame({"rider_id": ["a"] * 5 + ["b"], "ts": [0.0, 100.0, 200.0, 300.0, 400.0, 150.0]})
    incidents = {"a": [(250.0, False), (300.0, True)]}  # a fall at 250, a crash at 300
    out = _label(frame, incidents, horizon_s=100.0)
    assert out["y_injury"].tolist() == [0, 0, 1, 0, 0, 0]  # only ts=200 has the fall in (ts, ts+100]
    assert out["y_accident"].tolist() == [0, 0, 1, 0, 0, 0]  # crash at 300: from 200, not from 300 itself
    assert out["rider_id"].tolist() == frame["rider_id"].tolist()


def test_split_is_disjoint_by_rider_and_by_time():
    frame = synthetic_frame(6000, seed=1, riders=60)
    folds = split_frame(frame, seed=3, horizon_min=60)
    riders = {k: set(v["rider_id"]) for k, v in folds.items()}
    assert not (riders["train"] & riders["test"]) and not (riders["valid"] & riders["test"])
    assert not (riders["train"] & riders["valid"])
    assert folds["train"]["ts"].max() + 3600 < folds["test"]["ts"].min()
    assert folds["valid"]["ts"].max() + 3600 < folds["test"]["ts"].min()
    assert all(len(f) for f in folds.values())


def test_calibrator_choice_and_floor():
    rng = np.random.default_rng(0)
    raw = rng.random(5000)
    y = (rng.random(5000) < raw * 0.1).astype(int)
    cal = fit_calibrator(raw, y)
    assert cal.kind == "beta" and 0.0 < cal.apply([0.0]).item() and cal.apply([1.0]).item() < 1.0  # never 0 or 1
    grid = cal.apply(np.linspace(0, 1, 101))
    assert (np.diff(grid) >= 0).all()  # monotone
    assert fit_calibrator(raw, np.zeros_like(y)).kind == "identity"


def test_calibration_holds_in_the_upper_tail():
    """The top 1 % of scores keep their observed rate: no cap below it (the isotonic map capped injury at its
    top bin's rate, 0.0975, below the 3× population alert threshold)."""
    rng = np.random.default_rng(1)
    raw = rng.beta(0.5, 12.0, 40000)  # most scores small, a thin tail of high ones
    y = (rng.random(raw.size) < raw).astype(int)
    cal = fit_calibrator(raw[:20000], y[:20000])
    p = cal.apply(raw[20000:])
    top = np.argsort(p)[-200:]  # highest 1 % of the other half
    assert p[top].mean() == pytest.approx(y[20000:][top].mean(), abs=0.06)
    # capped at the highest bin's observed rate + interval (models.fit.tail_cap), never below what that bin saw
    assert y[20000:][top].mean() <= p.max() < 1.0
    assert p.max() == pytest.approx(cal.params["cap"])


def test_a_smooth_calibration_that_runs_past_its_highest_bin_is_capped_there():
    """Issue 15: beta calibration served accident 0.749 to the calibration fleet's top 1 %, observed 0.507. Where
    the top scores come true less often than the bulk of the data implies, the map stops at what they showed."""
    rng = np.random.default_rng(2)
    n = 100_000
    raw = rng.beta(0.5, 12.0, 2 * n)
    truth = np.minimum(raw, 0.15)  # the highest scores are over-confident: risk saturates at 0.15
    y = (rng.random(raw.size) < truth).astype(int)
    cal = fit_calibrator(raw[:n], y[:n])
    p = cal.apply(raw[n:])
    # highest 1 % of the other half by raw score (p is monotone in it): ordering by p would pick among the ties at
    # the cap by the sort's tie order, which differs between CPUs (numpy's SIMD sorts), and move `observed`
    top = np.argsort(raw[n:], kind="stable")[-n // 100:]
    uncapped = Calibrator("beta", {k: v for k, v in cal.params.items() if k != "cap"}).apply(raw[n:])
    observed = y[n:][top].mean()
    upper = wilson_upper(int(y[n:][top].sum()), top.size)  # what the top 1 % could have been, at most
    assert uncapped[top].mean() > upper + 0.03  # beta alone: over-confident in the top 1 %, past any reading of it
    assert observed <= p[top].mean() <= upper + 0.005  # capped: at the top's observed rate plus its interval
    assert (np.diff(cal.apply(np.linspace(0, 1, 101))) >= 0).all()  # still monotone




def test_hazard_scale_correction_is_exact_for_a_constant_hazard():
    lam, k = 0.02, 3.0
    p_k = 1 - np.exp(-k * lam)
    cal = rescale_calibrator(Calibrator("identity", {}), k)
    assert cal.apply([p_k]).item() == pytest.approx(1 - np.exp(-lam))
    assert Calibrator.from_json(cal.to_json()).apply([p_k]).item() == pytest.approx(1 - np.exp(-lam))


def test_tiny_simulated_frame():
    frame = build_training_frame(riders=4, hours=0.75, seed=2, horizon_min=10, snapshot_every_s=120,
                                 shards=1, workers=1, progress=False)
    assert {"rider_id", "ts", "zone_id", "y_injury", "y_accident", "p_injury_true", "p_accident_true"} <= set(frame)
    assert list(frame.columns[3 : 3 + len(FEATURE_NAMES)]) == list(FEATURE_NAMES)
    assert len(frame) > 10
    p = frame[["p_injury_true", "p_accident_true"]].to_numpy()
    assert np.nanmin(p) >= 0 and np.nanmax(p) <= 1 and np.isfinite(p).mean() > 0.9
    from riskstream.simulation.fleet import SimConfig

    end = SimConfig().start.timestamp() + 0.75 * 3600
    assert frame["ts"].max() + 600 <= end  # snapshots whose horizon is cut off by the end are dropped


def test_train_from_frame_records_the_training_span(tmp_path):
    import json

    from riskstream.cli.main import main
    from riskstream.lab.holdout import training_span

    frame = synthetic_frame(6000, seed=4, riders=60)
    frame["rider_id"] = "00-" + frame["rider_id"]
    frame.to_pickle(tmp_path / "f.pkl")
    assert main(["train", "--from-frame", str(tmp_path / "f.pkl"), "--out", str(tmp_path), "--version", "v",
                 "--holdout-riders", "0", "--calibration-riders", "0", "--no-current"]) == 0
    card = json.loads((tmp_path / "v" / "metadata.json").read_text())
    t0, t1, prefixes = training_span(card)
    assert t0 == frame["ts"].min() and t1 == frame["ts"].max() + 3600 and prefixes == ("00-",)
    assert card["training_data"]["sim_seeds"] == [7 * 1009]  # seed 7, shard 00
    # the served model is fit on every row (the review found 4,981 of 20,898)
    assert set(card["folds"]) == {"train"} and card["folds"]["train"]["rows"] == len(frame)
    assert set(card["baselines"]["injury"]) == {"best_feature", "rules", "base_rate"}
    assert card["world"]["rate_scale_vs_assumed_real"] == 500.0 and card["world"]["horizon_min"] == 60
    assert not (tmp_path / "CURRENT").exists()


def test_a_served_probability_is_never_0_or_1():
    """The shipped lgbm-20261122-s7 accident map ended at 1.0 (served p = 1 on 3 of 9,139 fresh snapshots)."""
    from models.artifact import SERVED_P_MAX, SERVED_P_MIN

    for cal in (Calibrator("isotonic", {"x": [0.0, 0.5, 1.0], "y": [0.0, 0.2, 1.0]}),
                Calibrator("isotonic", {"x": [0.0, 1.0], "y": [0.0, 1.0], "hazard_scale_correction": 3.0}),
                Calibrator("identity", {})):
        p = cal.apply([0.0, 0.3, 1.0])
        assert p.min() == SERVED_P_MIN > 0.0 and p.max() == SERVED_P_MAX < 1.0


def test_two_training_fleets_are_cross_fit_one_against_the_other_and_params_chosen_there(tmp_path):
    """Issue 15: rider folds inside one fleet share its weather, so its out-of-fold ROC-AUC flattered
    (0.782 vs 0.729 for two draws of the same seed, 0.735 and 0.737 on the calibration fleet). With a
    second fleet (``--fleet-seeds``) the cross-fit holds out one fleet at a time, and ``--choose-params``
    picks per target the candidate with the best cross-validated ROC-AUC there, on the card."""
    import json

    from riskstream.cli.main import main

    a, b = synthetic_frame(3000, seed=4, riders=30), synthetic_frame(3000, seed=5, riders=30)
    a["rider_id"], b["rider_id"] = "00-" + a["rider_id"], "t8-00-" + b["rider_id"]
    pd.concat([a, b], ignore_index=True).to_pickle(tmp_path / "f.pkl")
    cands = [{"max_depth": 1, "num_leaves": 2}, {"max_depth": 2, "num_leaves": 4}]
    assert main(["train", "--from-frame", str(tmp_path / "f.pkl"), "--out", str(tmp_path), "--version", "v",
                 "--holdout-riders", "0", "--calibration-riders", "0", "--no-current",
                 "--choose-params", json.dumps(cands)]) == 0
    card = json.loads((tmp_path / "v" / "metadata.json").read_text())
    assert card["hyperparameters"]["cross_fit_folds"] == 2
    assert "one fold per training fleet" in card["folds"]["train"]["note"]
    cv = card["params_cross_validation"]
    assert cv["folds"] == "one per training fleet"
    for t in ("injury", "accident"):
        rows = cv["candidates"][t]
        assert [r["params"] for r in rows] == cands and all(len(r["auc_by_fold"]) == 2 for r in rows)
        best = max(rows, key=lambda r: r["auc"])["params"]
        assert cv["chosen"][t] == best == card["hyperparameters"]["by_target"][t]
    assert card["training_data"]["rider_prefixes"] == ["00-", "t8-"]


def test_fleet_seeds_that_are_not_numbers_are_refused(capsys):
    from riskstream.cli.main import main

    assert main(["train", "--fleet-seeds", "8,nine", "--riders", "2", "--hours", "1"]) == 2
    assert "'nine' is not a whole number" in capsys.readouterr().err


def test_an_evaluation_fleet_with_a_seed_of_any_training_fleet_is_refused():
    """The card's sim_seeds list every training fleet's simulator seeds (``--fleet-seeds`` too), so
    ``riskstream evaluate --fleet-seed 9`` cannot grade a model on the weather and riders it was fit on."""
    from riskstream.lab.holdout import assert_disjoint
    from riskstream.lab.train import fleet_specs, shard_specs, sim_seeds_of

    meta = {"training_data": {"seed": 7, "sim_seeds": sim_seeds_of([s for fs in (7, 9) for s in fleet_specs(4, 1.0, 7, fs)]),
                              "ts_min": 0.0, "ts_max": 1000.0, "rider_prefixes": ["00-", "01-", "t9-"]}}
    frame = pd.DataFrame({"rider_id": ["evals1-00-rider-0001"], "ts": [2000.0]})
    with pytest.raises(AssertionError, match=r"simulator seed\(s\) \[9081, 9082\]"):
        assert_disjoint(meta, frame, shard_specs(4, 1.0, 9, shards=2, prefix="evals1-"))
    assert_disjoint(meta, frame, shard_specs(4, 1.0, 1007, shards=2, prefix="evals1-"))  # an unseen seed passes
