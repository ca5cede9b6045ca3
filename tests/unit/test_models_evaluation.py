"""Held-out evaluation: bootstrap intervals, disjointness, scale mapping, report pieces, drift replay."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from models import load_artifact
from models.artifact import Calibrator, update_card
from riskstream.testing.artifacts import tiny_artifact
from models.blend import MAX_RIVER_WEIGHT
from riskstream.lab.drift import native_bundle, prequential_replay, windowed_metrics
from models.evaluate import alert_precision_recall, paired_auc_difference, rider_bootstrap, to_scale
from riskstream.lab.evaluate_cli import _card_metrics, _population, importance, metrics_table, score_frame
from models.fit import split_by_rider
from riskstream.lab.holdout import assert_disjoint, eval_start_day, holdout_specs, training_span
from riskstream.testing.frames import synthetic_frame
from riskstream.lab.train import _oracles
from riskstream.simulation.hazard import HazardContext, true_hazard


def _evaluate_help() -> str:
    """``riskstream evaluate --help``."""
    from riskstream.cli.main import build_parser

    return next(a for a in build_parser()._actions if a.dest == "command").choices["evaluate"].format_help()


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return load_artifact(tiny_artifact(tmp_path_factory.mktemp("a")))


@pytest.fixture(scope="module")
def frame():
    f = synthetic_frame(3000, seed=5, riders=60)
    return f.assign(p_injury_future=f["p_injury_true"], p_accident_future=f["p_accident_true"])


def test_rider_bootstrap_interval_is_wider_when_riders_are_few():
    rng = np.random.default_rng(0)
    x = rng.normal(size=2000)
    mean = lambda idx: float(x[idx].mean())  # noqa: E731
    many = rider_bootstrap(mean, np.arange(2000), n_boot=200)
    few = rider_bootstrap(mean, np.repeat(np.arange(20), 100), n_boot=200)
    assert many[0] < 0 < many[1]
    assert (few[1] - few[0]) > (many[1] - many[0])  # 20 riders: rows of a rider are not independent evidence


def test_paired_difference_finds_a_better_scorer_and_not_a_copy():
    rng = np.random.default_rng(1)
    y = (rng.random(4000) < 0.1).astype(int)
    good = y + rng.normal(0, 0.7, y.size)
    bad = y + rng.normal(0, 3.0, y.size)
    groups = np.arange(y.size) // 20
    d, lo, hi = paired_auc_difference(good, bad, y, groups, n_boot=100)
    assert d > 0 and lo > 0
    d, lo, hi = paired_auc_difference(good, good, y, groups, n_boot=50)
    assert d == 0 and lo == 0 and hi == 0


def test_alert_precision_recall_counts():
    m = alert_precision_recall(np.array([0.5, 0.5, 0.0, 0.0]), np.array([1, 0, 1, 0]), 0.3)
    assert m == {"alert_rate": 0.5, "precision": 0.5, "recall": 0.5}
    assert math.isnan(alert_precision_recall(np.zeros(3), np.zeros(3, int), 0.5)["precision"])


def test_to_scale_inverts_the_artifacts_scale_correction():
    p_k = np.array([0.01, 0.2, 0.6])
    served = Calibrator("identity", {"hazard_scale_correction": 3.0}).apply(p_k)
    assert np.allclose(to_scale(served, 3.0), p_k)


def test_holdout_is_disjoint_by_rider_and_time():
    meta = {"training_data": {"ts_min": 0.0, "ts_max": 1000.0, "rider_prefixes": ["00-", "01-"]}}
    ok = pd.DataFrame({"rider_id": ["evals3-00-rider-0001"], "ts": [1001.0]})
    assert_disjoint(meta, ok)
    with pytest.raises(AssertionError, match="before training ends"):
        assert_disjoint(meta, ok.assign(ts=999.0))
    with pytest.raises(AssertionError, match="share training ids"):
        assert_disjoint(meta, ok.assign(rider_id="01-rider-0001"))
    old = {"training_data": {"hours": 24.0}}  # cards without the span: simulator default start + hours
    t0, t1, prefixes = training_span(old)
    assert t1 - t0 == 24 * 3600 and "00-" in prefixes and eval_start_day(old) == 1
    specs = holdout_specs(7, riders=10, hours=2.0, hazard_scale=3.0, start_day=eval_start_day(old))
    assert all(s.seed == 7 + 1000 for s in specs)  # another fleet than training's seed 7
    assert all(s.prefix.startswith("eval") and s.start_day == 1 for s in specs)


def test_split_by_rider_is_disjoint(frame):
    folds = split_by_rider(frame, seed=1)
    assert not set(folds["train"]["rider_id"]) & set(folds["valid"]["rider_id"])
    assert len(folds["train"]) + len(folds["valid"]) == len(frame)


def test_oracles_future_counts_the_coming_hour_and_fills_after_an_incident():
    s = np.array([[0.0, 0.0, 0.0], [3600.0, 0.0, 1.0], [7200.0, 0.0, 1.0]])  # accident Λ: 1 in hour 1, 0 in hour 2
    ts = np.array([3600.0])
    now, future = _oracles(ts, s, 2, 3600.0, np.array([]))
    assert now[0] == pytest.approx(1 - math.exp(-1.0))  # last 5 min at rate 1/h, held for the hour
    assert future[0] == pytest.approx(0.0)  # but the next hour had no hazard
    _, cut = _oracles(np.array([0.0]), s, 2, 3600.0, np.array([1800.0]))  # incident half-way: rate carried on
    assert cut[0] == pytest.approx(1 - math.exp(-1.0))


def test_drift_knob_multiplies_crash_in_rain_only():
    dry, wet = HazardContext(riding=True), HazardContext(riding=True, precip_mm_h=3.0)
    assert true_hazard(HazardContext(riding=True, rain_crash_drift=4.0)).crash == true_hazard(dry).crash
    wet_drift = HazardContext(riding=True, precip_mm_h=3.0, rain_crash_drift=4.0)
    assert true_hazard(wet_drift).crash == pytest.approx(4.0 * true_hazard(wet).crash)
    assert true_hazard(wet_drift).fall == true_hazard(wet).fall


def test_report_metrics_on_a_synthetic_holdout(bundle, frame):
    scores = score_frame(bundle, frame, scale=1.0)
    table = metrics_table(frame, scores, scale=1.0, n_boot=20, seed=0)
    for target in ("injury", "accident"):
        for name in ("lightgbm", "rules", "oracle_now", "ceiling_learnable", "oracle_future"):
            m = table[target][name]
            assert 0 <= m["ece"] <= 1 and m["roc_auc_ci"][0] <= m["roc_auc"] + 0.05
        assert table[target]["oracle_now"]["roc_auc"] > 0.6  # the synthetic truth is learnable
        # the learnable ceiling (fit to the future hazard, here the truth) comes close to the truth
        assert table[target]["ceiling_learnable"]["roc_auc"] > table[target]["oracle_future"]["roc_auc"] - 0.06
        assert len(table[target]["lightgbm"]["vs_rules"]) == 3
        assert len(table[target]["lightgbm"]["vs_ceiling_learnable"]) == 3
    gain, contrib = importance(bundle, frame.iloc[:200][list(bundle.feature_names)].to_numpy(float))
    assert max(gain["injury"].values()) > 0 and max(contrib["accident"].values()) > 0
    assert "--drift" in _evaluate_help()


def test_update_card_records_heldout_metrics_and_the_population_without_touching_the_models(tmp_path, frame):
    import argparse
    import json

    before = load_artifact(tiny_artifact(tmp_path))
    path = before.path
    models_before = {t: (path / f"{t}.txt").read_bytes() for t in ("injury", "accident")}
    assert before.population_rate("injury") is None  # the tiny artifact's card has no population yet
    table = metrics_table(frame, score_frame(before, frame, scale=1.0), scale=1.0, n_boot=5, seed=0)
    update_card(path, {"heldout_metrics": {"scale1": _card_metrics(table, 1.0, 60, 16.0, frame)},
                       "population": _population(table, frame, before, 60, argparse.Namespace(hours=16.0))})
    after = load_artifact(path)
    assert after.population_rate("injury") == pytest.approx(table["injury"]["lightgbm"]["mean_pred"])
    assert after.metadata["heldout_metrics"]["scale1"]["accident"]["rules"]["roc_auc"] == pytest.approx(
        table["accident"]["rules"]["roc_auc"])
    gap = after.metadata["heldout_metrics"]["scale1"]["injury"]["lightgbm_minus"]["ceiling_learnable"]
    assert gap["ci_low"] <= gap["roc_auc"] <= gap["ci_high"]
    assert {t: (path / f"{t}.txt").read_bytes() for t in ("injury", "accident")} == models_before
    json.loads((path / "metadata.json").read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
    assert "--update-card" in _evaluate_help() and "--online-select" in _evaluate_help()


def test_prequential_replay_learns_from_delayed_labels_only(bundle):
    f = synthetic_frame(400, seed=2, riders=20)
    f = f.assign(ts=1_780_000_000.0 + np.arange(400) * 60.0, p_injury_future=0.1, p_accident_future=0.1)
    incidents = [{"rider_id": r, "epoch": t + 30.0, "reported_epoch": t + 900.0, "kind": "crash"}
                 for r, t in f.loc[f["y_accident"] == 1, ["rider_id", "ts"]].itertuples(index=False)]
    res = prequential_replay(bundle, f, incidents, progress=False)
    assert len(res) == len(f) and res["w_accident"].between(0, MAX_RIVER_WEIGHT).all()
    first = res.iloc[0]
    assert first["p_accident_blend"] == pytest.approx(first["p_accident_lightgbm"])  # nothing learned yet
    w = windowed_metrics(res, "accident", 1.0, ("lightgbm", "blend", "river"))
    assert list(w["hour"]) == sorted(w["hour"]) and w["n"].sum() == len(f)
    assert native_bundle(bundle).calibrators["injury"].params.get("hazard_scale_correction") is None


def test_native_bundle_maps_the_served_calibration_to_any_scale(bundle):
    from dataclasses import replace

    served = replace(bundle, calibrators={t: Calibrator("identity", {"hazard_scale_correction": 3.0})
                                          for t in ("injury", "accident")})
    p = np.array([0.1, 0.4])
    assert np.allclose(native_bundle(served, 1.0).calibrators["injury"].apply(p), served.calibrators["injury"].apply(p))
    assert np.allclose(native_bundle(served).calibrators["injury"].apply(p), p)  # the training scale itself
    assert np.allclose(native_bundle(served, 3.0).calibrators["injury"].apply(p), p)


def test_evaluate_refuses_an_unknown_drift_estimator_before_any_work(capsys: pytest.CaptureFixture[str]) -> None:
    from riskstream.cli.main import main

    assert main(["evaluate", "--drift", "--drift-estimator", "nope"]) == 2
    assert "--drift-estimator 'nope' is not one of: logreg-sgd" in capsys.readouterr().err


def test_the_no_drift_blend_table_has_a_row_per_target_and_span(bundle):
    from riskstream.lab.evaluate_cli import _no_drift_blend_md

    f = synthetic_frame(400, seed=2, riders=20)
    f = f.assign(ts=1_780_000_000.0 + np.arange(400) * 60.0)
    incidents = [{"rider_id": r, "epoch": t + 30.0, "reported_epoch": t + 900.0, "kind": "crash"}
                 for r, t in f.loc[f["y_accident"] == 1, ["rider_id", "ts"]].itertuples(index=False)]
    lines = _no_drift_blend_md(bundle, f, incidents)
    rows = [line for line in lines if line.startswith(("| injury", "| accident"))]
    assert len(rows) == 4 and all(line.count("/") == 4 for line in rows)
    assert res_cells_are_probabilistic(rows)


def res_cells_are_probabilistic(rows: list[str]) -> bool:
    """Every log loss is positive and every AUC within [0, 1]."""
    for row in rows:
        for cell in row.split("|")[3:7]:
            loss, auc = (float(v) for v in cell.split("/"))
            if not (loss > 0 and 0 <= auc <= 1):
                return False
    return True
