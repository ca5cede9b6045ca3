"""Issue 12, record faults: no record kills a batch, odd timestamps are dead-lettered, one bad clock silences no one."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from features import FeatureConfig, RiderState, UpdateResult, rider_features, update_trip, update_wearable
from features.ring import MINUTE_SLOTS, new_ring, read_row, ring_from_list, ring_to_list, window_rows, write_row
from riskstream.contracts.records import TripPoint, WearableReading
from streams import metrics
from streams.driver import Driver, MemorySink
from streams.parsing import redacted_excerpt
from streams.processor import Processor, RawRecord
from streams.settings import Settings, WorkerSettings

CFG = FeatureConfig()
T0 = 1_782_864_000.0  # 2026-07-01 00:00 UTC: in the past of the worker's clock, after min_event_time


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def wearable(ts: Any, eid: str, rider: str = "r1") -> dict[str, Any]:
    return {"event_id": eid, "ts": ts, "rider_id": rider, "heart_rate_bpm": 100.0, "skin_temp_c": 34.0,
            "accel_peak_g": 1.1, "accel_mean_g": 1.0, "accel_var": 0.02, "on_body": True}


def trip(ts: Any, eid: str, rider: str = "r1") -> dict[str, Any]:
    return {"event_id": eid, "ts": ts, "rider_id": rider, "zone_id": "z1", "status": "riding", "lat": 31.2,
            "lon": 121.4, "speed_kmh": 18.0}


class Feed:
    """A processor with dicts as tables, records numbered per topic as Kafka would."""

    def __init__(self, tmp: Path, **worker: Any) -> None:
        self.settings = Settings(worker=WorkerSettings(state_dir=tmp, **worker))
        self.proc = Processor(self.settings)
        self.sink = MemorySink()  # JSON round trip: what the changelog stores is what a restart reads
        self.riders = self.sink.riders
        self.driver = Driver(self.proc, self.sink)
        self.offsets: dict[str, int] = {}
        self.outputs: list[tuple[str, str, dict[str, Any]]] = []

    def record(self, role: str, value: dict[str, Any] | bytes, key: bytes = b"r1") -> RawRecord:
        topic = self.settings.topics.by_role()[role]
        self.offsets[topic] = self.offsets.get(topic, -1) + 1
        raw = value if isinstance(value, bytes) else json.dumps(value).encode()
        return RawRecord(topic, 0, self.offsets[topic], key, raw, 1.0)

    def batch(self, records: list[RawRecord]) -> None:
        asyncio.run(self.driver.feed(records, batch_size=max(1, len(records))))  # one batch: weather, then riders
        self.outputs += [(role, key, json.loads(value)) for role, key, value in self.sink.take_outputs()]

    def letters(self) -> list[dict[str, Any]]:
        return [v for role, _, v in self.outputs if role == "dlq"]


def counted(topic: str, outcome: str) -> float:
    return metrics.RECORDS.labels(topic=topic, outcome=outcome)._value.get()


# ------------------------------------------------------------------ the ring sentinel
@pytest.mark.parametrize("key", [-1, 0, -MINUTE_SLOTS, -1 - MINUTE_SLOTS, 2**40, -(2**40)])
def test_any_bucket_number_is_a_bucket_not_an_empty_slot(key: int) -> None:
    tags, rows = new_ring(MINUTE_SLOTS)
    assert read_row(tags, rows, key) is None
    assert window_rows(tags, rows, key, 60) == []
    write_row(tags, rows, key, 2)[0] += 3
    assert list(read_row(tags, rows, key)) == [3, 0]
    assert [list(r) for r in window_rows(tags, rows, key + 1, 60)] == [[3, 0]]
    assert write_row(tags, rows, key - MINUTE_SLOTS, 2) is None  # older than what its slot holds


def test_ring_json_form_is_unchanged_and_round_trips() -> None:
    # the changelog form names held buckets only, so state written before the fix reads the same
    old_form = [[-1, 5, 0], [0, 0, 7], [59, 1, 1]]
    tags, rows = ring_from_list(MINUTE_SLOTS, old_form)
    assert ring_to_list(tags, rows, -MINUTE_SLOTS) == old_form
    assert sum(t == -1 for t in tags) == 1  # only the real bucket -1, no empty slot looks like it


def test_features_of_a_rider_near_the_epoch_do_not_raise() -> None:
    state = RiderState.new("r1")
    for ts in (0.0, 1.0, 12345.0):
        rec = WearableReading.model_validate(wearable(ts, f"w{ts}"))
        assert update_wearable(state, rec, CFG) is UpdateResult.APPLIED
    update_trip(state, TripPoint.model_validate(trip(12345.0, "t1")), CFG)
    feats = rider_features(state, None, 12346.0, CFG)
    assert feats["hr_mean_1m"] == pytest.approx(100.0)
    assert RiderState.from_dict(json.loads(json.dumps(state.to_dict()))).to_dict() == state.to_dict()


# ------------------------------------------------------------------ parsing
def test_deeply_nested_and_huge_integer_weather_records_are_dead_lettered(tmp_path: Path) -> None:
    feed = Feed(tmp_path)
    nested = b"[" * 100_000
    huge_int = b'{"event_id": "w", "air_temp_c": ' + b"9" * 4301 + b"}"
    feed.batch([feed.record("weather", nested, b"z1"), feed.record("weather", huge_int, b"z1")])
    letters = feed.letters()
    assert [(d["error_class"], d["offset"]) for d in letters] == [("invalid_json", 0), ("invalid_json", 1)]
    assert "nested deeper" in letters[0]["reason"] and "4300 digits" in letters[1]["reason"]


# ------------------------------------------------------------------ plausible timestamps
def test_unset_clock_and_numeric_ts_are_dead_lettered_and_the_batch_goes_on(tmp_path: Path) -> None:
    feed = Feed(tmp_path)
    odd = [feed.record("wearable", wearable("1970-01-01T00:00:00Z", "e1")),
           feed.record("trip", trip(12345, "e2")),
           feed.record("wearable", wearable(12345, "e3", rider="r2"), b"r2")]
    good = [feed.record("wearable", wearable(iso(T0 + i), f"g{i}")) for i in range(5)]
    feed.batch(odd + good)
    letters = feed.letters()
    assert sorted(d["error_class"] for d in letters) == ["implausible_timestamp"] * 3
    assert all("min_event_time" in d["reason"] and d["offset"] >= 0 for d in letters)
    assert feed.riders["r1"]["features"]["wearable_ts"] == T0 + 4
    assert "r2" not in feed.riders


def test_near_epoch_records_replayed_on_purpose_are_scored_not_a_crash(tmp_path: Path) -> None:
    # the root fix: with the floor lowered, the 1970 records reach the rings and the scorer
    feed = Feed(tmp_path, min_event_time=datetime(1960, 1, 1, tzinfo=timezone.utc))
    feed.batch([feed.record("wearable", wearable(float(i), f"w{i}")) for i in range(3)]
               + [feed.record("trip", trip(5, "t1"))])
    assert not feed.letters()
    assert feed.riders["r1"]["features"]["trip_ts"] == 5.0
    assert feed.riders["r1"]["last_risk"] is not None


# ------------------------------------------------------------------ one bad clock
def test_one_record_from_the_future_does_not_make_the_riders_true_records_late(tmp_path: Path) -> None:
    feed = Feed(tmp_path)
    topic = feed.settings.topics.wearable
    late_before, done_before = counted(topic, "too_late"), counted(topic, "processed")
    feed.batch([feed.record("wearable", wearable(iso(T0 + i), f"a{i}")) for i in range(100)])
    feed.batch([feed.record("wearable", wearable(iso(T0 + 100 + 600), "skewed"))])
    feed.batch([feed.record("wearable", wearable(iso(T0 + 100 + i), f"b{i}")) for i in range(99)])
    assert counted(topic, "too_late") - late_before == 0
    assert counted(topic, "processed") - done_before == 199
    state = feed.riders["r1"]
    assert state["features"]["wearable_ts"] == T0 + 198  # event time did not follow the jump
    assert state["held"]["wearable"]["record"]["event_id"] == "skewed"
    assert state["last_scored"] <= T0 + 198  # nor did scoring

    # a second jump replaces the first, which is dead-lettered with where it came from
    feed.batch([feed.record("wearable", wearable(iso(T0 + 5000), "skewed-again"))])
    (letter,) = feed.letters()
    assert (letter["error_class"], letter["offset"], letter["source_topic"]) == ("unconfirmed_jump", 100, topic)
    assert "skewed" in letter["payload"] and "max_stream_jump_s" in letter["reason"]
    skewed = json.dumps(wearable(iso(T0 + 100 + 600), "skewed")).encode()
    assert letter["payload"] == redacted_excerpt(skewed)  # redacted as any dead letter: no heart rate kept
    assert letter["payload_size"] == len(skewed)
    assert letter["payload_sha256"] == hashlib.sha256(skewed).hexdigest()


def test_a_jump_confirmed_by_the_next_record_moves_the_stream(tmp_path: Path) -> None:
    feed = Feed(tmp_path)
    feed.batch([feed.record("trip", trip(iso(T0 + i), f"a{i}")) for i in range(10)])
    feed.batch([feed.record("trip", trip(iso(T0 + 3600), "back")), feed.record("trip", trip(iso(T0 + 3601), "on"))])
    assert feed.riders["r1"]["features"]["trip_ts"] == T0 + 3601
    assert not feed.riders["r1"]["held"] and not feed.letters()
    # a held record read again (a replay after restart) does not confirm itself
    feed.batch([feed.record("trip", trip(iso(T0 + 9000), "far")), feed.record("trip", trip(iso(T0 + 9000), "far"))])
    assert feed.riders["r1"]["features"]["trip_ts"] == T0 + 3601
    assert feed.riders["r1"]["held"]["trip"]["record"]["event_id"] == "far"


def test_too_late_records_are_dead_lettered_and_counted_too_late(tmp_path: Path) -> None:
    feed = Feed(tmp_path)
    topic = feed.settings.topics.wearable
    before = counted(topic, "too_late")
    feed.batch([feed.record("wearable", wearable(iso(T0 + i), f"a{i}")) for i in range(0, 300, 10)])
    feed.batch([feed.record("wearable", wearable(iso(T0 + 10), "old"))])
    (letter,) = feed.letters()
    assert letter["error_class"] == "too_late" and "allowed_lateness_s" in letter["reason"]
    assert counted(topic, "too_late") - before == 1


# ------------------------------------------------------------------ containment of one rider
def test_a_rider_whose_features_fail_is_skipped_and_the_others_are_scored(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    feed = Feed(tmp_path)
    feed.batch([feed.record("trip", trip(iso(T0 + i), f"t{i}")) for i in range(3)]
               + [feed.record("wearable", wearable(iso(T0 + i), f"w{i}", rider="r2"), b"r2") for i in range(3)])
    real_at = feed.proc.zones.at

    def unreadable(zone_id: str | None, now: float) -> Any:  # a zone entry this build cannot read
        if zone_id == "z1":
            raise TypeError("zone z1: unreadable weather state")
        return real_at(zone_id, now)

    monkeypatch.setattr(feed.proc.zones, "at", unreadable)
    errors = metrics.PROCESSING_ERRORS.labels(stage="features")._value.get()
    feed.batch([feed.record("wearable", wearable(iso(T0 + t), f"w{t}", rider=r), r.encode())
                for t in (50, 100) for r in ("r1", "r2")])
    assert metrics.PROCESSING_ERRORS.labels(stage="features")._value.get() - errors == 1
    assert feed.riders["r2"]["last_scored"] == T0 + 100
    assert feed.riders["r1"]["features"]["wearable_ts"] == T0 + 100  # its record was applied all the same
    assert feed.riders["r1"]["last_scored"] == T0  # its first record's score point; not scored this round
    assert not feed.letters()
