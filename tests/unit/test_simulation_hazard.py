"""Ground-truth hazard and the weather it is driven by."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from riskstream.simulation import FleetSimulator, HazardContext, SimConfig, true_hazard, true_heat_index_f
from riskstream.simulation.hazard import event_probability
from riskstream.simulation.weather import ZoneWeatherModel


def _contexts(n: int, seed: int) -> HazardContext:
    rng = np.random.default_rng(seed)
    return HazardContext(
        riding=rng.random(n) < 0.7, speed_kmh=rng.uniform(0, 40, n), speeding=rng.random(n) < 0.1,
        phone_moving=rng.random(n) < 0.05, harsh_brakes_10m=rng.poisson(0.5, n),
        heat_index_f=rng.uniform(80, 120, n), strain_psi=rng.uniform(1, 8, n),
        continuous_riding_min=rng.uniform(0, 300, n), online_hours=rng.uniform(0, 13, n),
        night=rng.random(n) < 0.1, aggressiveness=rng.beta(2, 3.5, n))


def test_rain_roughly_doubles_the_crash_rate_all_else_equal():
    ctx = _contexts(20_000, 1)
    dry = true_hazard(ctx).crash.sum()
    wet = true_hazard(dataclasses.replace(ctx, precip_mm_h=np.full(20_000, 3.0))).crash.sum()
    heavy_onset = true_hazard(dataclasses.replace(ctx, precip_mm_h=np.full(20_000, 20.0),
                                                  rain_onset=np.ones(20_000, bool))).crash.sum()
    assert wet / dry == pytest.approx(2.0, rel=0.05)
    assert 2.0 < heavy_onset / dry <= 3.6  # Brodsky & Hakkert: 2-3, more after a dry spell


def _crash_hazard_sum(precip: float) -> float:
    # a negligible hazard scale draws no incidents, so both runs ride the same trajectories
    sim = FleetSimulator(SimConfig(riders=60, seed=21, emit_true_hazard=True, hazard_scale=1e-9,
                                   weather_override={"precipitation_mm_h": precip, "rain_onset": False}))
    return sum(r.true_hazard["crash"] for r in sim.records(1800) if r.role == "trip")


def test_rain_roughly_doubles_the_crash_hazard_along_simulated_rides():
    ratio = _crash_hazard_sum(3.0) / _crash_hazard_sum(0.0)
    assert 1.8 < ratio < 2.3


def test_incidents_are_drawn_at_the_true_hazard():
    sim = FleetSimulator(SimConfig(riders=100, seed=5, hazard_scale=30.0, emit_true_hazard=True))
    expected = {k: 0.0 for k in ("crash", "fall", "heat_illness", "exhaustion")}
    for r in sim.records(2400):
        if r.role == "trip":
            for k in expected:
                expected[k] += r.true_hazard[k] / 3600.0
    total = sum(expected.values())
    observed = len(sim.incident_log)
    assert total > 40
    assert abs(observed - total) < 4 * total ** 0.5
    crashes = sum(e["kind"] == "crash" for e in sim.incident_log)
    assert abs(crashes - expected["crash"]) < 4 * expected["crash"] ** 0.5 + 1


def test_heat_illness_rises_sharply_in_nws_danger():
    base = HazardContext(online=True, heat_index_f=95.0)
    r95 = true_hazard(base).heat_illness
    r110 = true_hazard(dataclasses.replace(base, heat_index_f=110.0)).heat_illness
    r125 = true_hazard(dataclasses.replace(base, heat_index_f=125.0)).heat_illness
    assert r110 / r95 > 4 and r125 > r110


def test_offline_riders_have_no_hazard_and_probability_matches_rate():
    r = true_hazard(HazardContext(online=False, riding=False))
    assert r.total == 0.0
    assert event_probability(0.0, 60) == 0.0
    assert event_probability(1.0, 60) == pytest.approx(1 - np.exp(-1))


def test_hazard_does_not_take_protected_attributes():
    names = {f.name for f in dataclasses.fields(HazardContext)}
    assert not names & {"sex", "gender", "age", "age_band", "ethnicity"}


def test_heatwave_zone_reaches_nws_danger():
    # weather is a per-zone process: step it directly over a day (the simulator emits the same values)
    cfg = SimConfig(scenario="mixed")
    start = cfg.start.timestamp()
    hot = [z for z, sc in cfg.zone_scenarios().items() if sc == "heatwave"]
    model = ZoneWeatherModel(cfg.zones.index(hot[0]), "heatwave", start, seed=3)
    days = [model.step(start + k * 300.0) for k in range(24 * 12)]
    assert max(w.heat_index_f for w in days) > 105.8  # 41 °C: NWS danger
    assert min(w.daily_max_temp_c for w in days) >= 35.0  # China: shorten outdoor work


def test_simulator_emits_weather_for_every_zone_at_start_and_every_interval():
    sim = FleetSimulator(SimConfig(riders=1, seed=3, scenario="heatwave", weather_interval_s=300))
    obs = [r.value for r in sim.records(3600) if r.role == "weather"]
    assert [o.zone_id for o in obs[:4]] == list(sim.config.zones)
    assert len(obs) == 4 * 12
    assert max(true_heat_index_f(o.air_temp_c, o.relative_humidity_pct) for o in obs) > 103.0


def test_storm_brings_heavy_rain_gusts_low_visibility_and_flooding():
    start = SimConfig().start.timestamp()
    model = ZoneWeatherModel(1, "storm", start, seed=3)
    obs = [model.step(start + k * 300.0) for k in range(4 * 12)]
    assert max(o.precipitation_mm_h for o in obs) > 20
    assert max(o.wind_gust_ms for o in obs) > 13.9
    assert min(o.visibility_m for o in obs) < 1000
    assert any(o.road_flooding for o in obs)
    assert any(o.rain_onset for o in obs) or all(o.precipitation_mm_h > 0 for o in obs[:1])


def test_a_weather_override_can_cover_every_other_zone_only():
    sim = FleetSimulator(SimConfig(riders=4, seed=3, weather_override={"precipitation_mm_h": 9.0},
                                   weather_override_every=2))
    weather = [r.value for r in sim.records(600) if r.role == "weather"]
    by_zone: dict[str, set[float]] = {}
    for w in weather:
        by_zone.setdefault(w.zone_id, set()).add(w.precipitation_mm_h)
    zones = list(SimConfig().zones)
    assert all(by_zone[z] == {9.0} for z in zones[::2])
    assert all(9.0 not in by_zone[z] for z in zones[1::2])


def test_cache_keys_of_fleets_simulated_before_weather_every_are_unchanged():
    import hashlib
    import json
    from dataclasses import asdict, replace

    from riskstream.lab.train import ShardSpec, spec_key

    spec = ShardSpec(0, 10, 1.0, 7, weather=(("precipitation_mm_h", 3.0),))
    old = {k: v for k, v in asdict(spec).items() if k != "weather_every"}
    assert spec_key([spec]) == hashlib.sha256(json.dumps([old], sort_keys=True).encode()).hexdigest()[:16]
    assert spec_key([replace(spec, weather_every=2)]) != spec_key([spec])
