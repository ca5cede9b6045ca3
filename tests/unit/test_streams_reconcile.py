"""Per-rider record counters in the changelogged state, and the reconciliation built on them."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from streams.driver import Driver, MemorySink
from streams.processor import Processor, RawRecord
from streams.reconcile import build_report
from streams.settings import Settings, WorkerSettings


def settings(tmp: Path) -> Settings:
    return Settings(worker=WorkerSettings(state_dir=tmp))


class KafkaLikeSink(MemorySink):
    """The driver's in-memory sink, also keeping every changelog write and dead letter as Kafka would."""

    def __init__(self, s: Settings, store: dict[str, Any] | None) -> None:
        super().__init__(store)
        self.settings = s
        self.changelog: list[SimpleNamespace] = []
        self.dlq: list[SimpleNamespace] = []

    async def send(self, role: str, key: str, value: bytes) -> None:
        if role == "dlq":
            self.dlq.append(message(self.settings.topics.dlq, 0, len(self.dlq), key, value))

    async def write(self, rider_id: str, state: dict[str, Any] | None) -> None:
        self.changelog.append(message("changelog", 0, len(self.changelog), rider_id, json.dumps(state).encode()))
        await super().write(rider_id, state)


class Run:
    """The processor driven in batches, keeping every input, changelog write and dead letter as Kafka would."""

    def __init__(self, s: Settings, store: dict[str, Any] | None = None) -> None:
        self.settings = s
        self.proc = Processor(s)
        self.sink = KafkaLikeSink(s, store)
        self.riders = self.sink.riders
        self.dlq = self.sink.dlq
        self.driver = Driver(self.proc, self.sink)

    @property
    def changelog(self) -> list[SimpleNamespace]:
        return self.sink.changelog

    @changelog.setter
    def changelog(self, changelog: list[SimpleNamespace]) -> None:  # a restarted worker's changelog goes on
        self.sink.changelog = changelog

    def feed(self, batch: list[RawRecord], size: int = 200) -> None:
        asyncio.run(self.driver.feed(batch, size))


def message(topic: str, partition: int, offset: int, key: str | None, value: bytes | None) -> SimpleNamespace:
    return SimpleNamespace(topic=topic, partition=partition, offset=offset,
                           key=key.encode() if key is not None else None, value=value)


def inputs(s: Settings, records: list[Any]) -> tuple[list[RawRecord], dict[str, list[SimpleNamespace]]]:
    """RawRecords for the processor and the same records as topic messages for the reconciliation."""
    topics = s.topics.by_role()
    offsets: Counter[str] = Counter()
    raw, by_topic = [], {topics[r]: [] for r in ("wearable", "trip", "incidents", "responses")}
    for rec in records:
        topic = topics[rec.role]
        value = rec.raw if rec.raw is not None else rec.value_bytes()
        raw.append(RawRecord(topic, 0, offsets[topic], rec.key.encode(), value, 1.0))
        if topic in by_topic:
            by_topic[topic].append(message(topic, 0, offsets[topic], rec.key, value))
        offsets[topic] += 1
    return raw, by_topic


def role_of(s: Settings) -> dict[str, str]:
    topics = s.topics.by_role()
    return {topics[r]: r for r in ("wearable", "trip", "incidents", "responses")}


def test_each_riders_state_counts_the_records_it_absorbed_by_topic_and_outcome(heatwave: list[Any],
                                                                                tmp_path: Path) -> None:
    s = settings(tmp_path)
    resent = heatwave[3700:4000]  # a producer sending the last 300 again: new offsets, the same event ids
    raw, _ = inputs(s, heatwave[:4000] + resent)
    run = Run(s)
    run.feed(raw + raw[-100:])  # and the last 100 read again, as after a crash: the same offsets
    telemetry = ("wearable", "trip")
    distinct = Counter((rec.key, rec.role) for rec in heatwave[:4000] if rec.role in telemetry)
    repeats = Counter((rec.key, rec.role) for rec in resent if rec.role in telemetry)
    for (rider_id, role), n in distinct.items():
        counts = run.riders[rider_id]["records"][role]
        assert counts["applied"] == n, (rider_id, role, counts)
        assert counts.get("duplicate", 0) == repeats[(rider_id, role)], (rider_id, role, counts)
    replayed = sum(c.get("replayed", 0) for st in run.riders.values() for c in st["records"].values())
    assert replayed == sum(1 for r in raw[-100:] if r.topic != s.topics.weather)


def test_counters_survive_a_restart_from_the_stored_state(heatwave: list[Any], tmp_path: Path) -> None:
    s = settings(tmp_path)
    raw, by_topic = inputs(s, heatwave[:3000])
    first = Run(s)
    first.feed(raw[:1400])
    second = Run(settings(tmp_path / "b"), store=first.riders)  # a new process: only the table
    second.changelog = first.changelog
    second.feed(raw[1000:])  # 400 records applied before the "crash" are read again
    report = build_report(by_topic, first.dlq + second.dlq, second.changelog, role_of(s))
    assert report.ok, report.render()
    trip = report.topics[s.topics.trip]
    assert trip["replayed"] > 0 and trip["duplicate"] == 0 and trip["difference"] == 0
    assert trip["input"] == trip["applied"] + trip["duplicate"] + trip["too_late"] + trip["dead_lettered"]


