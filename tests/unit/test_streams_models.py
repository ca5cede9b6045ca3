"""The worker's model life cycle: hot reload of a new artifact, fallback to rules when it is broken."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from models.artifact import ARTIFACTS_DIR, current_artifact_dir
from streams import metrics
from streams.processor import Processor
from streams.settings import Settings, WorkerSettings
from tests.unit.test_streams_processor import Harness, raw_records

pytestmark = pytest.mark.skipif(not (ARTIFACTS_DIR / "CURRENT").exists(), reason="no shipped artifact")


def copy_artifacts(tmp: Path) -> Path:
    root = tmp / "artifacts"
    src = current_artifact_dir()
    shutil.copytree(src, root / src.name)
    (root / "CURRENT").write_text(src.name)
    return root


def settings(tmp: Path, model_dir: Path) -> Settings:
    return Settings(worker=WorkerSettings(state_dir=tmp / "state", model_dir=model_dir))


def test_a_new_artifact_version_is_picked_up_without_a_restart(heatwave: list[Any], tmp_path: Path) -> None:
    root = copy_artifacts(tmp_path)
    proc = Processor(settings(tmp_path, root))
    old = proc.scorer.model_versions()["lightgbm"]
    assert old != "none" and not proc.maybe_reload_models()
    new_dir = root / "lgbm-test-v2"
    shutil.copytree(root / old, new_dir)
    meta = json.loads((new_dir / "metadata.json").read_text())
    meta["version"] = "lgbm-test-v2"
    (new_dir / "metadata.json").write_text(json.dumps(meta))
    (root / "CURRENT").write_text("lgbm-test-v2")
    assert proc.maybe_reload_models()
    assert proc.scorer.model_versions()["lightgbm"] == "lgbm-test-v2"
    h = Harness(proc)
    h.feed(raw_records(proc.settings, heatwave[:3000]))
    assert {p["model_versions"]["lightgbm"] for p in h.of("risk_scores")} == {"lgbm-test-v2"}


def test_a_broken_new_version_keeps_the_working_one(tmp_path: Path) -> None:
    root = copy_artifacts(tmp_path)
    proc = Processor(settings(tmp_path, root))
    old = proc.scorer.model_versions()["lightgbm"]
    (root / "broken").mkdir()
    (root / "broken" / "metadata.json").write_text("{not json")
    (root / "CURRENT").write_text("broken")
    before = metrics.MODEL_ERRORS.labels(model="lightgbm")._value.get()
    assert not proc.maybe_reload_models()
    assert proc.scorer.model_versions()["lightgbm"] == old
    assert metrics.MODEL_ERRORS.labels(model="lightgbm")._value.get() == before + 1


def test_without_a_loadable_model_the_worker_runs_on_rules_and_says_so(heatwave: list[Any], tmp_path: Path) -> None:
    broken = tmp_path / "nothing-here"
    broken.mkdir()
    proc = Processor(settings(tmp_path, broken))
    h = Harness(proc)
    h.feed(raw_records(proc.settings, heatwave[:3000]))
    premiums = h.of("risk_scores")
    assert premiums and all(p["conservative_mode"] and p["model_versions"]["lightgbm"] == "none" for p in premiums)
    assert all(a["conservative_mode"] for a in h.of("audit"))
    proc.publish_gauges()
    assert metrics.CONSERVATIVE_MODE._value.get() == 1


def test_a_fresh_online_model_starts_from_the_population_rates_and_learns_paired(heatwave: list[Any],
                                                                                  tmp_path: Path) -> None:
    root = copy_artifacts(tmp_path)
    proc = Processor(settings(tmp_path, root))
    bundle = proc.scorer.lgbm.bundle
    assert proc.online.priors == {t: bundle.population_rate(t) for t in ("injury", "accident")}
    h = Harness(proc)
    h.feed(raw_records(proc.settings, heatwave))
    snaps = [x for state in h.riders.values() for x in state["labels"]["x"]]
    assert snaps and all("_scored_lightgbm_injury" in x and "_scored_river_accident" in x for x in snaps)
    if proc.online.n_learned:  # examples learned so far were paired with the LightGBM model loaded
        assert proc.online.reference_version == bundle.version


def test_a_stored_online_model_of_another_estimator_is_set_aside(tmp_path: Path) -> None:
    from models.online import DEFAULT_ESTIMATOR, OnlineRiskModel

    root = copy_artifacts(tmp_path)
    s = settings(tmp_path, root)
    s.worker.state_dir.mkdir(parents=True)
    (s.worker.state_dir / "online-model.pkl").write_bytes(OnlineRiskModel("gaussian-nb").to_bytes())
    assert Processor(s).online.estimator == s.worker.online_estimator == DEFAULT_ESTIMATOR


def test_the_settings_default_online_estimator_is_the_measured_choice() -> None:
    from models.online import DEFAULT_ESTIMATOR
    from streams.settings import WorkerSettings

    assert WorkerSettings().online_estimator == DEFAULT_ESTIMATOR


def test_premiums_and_model_risk_alerts_use_the_population_of_the_loaded_artifact(tmp_path: Path) -> None:
    root = copy_artifacts(tmp_path)
    proc = Processor(settings(tmp_path, root))
    population = proc.premium.population
    assert population is not None and proc.policy.population is population
    card = json.loads((current_artifact_dir(root) / "metadata.json").read_text())["population"]
    assert population.injury == pytest.approx(card["injury"]["mean_p"])
    assert population.accident == pytest.approx(card["accident"]["mean_p"])
    # a new version without a population block: absolute defaults, picked up on hot reload
    old = proc.scorer.model_versions()["lightgbm"]
    new_dir = root / "lgbm-test-nopop"
    shutil.copytree(root / old, new_dir)
    meta = json.loads((new_dir / "metadata.json").read_text())
    meta.pop("population")
    meta["version"] = "lgbm-test-nopop"
    (new_dir / "metadata.json").write_text(json.dumps(meta))
    (root / "CURRENT").write_text("lgbm-test-nopop")
    assert proc.maybe_reload_models()
    assert proc.premium.population is None and proc.policy.population is None


def test_marked_snapshots_of_a_rider_gone_silent_are_learned_once_the_stream_is_past_horizon_and_grace(
        heatwave: list[Any], tmp_path: Path) -> None:
    from datetime import timedelta

    from streams.batch import RawRecord

    root = copy_artifacts(tmp_path)
    proc = Processor(settings(tmp_path, root))
    assert proc.labels.horizon_s == proc.scorer.lgbm.bundle.horizon_min * 60.0
    assert proc.labels.grace_s == proc.settings.worker.label_grace_s
    h = Harness(proc)
    h.feed(raw_records(proc.settings, heatwave))
    trips = [r for r in heatwave if r.role == "trip" and r.value is not None]
    quiet, busy = trips[-1].key, next(r.key for r in reversed(trips) if r.key != trips[-1].key)
    snaps = len(h.riders[quiet]["labels"]["ts"])
    assert snaps >= 2
    at = trips[-1].value.ts + timedelta(seconds=30)
    incident = {"event_id": "sweep-1", "ts": at.isoformat(), "schema_version": 1, "rider_id": quiet,
                "kind": "fall", "source": "platform", "severity": "minor"}
    positives = proc.online.n_positive["injury"]
    h.rider_batch([RawRecord(proc.topics.incidents, 0, 0, quiet.encode(), json.dumps(incident).encode(), 1.0)])
    assert all(y == [True, False] for y in h.riders[quiet]["labels"]["y"])
    assert proc.online.n_positive["injury"] == positives  # marked, not learned yet
    # only another rider's telemetry moves the stream on, 2 h later (past 60 + 30 min); two records,
    # as a jump of a rider's stream is applied once the next record confirms it (worker.max_stream_jump_s)
    last_busy = next(r for r in reversed(trips) if r.key == busy).value
    later = [{**last_busy.model_dump(mode="json"), "event_id": f"sweep-later-{i}",
              "ts": (last_busy.ts + timedelta(hours=2, seconds=i)).isoformat()} for i in range(2)]
    h.rider_batch([RawRecord(proc.topics.trip, 0, 10**6 + i, busy.encode(), json.dumps(rec).encode(), 1.0)
                   for i, rec in enumerate(later)])
    assert proc.online.n_positive["injury"] == positives + snaps
    assert h.riders[quiet]["labels"]["ts"] == []  # the silent rider's stored state was written back


def test_an_artifact_for_other_features_is_refused_at_start_and_on_reload(tmp_path: Path) -> None:
    root = copy_artifacts(tmp_path)
    good = (root / "CURRENT").read_text().strip()
    other = root / "lgbm-other-features"
    shutil.copytree(root / good, other)
    meta = json.loads((other / "metadata.json").read_text())
    meta["version"], meta["feature_names"] = "lgbm-other-features", list(reversed(meta["feature_names"]))
    (other / "metadata.json").write_text(json.dumps(meta))
    proc = Processor(settings(tmp_path, root))
    (root / "CURRENT").write_text(other.name)
    assert not proc.maybe_reload_models()
    assert proc.scorer.model_versions()["lightgbm"] == good
    fresh = Processor(settings(tmp_path / "again", root))
    assert fresh.scorer.lgbm is None and fresh.scorer.conservative_mode


def test_the_online_model_is_saved_only_when_it_learned_and_a_restart_reads_it(tmp_path: Path) -> None:
    root = copy_artifacts(tmp_path)
    proc = Processor(settings(tmp_path, root))
    assert not proc.save_online_model(if_changed=True)  # nothing learned yet
    proc.online.learn_one({"heat_index_c": 40.0}, True, False)
    assert proc.save_online_model(if_changed=True) and not proc.save_online_model(if_changed=True)
    assert Processor(settings(tmp_path, root)).online.n_learned == 1


def test_the_worker_waits_the_same_grace_for_late_reports_as_the_drift_replay() -> None:
    from models.labels import DEFAULT_GRACE_S

    assert WorkerSettings().label_grace_s == DEFAULT_GRACE_S


def test_an_artifact_of_another_horizon_sets_the_horizon_of_labels_population_and_scores(
        heatwave: list[Any], tmp_path: Path) -> None:
    root = copy_artifacts(tmp_path)
    meta_path = current_artifact_dir(root) / "metadata.json"
    meta = json.loads(meta_path.read_text())
    assert meta["horizon_min"] != 30
    meta["horizon_min"] = 30  # a card trained over half an hour
    meta_path.write_text(json.dumps(meta))
    proc = Processor(settings(tmp_path, root))
    assert proc.labels.horizon_s == 30 * 60.0
    assert proc.premium.population is not None and proc.premium.population.horizon_min == 30
    h = Harness(proc)
    h.feed(raw_records(proc.settings, heatwave[:3000]))
    scored = h.of("risk_scores") + [a for a in h.of("alerts") if a.get("risk")]
    assert h.of("risk_scores") and {r["risk"]["horizon_min"] for r in scored} == {30}  # was 60: mispriced
