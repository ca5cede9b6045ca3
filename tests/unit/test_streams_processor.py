"""The processor with plain dicts for tables: parsing, decisions, and state that survives a restart."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from streams.batch import BatchResult
from streams.driver import Driver, MemorySink
from streams.processor import Processor, RawRecord
from streams.settings import Settings, WorkerSettings

T = TypeVar("T")


def settings(tmp: Path) -> Settings:
    return Settings(worker=WorkerSettings(state_dir=tmp))


def raw_records(settings: Settings, records: list[Any]) -> list[RawRecord]:
    topics = settings.topics.by_role()
    offsets: dict[str, int] = {}
    out = []
    for rec in records:
        topic = topics[rec.role]
        offsets[topic] = offsets.get(topic, -1) + 1
        out.append(RawRecord(topic, 0, offsets[topic], rec.key.encode(), rec.value_bytes(), 1.0))
    return out


class Harness:
    """Drives a Processor through the driver the Faust app uses, with dicts as the tables."""

    def __init__(self, proc: Processor, riders: dict[str, Any] | None = None) -> None:
        self.proc = proc
        self.sink = MemorySink(riders)  # JSON round trip: what the changelog stores is what a restart reads
        self.riders = self.sink.riders
        self.driver = Driver(proc, self.sink)
        self.outputs: list[tuple[str, str, dict[str, Any]]] = []

    def feed(self, batch: list[RawRecord], batch_size: int = 200) -> None:
        self._run(self.driver.feed(batch, batch_size))

    def rider_batch(self, batch: list[RawRecord]) -> BatchResult:
        """One batch of the rider topics, as the ``telemetry`` agent hands it over."""
        return self._run(self.driver.riders(batch))

    def weather(self, batch: list[RawRecord], dead_letters: bool = True) -> BatchResult:
        """Weather records; ``dead_letters=False`` as a worker's weather feed reads them."""
        return self._run(self.driver.weather(batch, dead_letters=dead_letters))

    def _run(self, step: Coroutine[Any, Any, T]) -> T:
        out = asyncio.run(step)
        self.outputs += [(role, key, json.loads(value)) for role, key, value in self.sink.take_outputs()]
        return out

    def of(self, role: str) -> list[dict[str, Any]]:
        return [value for r, _, value in self.outputs if r == role]


def test_heat_wave_alerts_premiums_and_one_audit_per_decision(heatwave: list[Any], tmp_path: Path) -> None:
    s = settings(tmp_path)
    h = Harness(Processor(s))
    h.feed(raw_records(s, heatwave))
    alerts, premiums, audit = h.of("alerts"), h.of("risk_scores"), h.of("audit")
    assert any(a["kind"] == "heat" for a in alerts)
    assert all(a["message"]["zh-CN"] and a["message"]["en"] and a["reasons"] for a in alerts)
    assert premiums and all(p["reasons"] and "rider_id" not in p for p in premiums)
    assert len(audit) == len(alerts) + len(premiums)
    assert not h.of("dlq")


def test_bad_records_are_dead_lettered_with_source_and_reason(tmp_path: Path) -> None:
    s = settings(tmp_path)
    h = Harness(Processor(s))
    bad = [RawRecord(s.topics.wearable, 2, 41, b"r1", b"{oops", 1.0),
           RawRecord(s.topics.trip, 3, 7, b"r1", json.dumps({"event_id": "x", "ts": "2026-07-01T00:00:00Z",
                                                              "speed_kmh": -5}).encode(), 1.0),
           RawRecord(s.topics.weather, 0, 9, b"z", None, 1.0)]
    h.feed(bad)
    letters = h.of("dlq")
    assert [(d["source_topic"], d["partition"], d["offset"], d["error_class"]) for d in letters] == [
        (s.topics.weather, 0, 9, "empty"),
        (s.topics.wearable, 2, 41, "invalid_json"),
        (s.topics.trip, 3, 7, "validation_error"),
    ]
    assert "speed_kmh" in letters[2]["reason"]