def test_reconcile_names_the_riders_whose_records_were_lost_and_the_regressions(heatwave: list[Any],
                                                                                 tmp_path: Path) -> None:
    s = settings(tmp_path)
    raw, by_topic = inputs(s, heatwave[:3000])
    run = Run(s)
    run.feed(raw[:1600])
    lost_at = len(run.changelog)
    run.feed(raw[1600:2000])
    stale = run.changelog[:lost_at]
    # a worker that lost the last writes carries on from the older state: the records between are never applied
    restarted = Run(settings(tmp_path / "b"), store={m.key.decode(): json.loads(m.value) for m in stale})
    restarted.feed(raw[2000:])
    report = build_report(by_topic, run.dlq + restarted.dlq, run.changelog + restarted.changelog, role_of(s))
    assert not report.ok
    lost = {(topic, rider) for topic, rider, count in report.problems() if count.missing > 0}
    assert lost and all(topic in (s.topics.wearable, s.topics.trip) for topic, _ in lost)
    assert report.regressions and {r.rider_id for r in report.regressions} <= {rider for _, rider in lost}
    assert "absorbed by no state" in report.render() and "regression: rider" in report.render()


def test_dead_letters_count_once_even_when_a_replay_repeats_them(tmp_path: Path) -> None:
    s = settings(tmp_path)
    bad = message(s.topics.trip, 0, 0, "rider-x", b'{"event_id": "broken",')
    run = Run(s)
    record = RawRecord(bad.topic, 0, 0, bad.key, bad.value, 1.0)
    run.feed([record])
    run.feed([record])  # the batch was not committed before a crash: dead-lettered again
    report = build_report({s.topics.trip: [bad]}, run.dlq, run.changelog, {s.topics.trip: "trip"})
    assert report.ok, report.render()
    assert report.topics[s.topics.trip]["dead_lettered"] == 1 and report.dead_letters_repeated == 1


def test_an_incident_read_again_after_a_restart_is_not_applied_twice(heatwave: list[Any], tmp_path: Path) -> None:
    s = settings(tmp_path)
    raw, _ = inputs(s, heatwave[:1200])
    rider_id = next(r.key for r in heatwave[:1200] if r.role == "trip")
    incident = json.dumps({"event_id": "inc-1", "ts": "2026-07-15T02:09:00Z", "schema_version": 1,
                           "rider_id": rider_id, "kind": "heat_illness"}).encode()
    record = RawRecord(s.topics.incidents, 0, 0, rider_id.encode(), incident, 1.0)
    first = Run(s)
    first.feed(raw + [record])
    marked = first.riders[rider_id]["labels"]
    again = Run(settings(tmp_path / "b"), store=first.riders)  # restarted before the offset was committed
    again.feed([record])
    counts = again.riders[rider_id]["records"]["incidents"]
    assert counts == {"applied": 1, "replayed": 1}
    assert again.riders[rider_id]["labels"] == marked


def test_a_record_held_for_its_jump_ahead_counts_as_held_until_confirmed_or_dead_lettered(tmp_path: Path) -> None:
    s = settings(tmp_path)
    topic = s.topics.wearable

    def wearable(offset: int, seconds: int) -> RawRecord:
        value = json.dumps({"event_id": f"w{offset}", "ts": f"2026-07-01T04:{seconds // 60:02d}:{seconds % 60:02d}Z",
                            "rider_id": "r1", "heart_rate_bpm": 100.0, "skin_temp_c": 34.0, "accel_peak_g": 1.1,
                            "accel_mean_g": 1.0, "accel_var": 0.02, "on_body": True}).encode()
        return RawRecord(topic, 0, offset, b"r1", value, 1.0)

    stream = [wearable(i, i) for i in range(5)] + [wearable(5, 5 + 1200)]  # the last is 20 min ahead: held
    run = Run(s)
    run.feed(stream)
    by_topic = {t: [] for t in role_of(s)}
    by_topic[topic] = [message(topic, 0, r.offset, "r1", r.value) for r in stream]
    report = build_report(by_topic, run.dlq, run.changelog, role_of(s))
    assert report.ok, report.render()
    assert (report.topics[topic]["applied"], report.topics[topic]["held"]) == (5, 1)

    refuting = [wearable(6, 6 + 2400)]  # another jump elsewhere: the held record is refuted and dead-lettered
    run.feed(refuting)
    by_topic[topic].append(message(topic, 0, 6, "r1", refuting[0].value))
    report = build_report(by_topic, run.dlq, run.changelog, role_of(s))
    assert report.ok, report.render()
    assert (report.topics[topic]["held"], report.topics[topic]["dead_lettered"]) == (1, 1)


def test_an_expired_riders_records_stay_counted_after_its_tombstone(tmp_path: Path) -> None:
    s = settings(tmp_path)
    trip = s.topics.trip
    by_topic = {t: [] for t in role_of(s)}
    by_topic[trip] = [message(trip, 0, i, "r1", json.dumps({"event_id": f"t{i}", "rider_id": "r1"}).encode())
                      for i in range(5)]
    changelog = [
        message("changelog", 0, 0, "r1", json.dumps({"records": {"trip": {"applied": 3}}}).encode()),
        message("changelog", 0, 1, "r1", None),  # silent past worker.rider_ttl_s: state deleted
        message("changelog", 0, 2, "r1", json.dumps({"records": {"trip": {"applied": 2}}}).encode()),  # back
    ]
    report = build_report(by_topic, [], changelog, role_of(s))
    assert report.ok, report.render()
    assert (report.topics[trip]["applied"], report.topics[trip]["difference"]) == (5, 0)
    assert not report.regressions  # a state after a tombstone starts its counters again
