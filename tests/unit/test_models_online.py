"""The River online learner and the delayed-label buffer."""

from __future__ import annotations

import json
import math
import pickle

import pytest

from features.catalog import FEATURE_NAMES
from models.errors import ModelLoadError
from models.labels import Marked
from models.online import EDGE_MEMORY, ESTIMATORS, LabelBuffer, OnlineRiskModel
from riskstream.testing.frames import synthetic_frame


def test_learns_a_signal_and_metrics_are_prequential():
    frame = synthetic_frame(4000, seed=5)
    model = OnlineRiskModel()
    assert model.auc("injury") is None and model.metrics()["injury"]["log_loss"] is None
    for x in frame.to_dict("records"):
        model.learn_one(x, bool(x["y_injury"]), bool(x["y_accident"]))
    assert model.n_learned == 4000
    assert model.n_positive["injury"] == int(frame["y_injury"].sum())
    report = model.metrics()
    assert report["injury"]["roc_auc"] > 0.6  # test-then-train AUC on a learnable signal
    assert 0 < report["injury"]["log_loss"] < 0.5
    hot = {name: 0.0 for name in FEATURE_NAMES} | {"heat_index_c": 48.0, "strain_index_est": 9.5}
    cool = {name: 0.0 for name in FEATURE_NAMES} | {"heat_index_c": 20.0, "strain_index_est": 1.0}
    assert model.predict_proba_one(hot)["injury"] > model.predict_proba_one(cool)["injury"]


def test_metric_is_updated_before_learning():
    model = OnlineRiskModel()
    x = {"heat_index_c": 40.0}
    p_before = model.predict_proba_one(x)["injury"]
    model.learn_one(x, True, False)
    # log loss of the very first example is the loss of the prediction made before learning it
    assert math.isclose(model.metrics()["injury"]["log_loss"], -math.log(p_before), rel_tol=1e-9)


def test_missing_values_and_input_untouched():
    model = OnlineRiskModel()
    x = {"heat_index_c": float("nan"), "strain_index_est": None, "wearable_age_s": math.inf}
    before = repr(x)
    model.learn_one(x, False, False)
    p = model.predict_proba_one({})
    assert all(0 < v < 1 for v in p.values()) and repr(x) == before


def test_state_survives_a_restart():
    model = OnlineRiskModel()
    for x in synthetic_frame(300, seed=2).to_dict("records"):
        model.learn_one(x, bool(x["y_injury"]), bool(x["y_accident"]))
    again = OnlineRiskModel.from_bytes(model.to_bytes())
    probe = synthetic_frame(5, seed=9).to_dict("records")
    assert [model.predict_proba_one(x) for x in probe] == [again.predict_proba_one(x) for x in probe]
    assert again.n_learned == 300 and again.metrics() == model.metrics()


def test_edge_is_the_discounted_paired_log_loss_difference():
    model = OnlineRiskModel()
    x = {"heat_index_c": 40.0}
    expected, used_losses = 0.0, []
    for k in range(5):
        y = k % 2 == 0
        p = model.predict_proba_one(x)["accident"]
        used = model.recalibrate("accident", 0.3)  # the reference as the blend would use it, before this label
        gain = -math.log(used if y else 1 - used) + math.log(p if y else 1 - p)
        expected = expected * (1 - 1 / EDGE_MEMORY) + gain
        used_losses.append(-math.log(used if y else 1 - used))
        model.learn_one(x, False, y, reference={"injury": 0.01, "accident": 0.3}, reference_version="v1")
    assert used_losses[0] == pytest.approx(-math.log(0.3))  # the recalibration starts as the identity
    assert model.edge("accident") == pytest.approx(expected, rel=1e-12)
    assert model.n_paired["accident"] == 5
    assert model.metrics()["accident"]["reference_log_loss"] == pytest.approx(sum(used_losses) / 5)
    model.learn_one(x, False, False, reference={"injury": 0.01, "accident": 0.3}, reference_version="v2")
    assert model.n_paired["accident"] == 1 and model.reference_version == "v2"  # a new reference starts over


def test_unpaired_learning_leaves_the_edge_alone():
    model = OnlineRiskModel()
    model.learn_one({"heat_index_c": 40.0}, True, True)
    assert model.edge("injury") == 0.0 and model.n_paired["injury"] == 0
    assert model.metrics()["injury"]["reference_log_loss"] is None


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_every_candidate_estimator_learns_and_predicts_probabilities(name):
    model = OnlineRiskModel(name)
    for x in synthetic_frame(60, seed=3).to_dict("records"):
        model.learn_one(x, bool(x["y_injury"]), bool(x["y_accident"]))
    p = model.predict_proba_one({"heat_index_c": 41.0})
    assert all(0.0 <= v <= 1.0 for v in p.values()) and model.version == f"river-{name}:n=60"


def test_unknown_estimator_is_named():
    with pytest.raises(ValueError, match="unknown online estimator 'xgb'.*logreg-sgd"):
        OnlineRiskModel("xgb")


