"""The decision path's cost cuts keep its outputs: no model reasons computed where no output carries them, and
metrics counted in bulk count what they counted one by one."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Histogram

from models.blend import BlendedScorer
from models.scoring import LightGBMScorer
from riskstream.simulation import FleetSimulator, SimConfig
from riskstream.simulation.envelopes import envelopes
from streams import metrics
from streams.driver import Driver, MemorySink
from streams.processor import Processor
from streams.settings import Settings, WorkerSettings
from streams.worker import use_event_loop
from tests.unit.test_streams_processor import raw_records


@pytest.fixture(scope="module")
def fleet() -> list[Any]:
    """A heat-wave fleet's records, wearable and trip in envelopes of 10 as a phone uploads them."""
    sim = FleetSimulator(SimConfig(riders=12, seed=5, scenario="heatwave"))
    return list(envelopes([r for r in sim.records(25 * 60) if r.raw is None], 10))


def run(tmp: Path, records: list[Any]) -> tuple[list[tuple[str, str, bytes]], dict[str, Any]]:
    """Outputs and stored rider states of one fresh processor fed ``records`` the way the worker takes them."""
    settings = Settings(worker=WorkerSettings(state_dir=tmp))
    sink = MemorySink()
    asyncio.run(Driver(Processor(settings), sink).feed(raw_records(settings, records), batch_size=300))
    return sink.outputs, sink.riders


def test_the_worker_computes_no_model_reasons_and_decides_the_same(fleet, tmp_path, monkeypatch):
    """No published record carries LightGBM's reasons, so the processor asks for none: TreeSHAP is never run, and
    every alert, insurer, audit record and rider state equals a run that computes reasons for every score point."""
    explained: list[int] = []
    contributions = LightGBMScorer.contributions

    def counted(self: LightGBMScorer, X: Any) -> Any:
        explained.append(len(X))
        return contributions(self, X)

    monkeypatch.setattr(LightGBMScorer, "contributions", counted)
    outputs, states = run(tmp_path / "lean", fleet)
    assert explained == []  # the old processor explained every score point here
    decisions = {role for role, _, _ in outputs}
    assert {"alerts", "risk_scores", "audit"} <= decisions

    score_batch = BlendedScorer.score_batch
    monkeypatch.setattr(BlendedScorer, "score_batch",
                        lambda self, rows, now=None, explain=True: score_batch(self, rows, now, explain=True))
    explained_outputs, explained_states = run(tmp_path / "explained", fleet)
    assert sum(explained) > 0  # reasons were computed in this run, and changed nothing published
    assert outputs == explained_outputs
    assert states == explained_states


def test_observe_many_counts_as_observe_does():
    registry = CollectorRegistry()
    one = Histogram("one", "h", buckets=(0, 1, 5, 60), registry=registry)
    many = Histogram("many", "h", buckets=(0, 1, 5, 60), registry=registry)
    amounts = [0.0, 0.0, 0.5, 1.0, 1.0000001, 4.9, 5.0, 59.0, 60.0, 61.0, 3600.0, 2.5]
    for amount in amounts:
        one.observe(amount)
    metrics.observe_many(many, amounts)
    metrics.observe_many(many, [])
    samples = {name: [(s.labels, s.value) for s in family.samples] for family in registry.collect()
               for name in [family.name]}
    assert samples["many"] == samples["one"]
    assert registry.get_sample_value("many_bucket", {"le": "1.0"}) == 4


def test_labelled_children_are_the_metric_children():
    before = metrics.REGISTRY.get_sample_value("riskstream_records_consumed_total",
                                               {"topic": "t-children", "outcome": "processed"}) or 0.0
    child = metrics.records("t-children", "processed")
    child.inc()
    assert metrics.records("t-children", "processed") is child
    metrics.RECORDS.labels(topic="t-children", outcome="processed").inc()
    assert metrics.REGISTRY.get_sample_value("riskstream_records_consumed_total",
                                             {"topic": "t-children", "outcome": "processed"}) == before + 2


def test_the_worker_event_loop_is_the_one_asked_for():
    async def running() -> str:
        return type(asyncio.get_running_loop()).__module__

    try:
        assert WorkerSettings().event_loop == "asyncio"  # until the whole integration suite has run on uvloop
        assert use_event_loop("uvloop") == "uvloop" and asyncio.run(running()) == "uvloop"
        assert use_event_loop("asyncio") == "asyncio" and asyncio.run(running()) == "asyncio.unix_events"
    finally:
        asyncio.set_event_loop_policy(None)
