"""Issue 15: a model-risk text states what the served scorer's high scores came to, not its own claim.

lgbm-20261203-s7c warned riders at the injury scorer's 99th percentile on the calibration fleet
(p 0.177 over a mean of 0.073) with "about 2.4× your usual injury risk", while the snapshots scored
that high were injured 0.12 / 0.064 = 1.9× as often as all of them (1.3× on the test fleet). The card
now records, per target, the observed rate of the served scorer's highest 50/25/10/5/1 % on the
calibration fleet over the fleet's rate (``population.<target>.bands``, :func:`models.evaluate.risk_bands`),
and the text states the score over the mean but never more than the ratio of the most exclusive band the
rider's score reaches.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from alerts.config import AlertConfig
from alerts.policy import AlertPolicy, AlertState
from alerts.reference import PopulationRisk
from alerts.signals import build_signals
from models.artifact import ARTIFACTS_DIR, load_artifact
from models.evaluate import risk_bands
from riskstream.contracts.records import RiskScores
from streams.model_host import population_of


def _rr_in_text(alerts: list) -> float:
    (text,) = [r.text["en"] for a in alerts for r in a.reasons if r.code.startswith("MODEL_")]
    return float(re.search(r"about ([0-9.]+)×", text).group(1))


def test_the_text_says_the_observed_ratio_of_the_band_the_score_reaches() -> None:
    # the old card's numbers: mean 0.0732, 99th percentile 0.1766, where 18 of 150 were injured (base rate 0.0643)
    population = PopulationRisk(injury=0.0732, accident=0.0644, injury_top_1pct=0.1766,
                                injury_bands=((0.0700, 1.15), (0.1766, 0.12 / 0.0643)))
    policy = AlertPolicy(AlertConfig(), population=population)
    out = policy.evaluate(AlertState(), {}, RiskScores(injury=0.1766, accident=0.05), 0)
    assert _rr_in_text(out) == 1.9  # not 0.1766 / 0.0732 = 2.4
    # without bands (an older card) the text keeps the score over the mean
    plain = AlertPolicy(AlertConfig(), population=PopulationRisk(injury=0.0732, accident=0.0644, injury_top_1pct=0.1766))
    assert _rr_in_text(plain.evaluate(AlertState(), {}, RiskScores(injury=0.1766, accident=0.05), 0)) == 2.4


def test_risk_bands_need_enough_positives_and_count_ties() -> None:
    rng = np.random.default_rng(3)
    p = np.round(rng.uniform(0, 0.3, 20000), 2)  # coarse scores: many ties at each value
    y = (rng.random(20000) < p).astype(int)
    bands = risk_bands(p, y)
    assert [b["share"] for b in bands] == [0.5, 0.25, 0.1, 0.05, 0.01]
    for b in bands:
        pick = p >= b["p_from"]
        assert b["n"] == pick.sum() >= b["share"] * 20000 and b["n_pos"] == y[pick].sum() >= 30
        assert b["rr"] == pytest.approx(y[pick].mean() / y.mean())
    assert [b["share"] for b in risk_bands(p, y, min_positives=100)] == [0.5, 0.25, 0.1, 0.05]


@pytest.mark.skipif(not (ARTIFACTS_DIR / "CURRENT").exists(), reason="no shipped artifact")
@pytest.mark.parametrize("target", ["injury", "accident"])
def test_the_shipped_warning_states_the_calibration_fleets_ratio(target: str) -> None:
    bundle = load_artifact()
    population = population_of(bundle)
    assert population is not None
    card = bundle.metadata["population"][target]
    assert card["bands"], f"{bundle.version} records no risk bands for {target}"
    line = next(s for s in build_signals(AlertConfig(), population) if s.feature == f"p_{target}").rules[0].enter
    other = {"injury": "accident", "accident": "injury"}[target]
    risk = RiskScores(**{target: line, other: 0.5 * population.rate(other)})
    out = AlertPolicy(AlertConfig(), population=population).evaluate(AlertState(), {}, risk, 0)
    reached = [b for b in card["bands"] if line >= b["p_from"]]
    claim = line / population.rate(target)
    want = min(claim, reached[-1]["observed"] / card["base_rate"]) if reached else claim
    assert _rr_in_text(out) == round(want, 1)