def test_state_pickled_before_the_edge_existed_still_loads():
    model = OnlineRiskModel()
    state = dict(model.__dict__)
    for key in ("_edge", "n_paired", "reference_version", "estimator"):
        state.pop(key)
    for m in state["_metrics"].values():
        m.pop("reference_log_loss")
    old = OnlineRiskModel.__new__(OnlineRiskModel)
    old.__dict__.update(state)
    again = OnlineRiskModel.from_bytes(pickle.dumps(old))
    assert again.estimator == "logreg-sgd" and again.edge("injury") == 0.0
    again.learn_one({"heat_index_c": 40.0}, True, False, reference={"injury": 0.1, "accident": 0.1}, reference_version="v")
    assert again.n_paired["injury"] == 1


@pytest.mark.parametrize("blob", [b"", b"not a pickle", __import__("pickle").dumps({"a": 1})])
def test_corrupt_state_raises_model_load_error(blob):
    with pytest.raises(ModelLoadError):
        OnlineRiskModel.from_bytes(blob)


# ------------------------------------------------------------------ label buffer

def test_bounded_snapshots_per_rider():
    buf = LabelBuffer(horizon_min=60, snapshot_every_s=300, grace_s=0)
    for k in range(1000):
        buf.add_snapshot("r1", 60.0 * k, {"heat_index_c": float(k)})
    assert len(buf) <= 12 + 1 == buf.max_per_rider


def test_incident_marks_matching_target_within_horizon_and_releases_at_the_same_age_as_negatives():
    buf = LabelBuffer(horizon_min=60, snapshot_every_s=300, grace_s=600)
    for k in range(20):  # snapshots at 0, 300, ..., 5700
        buf.add_snapshot("r1", 300.0 * k, {"k": k})
    buf.add_snapshot("r2", 0.0, {"k": -1})
    # snapshots before 5700 - 3600 - 600 = 1500 aged out when later ones arrived; 1500..5700 remain
    assert buf.to_dict("r1")["ts"][0] == 1500.0
    assert buf.on_incident("r1", 5000.0, "fall") == Marked(labelled=12, too_late=False)  # 1500..4800 (≤ 60 min)
    assert buf.on_incident("r1", 5000.0, "fall").labelled == 0  # marked once
    assert buf.on_incident("r1", 5800.0, "crash").labelled == 12  # 2400..5700
    assert len(buf.to_dict("r2")["ts"]) == 1
    released = buf.expire("r1", 5000.0 + 3600 + 600 + 1)  # snapshots up to 5000: k = 5..16
    assert [(x["k"], inj, acc) for x, inj, acc in released] == [
        (5, True, False), (6, True, False), (7, True, False), *[(k, True, True) for k in range(8, 17)]]
    # later snapshots come out when they too are old enough, with the marks they gathered
    rest = buf.expire("r1", 5700.0 + 4200 + 1)
    assert [(x["k"], inj, acc) for x, inj, acc in rest] == [(17, False, True), (18, False, True), (19, False, True)]
    assert "r1" not in buf.riders()


def test_a_report_later_than_the_grace_says_so():
    buf = LabelBuffer(horizon_min=60, snapshot_every_s=300, grace_s=600)
    for k in range(10):  # 0 .. 2700
        buf.add_snapshot("r", 300.0 * k, {"k": k})
    assert len(buf.expire("r", 2700.0 + 4200 + 1)) == 10
    late = buf.on_incident("r", 3000.0, "crash")  # its window 0..3000 was learned already
    assert late == Marked(labelled=0, too_late=True)
    assert buf.on_incident("r", 2700.0 + 3600 + 1, "crash").too_late is False  # window after the last release


@pytest.mark.parametrize("kind,injury", [("crash", False), ("fall", True), ("heat_illness", True), ("exhaustion", True)])
def test_incident_kinds(kind, injury):
    buf = LabelBuffer(grace_s=0)
    buf.add_snapshot("r", 0.0, {})
    assert buf.on_incident("r", 60.0, kind).labelled == 1
    [(_, y_inj, y_acc)] = buf.expire(3601.0)
    assert (y_inj, y_acc) == (injury, not injury)


def test_expire_returns_negatives_and_frees_state():
    buf = LabelBuffer(horizon_min=60, snapshot_every_s=300, grace_s=0)
    buf.add_snapshot("a", 0.0, {"v": 1.0})
    buf.add_snapshot("b", 1000.0, {"v": 2.0})
    assert buf.expire(3600.0) == []
    assert buf.expire(3601.0) == [({"v": 1.0}, False, False)]
    assert buf.riders() == ["b"]
    assert buf.expire("b", 4601.0) == [({"v": 2.0}, False, False)] and len(buf) == 0


