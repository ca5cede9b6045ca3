"""Fleet simulator: determinism, schema validity, privacy, faults, delayed labels."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from features.catalog import PROTECTED_ATTRIBUTES
from riskstream.contracts.records import TOPIC_MODELS, Incident
from riskstream.simulation import FleetSimulator, SimConfig, read_jsonl, write_jsonl


def _run(seconds: float, **kw) -> tuple[FleetSimulator, list]:
    sim = FleetSimulator(SimConfig(**kw))
    return sim, list(sim.records(seconds))


def _bytes(recs) -> list[tuple[str, str, bytes]]:
    return [(r.role, r.key, r.value_bytes()) for r in recs]


def test_same_config_and_seed_give_identical_bytes():
    kw = dict(riders=20, seed=11, scenario="mixed", malformed_rate=0.01, late_rate=0.01, duplicate_rate=0.01,
              gps_jump_rate=0.01, wearable_dropout_rate=0.02, emit_true_hazard=True)
    _, a = _run(1200, **kw)
    _, b = _run(1200, **kw)
    assert len(a) > 10_000
    assert _bytes(a) == _bytes(b)
    assert [r.true_hazard for r in a] == [r.true_hazard for r in b]
    _, c = _run(1200, **{**kw, "seed": 12})
    assert _bytes(a) != _bytes(c)


def test_chunked_calls_continue_the_same_world():
    _, whole = _run(1200, riders=10, seed=4)
    sim = FleetSimulator(SimConfig(riders=10, seed=4))
    parts = list(sim.records(600, drain=False)) + list(sim.records(600))
    assert _bytes(parts) == _bytes(whole)


def test_every_generated_record_validates_against_its_schema():
    _, recs = _run(3600, riders=30, seed=5, scenario="mixed", hazard_scale=20.0)
    by_role = Counter(r.role for r in recs)
    assert {"wearable", "trip", "weather", "incidents"} <= set(by_role)
    for i, r in enumerate(recs):
        if r.role in ("weather", "incidents") or i % 37 == 0:
            model = TOPIC_MODELS[r.role]
            again = model.model_validate_json(r.value_bytes())
            assert again == r.value


def test_protected_attributes_exist_but_never_reach_a_record(tmp_path):
    sim, recs = _run(1800, riders=25, seed=6, emit_true_hazard=True, hazard_scale=20.0)
    profiles = sim.rider_profiles()
    assert all({"sex", "age_band"} <= set(p) for p in profiles.values())
    assert {p["sex"] for p in profiles.values()} == {"female", "male"}
    path = tmp_path / "sim.jsonl"
    write_jsonl(recs, path)
    text = path.read_text()
    for line in text.splitlines()[:: 50]:
        keys = _all_keys(json.loads(line))
        assert not keys & PROTECTED_ATTRIBUTES
    assert '"female"' not in text and '"age_band"' not in text and '"sex"' not in text


def _all_keys(obj) -> set[str]:
    if isinstance(obj, dict):
        return set(obj) | set().union(*(_all_keys(v) for v in obj.values()))
    return set()


def test_faults_appear_at_roughly_the_configured_rates():
    rates = dict(wearable_dropout_rate=0.05, gps_jump_rate=0.01, duplicate_rate=0.01, late_rate=0.02,
                 malformed_rate=0.005)
    sim, recs = _run(1800, riders=40, seed=8, **rates)
    n_trip = sim.stats.records["trip"]
    n_all = sum(sim.stats.records.values())
    faults = Counter(r.fault.split(":")[0] for r in recs if r.fault)
    assert faults["gps_jump"] / n_trip == pytest.approx(0.01, rel=0.3)
    assert faults["duplicate"] / n_all == pytest.approx(0.01, rel=0.3)
    assert faults["late"] / n_all == pytest.approx(0.02, rel=0.3)
    assert faults["malformed"] / n_all == pytest.approx(0.005, rel=0.3)
    wear_online = sim.stats.records["wearable"] + sim.stats.faults["wearable_dropout"]
    assert sim.stats.faults["wearable_dropout"] / wear_online == pytest.approx(0.05, rel=0.5)
    # duplicates repeat an event id; late records come after later event times
    ids = Counter(r.value.event_id for r in recs if r.value is not None)
    assert sum(v - 1 for v in ids.values()) == faults["duplicate"]
    newest, out_of_order = None, 0
    for r in recs:
        if r.value is None or r.role == "incidents":
            continue
        if r.fault == "late":
            out_of_order += r.value.ts < newest
        newest = r.value.ts if newest is None else max(newest, r.value.ts)
    assert out_of_order >= 0.9 * faults["late"]
    for r in recs:
        if r.raw is not None and r.fault != "malformed:huge_payload":  # too large, not invalid
            with pytest.raises(ValueError):
                TOPIC_MODELS["wearable"].model_validate_json(r.raw)


def test_no_faults_by_default():
    sim, recs = _run(900, riders=20, seed=9)
    assert not any(r.fault or r.raw for r in recs)
    ids = [r.value.event_id for r in recs]
    assert len(ids) == len(set(ids))


def test_incidents_are_reported_after_they_happen_and_stop_the_rider():
    sim, recs = _run(5400, riders=30, seed=10, scenario="storm", hazard_scale=20.0)
    incidents = [r for r in recs if r.role == "incidents"]
    assert len(incidents) >= 10 and len(incidents) == len(sim.incident_log)
    for entry in sim.incident_log:
        delay = entry["reported_epoch"] - entry["epoch"]
        assert 60.0 <= delay <= 1200.0
    # after a crash or fall: an impact peak, then ≥ 10 s of stillness, then nothing but offline
    log = {e["rider_id"]: e for e in sim.incident_log if e["kind"] in ("crash", "fall")}
    rid, entry = next(iter(log.items()))
    wear = [r.value for r in recs if r.role == "wearable" and r.key == rid and r.value.epoch >= entry["epoch"]]
    assert wear[0].accel_peak_g >= 4.0
    assert len(wear) >= 11 and all(w.accel_var < 0.005 and abs(w.accel_mean_g - 1) < 0.02 for w in wear[1:11])
    trips = [r.value for r in recs if r.role == "trip" and r.key == rid and r.value.epoch > entry["epoch"]]
    assert trips[-1].status.value == "offline"
    assert isinstance(incidents[0].value, Incident)


def test_jsonl_round_trip_keeps_values_and_raw_payloads(tmp_path):
    _, recs = _run(600, riders=10, seed=2, malformed_rate=0.01, emit_true_hazard=True)
    path = tmp_path / "sim.jsonl.gz"
    assert write_jsonl(recs, path) == len(recs)
    back = list(read_jsonl(path))
    assert _bytes(back) == _bytes(recs)
    assert [r.true_hazard for r in back] == [r.true_hazard for r in recs]


def test_bad_config_is_refused_with_a_reason():
    with pytest.raises(ValueError, match="scenario"):
        SimConfig(scenario="tornado")
    with pytest.raises(ValueError, match="late_rate"):
        SimConfig(late_rate=1.5)
