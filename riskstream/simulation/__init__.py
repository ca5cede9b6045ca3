"""Deterministic fleet simulator: a pure data source for riskstream's input topics.

>>> from riskstream.simulation import FleetSimulator, SimConfig
>>> sim = FleetSimulator(SimConfig(riders=2, seed=0))
>>> any(r.role == "weather" for r in sim.records(1))
True
"""

from __future__ import annotations

from .files import read_jsonl, write_jsonl
from .fleet import DEFAULT_ZONES, SCENARIOS, FleetSimulator, SimConfig, SimStats, advice_action
from .hazard import HazardContext, HazardRates, event_probability, true_hazard, true_heat_index_f
from .records import SimRecord

__all__ = [
    "DEFAULT_ZONES", "SCENARIOS", "FleetSimulator", "advice_action", "SimConfig", "SimStats", "SimRecord",
    "HazardContext", "HazardRates", "true_hazard", "event_probability", "true_heat_index_f",
    "write_jsonl", "read_jsonl",
]
