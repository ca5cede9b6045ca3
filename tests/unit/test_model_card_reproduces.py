"""The shipped card's metrics are reproducible: CI recomputes them on the card's small deterministic fleet.

``riskstream train`` records ``ci_check`` (:func:`riskstream.lab.scorecard.ci_check`): the served scorer's,
LightGBM's and the baselines' ROC-AUC, log loss, Brier, ECE and mean p on a 16-rider, 3-hour fleet
(seed 4242, scale 1, the day after training). The simulator and LightGBM are deterministic, so the
same code must give the same numbers within the card's stated tolerance (1e-6, for floating-point
differences between machines); a change to features, simulation, scoring or metrics that moves them
fails here until the card is regenerated.
"""

from __future__ import annotations

import math

import pytest

from models.artifact import load_artifact
from riskstream.lab.scorecard import CI_METRICS, ci_check


def test_shipped_card_metrics_reproduce_on_the_ci_fleet() -> None:
    bundle = load_artifact()
    recorded = bundle.metadata.get("ci_check")
    assert recorded, f"artifact {bundle.version} has no ci_check block: retrain it with `riskstream train`"
    again = ci_check(bundle)
    assert again["fleet"] == recorded["fleet"]
    tol = float(recorded["tolerance"])
    for target, scorers in recorded["metrics"].items():
        for name, metrics in scorers.items():
            for key in CI_METRICS:
                want, got = metrics[key], again["metrics"][target][name][key]
                if want is None:  # NaN on the card (e.g. an AUC without positives) stays NaN
                    assert got is None or not math.isfinite(got), (target, name, key)
                else:
                    assert got == pytest.approx(want, abs=tol), (target, name, key)
    # the served target choice is the card's: served equals LightGBM exactly where LightGBM serves
    for target, choice in bundle.metadata["serving"].items():
        same = all(again["metrics"][target]["served"][k] == again["metrics"][target]["lightgbm"][k] for k in CI_METRICS)
        assert same == (choice["scorer"] == "lightgbm"), (target, choice)