def test_a_restarted_processor_continues_exactly_from_the_stored_state(heatwave: list[Any], tmp_path: Path) -> None:
    s = settings(tmp_path)
    batch = raw_records(s, heatwave)
    cut = len(batch) // 2 // 200 * 200  # on a batch boundary: scoring happens per batch
    straight = Harness(Processor(s))
    straight.feed(batch)

    first = Harness(Processor(settings(tmp_path / "b")))
    first.feed(batch[:cut])
    first.proc.save_online_model()
    # a new process: nothing in memory, only the table (changelog) and the online model file; its weather
    # feed reads the weather topic again before the riders' telemetry (streams.weather_feed)
    second = Harness(Processor(settings(tmp_path / "b")), riders=first.riders)
    rebuilt = second.weather([r for r in batch[:cut] if r.topic == s.topics.weather], dead_letters=False)
    assert not rebuilt.outputs and not rebuilt.states  # no rider is held yet: nothing to rescore
    second.feed(batch[cut:])
    assert first.outputs + second.outputs == straight.outputs


def test_duplicates_are_processed_once(heatwave: list[Any], tmp_path: Path) -> None:
    s = settings(tmp_path)
    batch = raw_records(s, heatwave[:3000])
    once, twice = Harness(Processor(s)), Harness(Processor(settings(tmp_path / "b")))
    once.feed(batch)
    twice.feed([r for rec in batch for r in (rec, rec)], batch_size=400)  # same batch boundaries
    assert twice.outputs == once.outputs


def test_an_unexpected_error_dead_letters_the_record_and_the_batch_goes_on(
    heatwave: list[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import streams.processor as processor_module

    s = settings(tmp_path)
    batch = raw_records(s, heatwave[:400])
    real_update = processor_module.update_wearable
    victim = next(r for r in batch if r.topic == s.topics.wearable)

    def flaky(state: Any, rec: Any, cfg: Any) -> Any:
        if rec.event_id == json.loads(victim.value)["event_id"]:
            raise ZeroDivisionError("bug in feature code")
        return real_update(state, rec, cfg)

    monkeypatch.setattr(processor_module, "update_wearable", flaky)
    h = Harness(Processor(s))
    h.feed(batch)
    letters = h.of("dlq")
    assert [(d["offset"], d["error_class"]) for d in letters] == [(victim.offset, "processing_error")]
    assert "ZeroDivisionError" in letters[0]["reason"]
    assert h.riders, "the other records were processed"


def test_a_record_from_the_future_is_dead_lettered(tmp_path: Path) -> None:
    s = settings(tmp_path)
    h = Harness(Processor(s))
    future = {"event_id": "f1", "ts": "2099-01-01T00:00:00Z", "rider_id": "r1", "accel_peak_g": 1.0,
              "accel_mean_g": 1.0, "accel_var": 0.0}
    h.feed([RawRecord(s.topics.wearable, 0, 3, b"r1", json.dumps(future).encode(), 1.0)])
    assert [d["error_class"] for d in h.of("dlq")] == ["future_timestamp"]
    assert "r1" not in h.proc.hot


def test_repeated_misjudgements_switch_to_the_conservative_mode(heatwave: list[Any], tmp_path: Path) -> None:
    s = settings(tmp_path)
    h = Harness(Processor(s))
    h.feed(raw_records(s, heatwave[:2000]))
    assert not h.proc.scorer.conservative_mode
    riders = sorted(h.proc.hot)[:3]
    for rider_id in riders:
        h.proc.hot[rider_id].last_risk = [0.0001, 0.0001]  # the models said: safe
    crashes = [RawRecord(s.topics.incidents, 0, i, r.encode(), json.dumps(
        {"event_id": f"inc-{i}", "ts": "2026-07-15T02:10:00Z", "rider_id": r, "kind": "crash"}).encode(), 1.0)
        for i, r in enumerate(riders)]
    h.feed(crashes)
    assert h.proc.scorer.conservative_mode
    h.outputs.clear()
    h.feed(raw_records(s, heatwave[2000:6000]))
    assert h.of("risk_scores") and all(p["conservative_mode"] for p in h.of("risk_scores"))


def test_state_written_before_one_owner_per_fact_still_loads(heatwave: list[Any], tmp_path: Path) -> None:
    s = settings(tmp_path)
    h = Harness(Processor(s))
    h.feed(raw_records(s, heatwave[:3000]))
    rider, state = next((r, st) for r, st in sorted(h.riders.items()) if st["labels"]["ts"])
    # as written before: the premium state's last update and band copied on the slot
    old = {**state, "last_premium": state["premium"]["last_period_end"], "band": state["premium"]["last_band"]}
    proc = Processor(settings(tmp_path / "b"))
    proc.bind_state(rider_store={rider: old})
    assert proc.slot(rider).band == old["band"] is not None
    assert proc.labels.rider_dict(rider) == state["labels"]  # the label buffer owns the labels again
    assert proc.stored_state(rider) == state  # written back without the copies
