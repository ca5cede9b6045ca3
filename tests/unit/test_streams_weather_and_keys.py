"""Weather in every worker's zone store, read by each worker's feed; rider records whose key is not their rider_id."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from streams.processor import Processor, RawRecord, key_mismatch
from streams.settings import Settings, WorkerSettings
from tests.unit.test_streams_processor import Harness

HOT = "zone-hot"


def settings(tmp: Path) -> Settings:
    return Settings(worker=WorkerSettings(state_dir=tmp))


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat()


def weather(s: Settings, offset: int, t: float, zone: str = HOT, air_temp_c: float = 38.0) -> RawRecord:
    value = {"event_id": f"wx-{zone}-{offset}", "ts": iso(t), "zone_id": zone, "air_temp_c": air_temp_c,
             "relative_humidity_pct": 50.0}
    return RawRecord(s.topics.weather, 0, offset, zone.encode(), json.dumps(value).encode(), t)


def riding(s: Settings, rider: str, t0: float, seconds: int = 3, key: bytes | None = None,
           partition: int = 0) -> list[RawRecord]:
    """Trip records of ``rider`` riding in the hot zone, keyed ``key`` (default: the rider id)."""
    key = rider.encode() if key is None else key
    return [RawRecord(s.topics.trip, partition, i, key, json.dumps({
        "event_id": f"t-{rider}-{i}", "ts": iso(t0 + i), "rider_id": rider, "zone_id": HOT, "status": "riding",
        "lat": 31.2, "lon": 121.5, "speed_kmh": 18.0}).encode(), t0 + i) for i in range(seconds)]


def heat_alerted(h: Harness) -> set[str]:
    return {a["rider_id"] for a in h.of("alerts") if a["kind"] == "heat"}


def test_two_workers_each_with_its_own_feed_alert_all_their_riders(tmp_path: Path) -> None:
    s, now = settings(tmp_path), time.time()
    workers = [Harness(Processor(settings(tmp_path / f"w{i}"))) for i in range(2)]
    riders = [f"r{i}" for i in range(6)]
    topic = [weather(s, 0, now - 120), weather(s, 1, now - 120, zone="zone-cool", air_temp_c=20.0)]
    for w in workers:  # every worker reads the whole weather topic; none dead-letters or counts it
        w.weather(topic, dead_letters=False)
    for i, rider in enumerate(riders):  # the riders are split between the workers, as partitions are
        w = workers[i % 2]
        w.rider_batch(riding(s, rider, now - 60))
    assert heat_alerted(workers[0]) == {"r0", "r2", "r4"}
    assert heat_alerted(workers[1]) == {"r1", "r3", "r5"}
    assert all(len(w.proc.zones) == 2 for w in workers)


def test_weather_read_after_the_riders_rescores_the_riders_this_worker_holds(tmp_path: Path) -> None:
    s, now = settings(tmp_path), time.time()
    h = Harness(Processor(s))
    h.rider_batch(riding(s, "r1", now - 60) + riding(s, "r2", now - 60))
    assert not heat_alerted(h), "no weather yet: unknown, no heat alert"
    h.weather([weather(s, 0, now - 90)], dead_letters=False)  # stamped before their events: their weather then
    assert heat_alerted(h) == {"r1", "r2"}
    assert set(h.riders) == {"r1", "r2"}  # their new alert state goes to the table


def test_only_the_weather_agent_dead_letters_a_bad_weather_record(tmp_path: Path) -> None:
    s, now = settings(tmp_path), time.time()
    bad = RawRecord(s.topics.weather, 0, 7, b"z", b'{"event_id": "x",', now)
    good = weather(s, 8, now)
    proc = Processor(s)
    feed = proc.process_weather([bad, good], dead_letters=False)
    assert not feed.outputs and len(proc.zones) == 1
    agent = Processor(settings(tmp_path / "agent")).check_weather([bad, good])
    letters = [json.loads(v) for role, _, v in agent.outputs if role == "dlq"]
    assert [(d["offset"], d["error_class"]) for d in letters] == [(7, "invalid_json")]
    assert len(agent.outputs) == 1


def test_a_rebuilt_zone_store_equals_the_one_built_while_running(tmp_path: Path) -> None:
    s, now = settings(tmp_path), time.time()
    records = [weather(s, i, now - 3600 + 300 * i, air_temp_c=30.0 + i) for i in range(12)]
    running, rebuilt = Processor(s), Processor(settings(tmp_path / "b"))
    for rec in records:
        running.process_weather([rec])
    rebuilt.process_weather(records + records[-3:], dead_letters=False)  # in topic order; a repeat is ignored
    assert running.zone(HOT) == rebuilt.zone(HOT)


@pytest.mark.parametrize("role", ["wearable", "trip", "incidents", "responses"])
@pytest.mark.parametrize("key", [None, b"", b"r2", b"r1\n", b" r1", b"R1", b"\xff\xfe"])
def test_a_rider_record_whose_key_is_not_its_rider_id_is_dead_lettered(
    tmp_path: Path, role: str, key: bytes | None
) -> None:
    s, now = settings(tmp_path), time.time()
    value = {"event_id": "e1", "ts": iso(now - 10), "rider_id": "r1"}
    value |= {"wearable": {"accel_peak_g": 1.0, "accel_mean_g": 1.0, "accel_var": 0.0},
              "trip": {"zone_id": HOT, "status": "riding", "lat": 31.2, "lon": 121.5, "speed_kmh": 18.0},
              "incidents": {"kind": "fall"},
              "responses": {"alert_id": "a1", "answer": "ok"}}[role]
    topic = s.topics.by_role()[role]
    h = Harness(Processor(s))
    h.feed([RawRecord(topic, 2, 41, key, json.dumps(value).encode(), now)])
    letters = h.of("dlq")
    assert [(d["source_topic"], d["partition"], d["offset"], d["error_class"]) for d in letters] == [
        (topic, 2, 41, "key_mismatch")]
    reason = letters[0]["reason"]
    assert "'r1'" in reason and "key=rider_id" in reason, reason
    assert not h.proc.hot and not h.riders, "applied to no rider"


def test_a_rider_id_with_a_trailing_newline_is_not_its_newline_key(tmp_path: Path) -> None:
    s, now = settings(tmp_path), time.time()
    value = {"event_id": "e1", "ts": iso(now - 10), "rider_id": "r1\n", "accel_peak_g": 1.0, "accel_mean_g": 1.0,
             "accel_var": 0.0}  # the schema strips the id; the producer partitioned by the unstripped one
    h = Harness(Processor(s))
    h.feed([RawRecord(s.topics.wearable, 0, 1, b"r1\n", json.dumps(value).encode(), now),
            RawRecord(s.topics.wearable, 0, 2, b"r1", json.dumps(value | {"event_id": "e2"}).encode(), now)])
    assert [d["error_class"] for d in h.of("dlq")] == ["key_mismatch"]
    assert set(h.proc.hot) == {"r1"}  # the correctly keyed one is applied


def test_key_mismatch_reasons_say_what_was_wrong() -> None:
    assert key_mismatch(b"r1", "r1", "t") is None
    assert key_mismatch(None, "r1", "t").reason.startswith("the record has no key (null)")
    assert key_mismatch(b"", "r1", "t").reason.startswith("the record key is empty")
    assert key_mismatch(b"\xff", "r1", "t").reason.startswith("the record key b'\\xff' is not UTF-8")


def test_riders_of_other_zones_are_not_rescored(tmp_path: Path) -> None:
    s, now = settings(tmp_path), time.time()
    h = Harness(Processor(s))
    h.rider_batch(riding(s, "r1", now - 60))
    result = h.proc.process_weather([weather(s, 0, now - 30, zone="zone-cool", air_temp_c=20.0)],
                                    dead_letters=False)
    assert not result.outputs and not result.states
