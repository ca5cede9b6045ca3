"""PremiumCalculator: credibility, cap, bounds, reasons, safe-riding discount, publishing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from alerts.config import PremiumConfig
from alerts.premium import PremiumCalculator, PremiumState, combined_probability, should_publish
from alerts.reference import PopulationRisk
from riskstream.contracts.records import RiskBand, RiskScores

HOUR = 3600.0
DAY = 86_400.0
SAFE = {"harsh_brakes_60m": 0, "harsh_accels_10m": 0, "speeding_s_10m": 0, "phone_handling_s_10m": 0}
RISKY = RiskScores(injury=0.004, accident=0.002)  # own loss 8 + 10 = 18 per hour, 6x the class mean of 3


def run(calc: PremiumCalculator, state: PremiumState, risk: RiskScores, hours: int, start: float = 0.0, features=None):
    out = []
    for h in range(hours):
        out.append(calc.update(state, risk, features or {}, 1.0, start + (h + 1) * HOUR))
    return out


def test_credibility_keeps_a_new_rider_near_the_class_mean() -> None:
    calc = PremiumCalculator(PremiumConfig())
    d = calc.update(PremiumState(), RISKY, {}, exposure_hours=1.0, now=HOUR)
    assert d.credibility == pytest.approx(1 / 161)
    assert d.expected_loss == pytest.approx(3.0 + (18.0 - 3.0) / 161)
    assert d.multiplier == pytest.approx(d.expected_loss / 3.0)  # under the cap
    assert abs(d.multiplier - 1.0) < 0.1
    assert "LOW_CREDIBILITY" in [r.code for r in d.reasons]


def test_credibility_grows_with_exposure() -> None:
    calc = PremiumCalculator(PremiumConfig(max_change=0.99, max_multiplier=100))
    state = PremiumState()
    zs = [d.credibility for d in run(calc, state, RISKY, 400)]
    assert zs == sorted(zs) and zs[159] == pytest.approx(0.5)


def test_change_per_pricing_period_is_capped_at_10_percent() -> None:
    calc = PremiumCalculator(PremiumConfig(max_multiplier=10.0))
    state = PremiumState(exposure_hours=10_000.0)  # fully credible
    ds = run(calc, state, RISKY, 48)  # two days of hourly updates
    # the period starts at the first update (1 h) with base 1.0 and lasts 24 h
    assert [d.multiplier for d in ds[:24]] == pytest.approx([1.10] * 24)
    assert [d.multiplier for d in ds[24:]] == pytest.approx([1.21] * 24)
    assert all("CAP_APPLIED" in [r.code for r in d.reasons] for d in ds)
    # downwards too
    down = PremiumState(exposure_hours=1e6, smoothed_expected_loss=0.0, last_multiplier=1.4)
    d = calc.update(down, RiskScores(injury=0.0, accident=0.0), {}, 1.0, HOUR)
    assert d.multiplier == pytest.approx(1.26) and [r.code for r in d.reasons][0] == "RISK_DOWN"


def test_bounds_are_respected() -> None:
    cfg = PremiumConfig(max_change=0.5)
    calc = PremiumCalculator(cfg)
    high, low = PremiumState(exposure_hours=1e6), PremiumState(exposure_hours=1e6)
    for day in range(10):
        dh = calc.update(high, RISKY, {}, 8.0, (day + 1) * DAY)
        dl = calc.update(low, RiskScores(injury=0.0, accident=0.0), SAFE, 8.0, (day + 1) * DAY)
        assert cfg.min_multiplier <= dl.multiplier <= dh.multiplier <= cfg.max_multiplier
    assert dh.multiplier == 1.5 and dl.multiplier == 0.7
    assert "BOUND_APPLIED" in [r.code for r in dh.reasons] and "BOUND_APPLIED" in [r.code for r in dl.reasons]


def test_every_decision_has_reasons_and_direction_matches() -> None:
    calc = PremiumCalculator(PremiumConfig())
    state = PremiumState()
    risks = [RISKY] * 30 + [RiskScores(injury=0.0005, accident=0.0001)] * 30
    for i, r in enumerate(risks):
        d = calc.update(state, r, SAFE if i % 3 else {}, 4.0, (i + 1) * DAY)
        codes = [x.code for x in d.reasons]
        assert codes and all(set(x.text) == {"zh-CN", "en"} for x in d.reasons)
        assert codes[0] in {"RISK_UP", "RISK_DOWN", "RISK_STABLE"}
        if d.previous_multiplier is not None and d.multiplier > d.previous_multiplier * 1.001:
            assert codes[0] == "RISK_UP"
        if d.previous_multiplier is not None and d.multiplier < d.previous_multiplier * 0.999:
            assert codes[0] == "RISK_DOWN"


def test_main_driver_names_the_larger_part_of_expected_loss() -> None:
    d = PremiumCalculator().update(PremiumState(), RiskScores(injury=0.01, accident=0.001), {}, 1.0, HOUR)
    driver = next(r for r in d.reasons if r.code.startswith("MAIN_DRIVER"))
    assert driver.code == "MAIN_DRIVER_INJURY" and driver.value == pytest.approx(20 / 25)


def test_safe_riding_earns_a_discount_and_unknown_is_not_safe() -> None:
    calc = PremiumCalculator(PremiumConfig())
    base = RiskScores(injury=0.001, accident=0.0002)  # exactly the class mean: 2 + 1 = 3
    safe, unknown, risky = PremiumState(exposure_hours=1e6), PremiumState(exposure_hours=1e6), PremiumState(exposure_hours=1e6)
    for day in range(30):
        ds = calc.update(safe, base, SAFE, 8.0, (day + 1) * DAY)
        du = calc.update(unknown, base, {}, 8.0, (day + 1) * DAY)
        dr = calc.update(risky, base, dict(SAFE, harsh_brakes_60m=2), 8.0, (day + 1) * DAY)
    assert 0.09 < ds.safe_riding_discount <= 0.10
    assert ds.multiplier == pytest.approx(1.0 - ds.safe_riding_discount, rel=1e-6)
    assert "SAFE_RIDING_DISCOUNT" in [r.code for r in ds.reasons]
    assert du.safe_riding_discount == 0.0 and dr.safe_riding_discount == 0.0
    assert du.multiplier == pytest.approx(1.0)


def test_zero_exposure_changes_nothing_and_bad_exposure_is_rejected() -> None:
    calc = PremiumCalculator()
    state = PremiumState()
    d1 = calc.update(state, RISKY, {}, 10.0, HOUR)
    d2 = calc.update(state, RiskScores(injury=0, accident=0), {}, 0.0, 2 * HOUR)
    assert d2.multiplier == pytest.approx(d1.multiplier) and d2.exposure_hours == 10.0
    with pytest.raises(ValueError, match="exposure_hours"):
        calc.update(state, RISKY, {}, float("nan"), 3 * HOUR)


def test_risk_score_and_band() -> None:
    assert combined_probability(RiskScores(injury=0.05, accident=0.05)) == pytest.approx(0.0975)
    d = PremiumCalculator().update(PremiumState(), RiskScores(injury=0.05, accident=0.06), {}, 1.0, HOUR)
    assert d.risk_band is RiskBand.severe


def test_should_publish_on_cadence_band_or_material_change() -> None:
    calc = PremiumCalculator()
    state = PremiumState()
    d = calc.update(state, RISKY, {}, 1.0, HOUR)
    assert should_publish(state, d, HOUR, cadence_s=900)
    state.mark_published(d, HOUR)
    d2 = calc.update(state, RISKY, {}, 0.01, HOUR + 60)
    assert not should_publish(state, d2, HOUR + 60, cadence_s=900)
    assert should_publish(state, d2, HOUR + 900, cadence_s=900)
    d3 = calc.update(state, RISKY, {}, 20.0, HOUR + 120)  # a big exposure step moves the price > 2 %
    assert d3.multiplier / d.multiplier - 1 > 0.02 and should_publish(state, d3, HOUR + 120, cadence_s=900)


def test_state_round_trips_through_json() -> None:
    calc = PremiumCalculator()
    state = PremiumState()
    run(calc, state, RISKY, 5, features=SAFE)
    state2 = PremiumState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert state2 == state
    a = calc.update(state, RISKY, SAFE, 1.0, 10 * HOUR)
    b = calc.update(state2, RISKY, SAFE, 1.0, 10 * HOUR)
    assert a == b


def test_config_rejects_bounds_that_exclude_the_class_price() -> None:
    with pytest.raises(ValueError, match="contain 1.0"):
        PremiumConfig(min_multiplier=1.1)


# --- the class mean and the bands from the population the model is calibrated for

POPULATION = PopulationRisk(injury=0.063, accident=0.064, horizon_min=60, source="card")


def test_a_fleet_at_the_population_risk_averages_a_multiplier_of_one() -> None:
    """Riders scored around the card population, at simulator scale, are priced around 1.0 on average.

    Without the population the same scores run every rider to the cap (the absolute class mean
    is for real-world probabilities, ~100x smaller).
    """
    rng = np.random.default_rng(3)
    cfg = PremiumConfig(max_change=0.99, min_multiplier=0.01, max_multiplier=100.0, safe_riding_max_discount=0.0)
    # per rider a lognormal risk level with mean 1 (sigma 0.5), per hour noise around it
    levels = rng.lognormal(-0.125, 0.5, size=150)
    means = {}
    for use_population in (True, False):
        calc = PremiumCalculator(cfg, POPULATION if use_population else None)
        finals = []
        for level in levels:
            state = PremiumState()
            for h in range(150):
                k = level * rng.lognormal(-0.02, 0.2)
                risk = RiskScores(injury=min(0.9, POPULATION.injury * k), accident=min(0.9, POPULATION.accident * k))
                d = calc.update(state, risk, {}, 1.0, (h + 1) * HOUR)
            finals.append(d.multiplier)
        means[use_population] = float(np.mean(finals))
    assert means[True] == pytest.approx(1.0, abs=0.03)
    assert means[False] > 20  # the scale mismatch the population fixes


def test_bands_are_multiples_of_the_population_risk() -> None:
    calc = PremiumCalculator(PremiumConfig(), POPULATION)
    base = POPULATION.any_event
    assert calc.band_cuts() == pytest.approx((0.8 * base, 1.5 * base, 3.0 * base))
    bands = []
    for ratio in (0.5, 1.0, 2.0, 4.0):
        p = 1 - (1 - base * ratio) ** 0.5  # split evenly so the combined probability is ratio × base
        bands.append(calc.update(PremiumState(), RiskScores(injury=p, accident=p), {}, 1.0, HOUR).risk_band)
    assert bands == [RiskBand.low, RiskBand.moderate, RiskBand.high, RiskBand.severe]
    d = calc.update(PremiumState(), RiskScores(injury=0.05, accident=0.05), {}, 1.0, HOUR)
    assert d.thresholds["population_p_injury"] == 0.063 and d.thresholds["band_cut_severe"] == pytest.approx(3 * base)
    assert d.thresholds["class_expected_loss_per_hour"] == pytest.approx(0.063 * 2000 + 0.064 * 5000)


def test_conservative_hold_keeps_the_multiplier_and_never_lowers_the_band() -> None:
    calc = PremiumCalculator(PremiumConfig(), POPULATION)
    state = PremiumState(exposure_hours=1000.0)
    risky = RiskScores(injury=0.3, accident=0.3)
    for h in range(30):
        before = calc.update(state, risky, {}, 1.0, (h + 1) * HOUR)
    assert before.multiplier > 1.1 and before.risk_band == RiskBand.severe
    smoothed = state.smoothed_expected_loss
    # rule-based scores are on the real-world scale: low, but they must not reprice or relabel anybody
    calm = RiskScores(injury=0.002, accident=0.003)
    held = [calc.update(state, calm, SAFE, 1.0, (31 + h) * HOUR, hold=True) for h in range(48)]
    assert all(d.multiplier == before.multiplier for d in held)
    assert all(d.risk_band == RiskBand.severe for d in held)
    assert all([r.code for r in d.reasons][0] == "CONSERVATIVE_HOLD" for d in held)
    assert state.smoothed_expected_loss == smoothed and state.exposure_hours == 1000.0 + 30 + 48
    # rules that see danger still raise the band (absolute cuts for rule-based scores)
    fresh = PremiumState()
    d = calc.update(fresh, RiskScores(injury=0.05, accident=0.08), {}, 1.0, HOUR, hold=True)
    assert d.risk_band == RiskBand.severe and d.multiplier == 1.0


def test_band_cuts_can_be_set_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from streams.settings import Settings

    monkeypatch.setenv("RISKSTREAM_PREMIUM__BAND_CUTS_RELATIVE", "[0.7, 1.4, 2.5]")
    monkeypatch.setenv("RISKSTREAM_PREMIUM__BAND_CUTS", "0.02,0.05,0.2")
    cfg = Settings().premium
    assert cfg.band_cuts_relative == (0.7, 1.4, 2.5) and cfg.band_cuts == (0.02, 0.05, 0.2)
    with pytest.raises(ValueError, match="not three numbers"):
        PremiumConfig(band_cuts="low,high")
