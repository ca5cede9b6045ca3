"""The online-corrections default: measured per setting on a drift and a no-drift fleet, chosen by issue 15's rule."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from models.artifact import TARGETS
from riskstream.lab.corrections import MODES, choose_default, measure
from streams.settings import WorkerSettings

REPORT = Path(__file__).resolve().parents[2] / "docs" / "reports" / "model-online-corrections.json"


def _replay(rng: np.random.Generator, n: int, level_after: float, recal_fix: bool) -> pd.DataFrame:
    """A replay result: risk rises ``level_after``-fold halfway; ``recalibrated`` follows it if ``recal_fix``."""
    ts = 1_780_000_000.0 + np.arange(n) * 10.0
    x = rng.random(n)
    late = np.arange(n) >= n // 2
    true = 0.05 * x * np.where(late, level_after, 1.0)
    out = {"ts": ts, "rider_id": [f"r{i % 40}" for i in range(n)]}
    for t in TARGETS:
        y = (rng.random(n) < true).astype(int)
        off = 0.05 * x
        out[f"y_{t}"] = y
        out[f"p_{t}_lightgbm"] = off
        out[f"p_{t}_recalibrated"] = true if recal_fix else off
        out[f"p_{t}_blend"] = 0.5 * off + 0.5 * rng.random(n) * 0.1  # River noise mixed in: worse ranking
    return pd.DataFrame(out)


def test_a_setting_that_fixes_the_drift_and_costs_nothing_without_it_becomes_the_default():
    rng = np.random.default_rng(3)
    n = 40_000
    drift = _replay(rng, n, 4.0, recal_fix=True)
    steady = _replay(rng, n, 1.0, recal_fix=True)  # without drift the recalibration serves what off serves
    hours_to_drift = (drift["ts"].iloc[n // 2] - drift["ts"].iloc[0]) / 3600.0
    spans = measure(drift, steady, hours_to_drift)
    assert set(spans) == {"drift", "no_drift"} and set(spans["drift"]["after"]["injury"]) == set(MODES)
    chosen, why = choose_default(spans)
    assert chosen == "recalibrate", why
    assert "loses without drift" in why["recalibrate+river"] and "ROC-AUC" in why["recalibrate+river"]


def test_the_worker_default_is_the_one_the_committed_measurement_chose():
    report = json.loads(REPORT.read_text())
    assert report["artifact"] and report["command"].startswith("riskstream evaluate --online-corrections")
    assert WorkerSettings.model_fields["online_corrections"].default == report["default"]
    assert report["default"] == choose_default(report["spans"])[0]
