"""Fixtures shared by the unit tests."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def heatwave() -> list[Any]:
    """30 minutes of a 6-rider heat wave from the simulator (deterministic)."""
    from riskstream.simulation import FleetSimulator, SimConfig

    return list(FleetSimulator(SimConfig(riders=6, seed=4, scenario="heatwave")).records(30 * 60))