def test_sweep_releases_silent_riders_by_rider():
    buf = LabelBuffer(horizon_min=60, snapshot_every_s=300, grace_s=1800)
    buf.add_snapshot("quiet", 0.0, {"v": 1.0})
    buf.add_snapshot("busy", 5000.0, {"v": 2.0})
    buf.on_incident("quiet", 100.0, "crash")
    assert buf.sweep(5400.0) == {}  # 0 is not older than 60 + 30 min yet
    assert buf.sweep(5401.0) == {"quiet": [({"v": 1.0}, False, True)]}
    assert buf.riders() == ["busy"]


def test_add_snapshot_returns_aged_out_snapshots():
    buf = LabelBuffer(horizon_min=60, snapshot_every_s=300, grace_s=0)
    buf.add_snapshot("a", 0.0, {"v": 1.0})
    assert buf.add_snapshot("a", 4000.0, {"v": 2.0}) == [({"v": 1.0}, False, False)]


def test_per_rider_state_round_trips_through_json():
    buf = LabelBuffer()
    buf.add_snapshot("r1", 0.0, {"a": 1.0, "b": float("nan"), "c": None})
    buf.add_snapshot("r1", 400.0, {"a": 2.0})
    buf.on_incident("r1", 300.0, "fall")
    data = json.loads(json.dumps(buf.to_dict("r1")))
    other = LabelBuffer()
    other.from_dict("r1", data)
    assert other.to_dict("r1") == buf.to_dict("r1")
    assert data["x"][0] == {"a": 1.0, "b": None, "c": None} and data["y"] == [[True, False], [False, False]]
    assert other.on_incident("r1", 500.0, "crash") == buf.on_incident("r1", 500.0, "crash")
    assert other.expire(10_000.0) == buf.expire(10_000.0)


def test_state_written_before_marks_restores_unmarked():
    buf = LabelBuffer(grace_s=0)
    buf.from_dict("r", {"ts": [0.0, 300.0], "x": [{"a": 1.0}, {"a": 2.0}]})
    assert buf.expire(10_000.0) == [({"a": 1.0}, False, False), ({"a": 2.0}, False, False)]


def test_snapshot_is_a_copy():
    buf = LabelBuffer()
    x = {"a": 1.0}
    buf.add_snapshot("r", 0.0, x)
    x["a"] = 99.0
    assert buf.to_dict("r")["x"][0]["a"] == 1.0


def test_the_recalibration_follows_a_change_of_level_and_earns_its_share():
    model = OnlineRiskModel()
    x = {"heat_index_c": 30.0}
    assert model.recalibrate("accident", 0.05) == pytest.approx(0.05)
    assert model.recalibration_weight("accident") == pytest.approx(0.01)  # π before any evidence
    for k in range(3000):  # the reference says 5 %, the world now says 25 %
        model.learn_one(x, False, k % 4 == 0, reference={"injury": 0.01, "accident": 0.05}, reference_version="v1")
    assert model.metrics()["accident"]["recalibration_edge_nats"] > 20
    assert model.recalibration_weight("accident") > 0.99
    assert model.recalibrate("accident", 0.05) == pytest.approx(0.25, abs=0.03)
    assert model.recalibrate("accident", 0.10) > model.recalibrate("accident", 0.05)  # ranking kept
    model.learn_one(x, False, False, reference={"injury": 0.01, "accident": 0.05}, reference_version="v2")
    assert model.recalibrate("accident", 0.05, weight=1.0) == pytest.approx(
        model.recalibrators["accident"].predict(0.05))  # a new reference starts from the identity
    assert model.recalibrators["accident"].a == pytest.approx(1.0, abs=0.01)


def test_online_state_pickled_before_recalibration_loads_with_the_identity():
    model = OnlineRiskModel()
    state = model.__getstate__() if hasattr(model, "__getstate__") else dict(model.__dict__)
    state = {k: v for k, v in dict(state).items() if k not in ("recalibrators", "_recal_edge")}
    old = OnlineRiskModel.__new__(OnlineRiskModel)
    old.__setstate__(state)
    assert old.recalibrate("injury", 0.2, weight=1.0) == pytest.approx(0.2)


def test_sweep_due_sweeps_once_per_snapshot_interval_of_the_newest_time_and_clear_keeps_the_clock():
    buf = LabelBuffer(horizon_min=60, snapshot_every_s=300, grace_s=0)
    buf.add_snapshot("a", 0.0, {"v": 1.0})
    assert buf.sweep_due(100.0) == {}  # swept (nothing old enough yet): the clock starts here
    buf.add_snapshot("b", 200.0, {"v": 2.0})
    assert buf.sweep_due(3701.0) == {"a": [({"v": 1.0}, False, False)]}
    assert buf.sweep_due(3900.0) == {}  # within 300 s of the last sweep, although b is old enough now
    assert buf.sweep_due(3000.0) == {}  # an older time does not move the clock back
    buf.clear()
    assert buf.riders() == [] and buf.sweep_due(3950.0) == {}  # the clock survived the clear
