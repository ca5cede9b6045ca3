"""Two real workers sharing the rider partitions: every rider sees its zone's weather, mis-keyed records
are dead-lettered.

Records are produced and read with confluent-kafka (librdkafka), a client independent of the
worker's aiokafka/Faust, so a null key is a real null key and partitions are librdkafka's.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from features.rider_state import RiderState
from riskstream.testing.workers import Process, free_port, metric_value, scrape, start_worker, wait_until
from tests.integration.test_pipeline import ROLES, topic, worker_env

confluent_kafka = pytest.importorskip("confluent_kafka")

pytestmark = pytest.mark.integration

HOT_ZONE = "zone-hot"
PARTITIONS = 4


def produce(bootstrap: str, topic_name: str, items: list[tuple[bytes | None, bytes]]) -> list[tuple[int, int]]:
    """Send ``(key, value)`` items in order; return where each landed: (partition (murmur2, as Java), offset)."""
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random",
                                         "linger.ms": 0, "batch.num.messages": 1})  # Tansu: one record per batch
    landed: list[tuple[int, int]] = [(-1, -1)] * len(items)

    def delivered(i: int) -> Any:
        def report(err: Any, msg: Any) -> None:
            assert err is None, err
            landed[i] = (msg.partition(), msg.offset())
        return report

    for i, (key, value) in enumerate(items):
        producer.produce(topic_name, value=value, key=key, on_delivery=delivered(i))
        producer.poll(0)
    assert producer.flush(30) == 0, "records not delivered within 30 s"
    return landed


def consume(bootstrap: str, topic_name: str, done: Any, timeout: float) -> list[Any]:
    """Read a topic from the start (no group) until ``done(records)`` or ``timeout``; confluent messages."""
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": f"t-{uuid.uuid4().hex[:8]}",
                                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    meta = consumer.list_topics(topic_name, timeout=10)
    consumer.assign([confluent_kafka.TopicPartition(topic_name, p, confluent_kafka.OFFSET_BEGINNING)
                     for p in meta.topics[topic_name].partitions])
    records: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not done(records):
            for msg in consumer.consume(500, timeout=0.5):
                if msg.error() is None:
                    records.append(msg)
    finally:
        consumer.close()
    return records


def consume_to_end(bootstrap: str, topic_name: str) -> list[Any]:
    """Every record of a topic up to its end offsets at the time of the call."""
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": f"t-{uuid.uuid4().hex[:8]}"})
    meta = consumer.list_topics(topic_name, timeout=10)
    ends = {p: consumer.get_watermark_offsets(confluent_kafka.TopicPartition(topic_name, p), timeout=10)[1]
            for p in meta.topics[topic_name].partitions}
    consumer.close()
    total = sum(ends.values())  # offsets start at 0 on the embedded broker and nothing is deleted
    return consume(bootstrap, topic_name, lambda records: len(records) >= total, timeout=60)


def assigned_partitions(port: int, wearable_topic: str) -> set[int]:
    """Partitions of the wearable topic a worker holds, from its consumer-lag gauge."""
    from prometheus_client.parser import text_string_to_metric_families

    text = scrape(port) or ""
    return {int(s.labels["partition"]) for f in text_string_to_metric_families(text) for s in f.samples
            if s.name == "riskstream_consumer_lag_records" and s.labels.get("topic") == wearable_topic}


@pytest.fixture(scope="module")
def two_workers(broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Two workers of one app id with the 4 rider partitions split between them."""
    from streams.settings import Settings
    from streams.topics import ensure_topics

    tmp = tmp_path_factory.mktemp("two-workers")
    env = {**worker_env(broker, tmp), "RISKSTREAM_TOPICS__PARTITIONS": str(PARTITIONS)}
    settings = Settings.model_validate({"kafka": {"broker": broker.url},
                                        "topics": {**{role: topic(env, role) for role in ROLES},
                                                   "partitions": PARTITIONS}})
    asyncio.run(ensure_topics(settings))
    ports = [int(env["RISKSTREAM_METRICS__PORT"]), free_port()]
    workers: list[Process] = []
    for i, port in enumerate(ports):
        worker_tmp = tmp / f"w{i}"
        workers.append(start_worker({**env, "RISKSTREAM_METRICS__PORT": str(port),
                                     "RISKSTREAM_WORKER__STATE_DIR": str(worker_tmp / "state")},
                                    tmp / f"worker-{i}.log"))
    wearable = topic(env, "wearable")

    def split() -> bool:
        a, b = (assigned_partitions(p, wearable) for p in ports)
        return bool(a and b and not a & b and a | b == set(range(PARTITIONS)))

    try:
        wait_until(split, 180, what="both workers to hold rider partitions", procs=tuple(workers))
        yield {"env": env, "ports": ports, "workers": workers, "bootstrap": broker.bootstrap_servers}
    finally:
        for w in workers:
            w.stop()


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat()


def ride(rider: str, zone: str, t0: float, seconds: int, tag: str) -> tuple[list[bytes], list[bytes]]:
    """Trip and wearable records of ``rider`` riding in ``zone`` for ``seconds`` from ``t0``."""
    trips, wearables = [], []
    for s in range(seconds):
        ts = iso(t0 + s)
        trips.append(json.dumps({"event_id": f"{tag}-t-{rider}-{s}", "ts": ts, "rider_id": rider, "zone_id": zone,
                                 "status": "riding", "lat": 31.2, "lon": 121.5, "speed_kmh": 18.0}).encode())
        wearables.append(json.dumps({"event_id": f"{tag}-w-{rider}-{s}", "ts": ts, "rider_id": rider,
                                     "heart_rate_bpm": 130, "skin_temp_c": 35.0, "accel_peak_g": 1.4,
                                     "accel_mean_g": 1.0, "accel_var": 0.05}).encode())
    return trips, wearables


def test_every_rider_in_a_hot_zone_gets_a_heat_alert_whichever_worker_holds_it(two_workers: dict[str, Any]) -> None:
    env, bootstrap = two_workers["env"], two_workers["bootstrap"]
    now = time.time()
    # heat index ≈ 48.6 °C: NWS 'danger' (≥ 39.4 °C) for every rider in the zone
    weather = {"event_id": "wx-hot-1", "ts": iso(now - 120), "zone_id": HOT_ZONE, "air_temp_c": 38.0,
               "relative_humidity_pct": 50.0, "solar_w_m2": 900.0, "daily_max_temp_c": 39.0}
    produce(bootstrap, topic(env, "weather"), [(HOT_ZONE.encode(), json.dumps(weather).encode())])
    riders = [f"hot-{i:03d}" for i in range(60)]
    trips: list[tuple[bytes, bytes]] = []
    wearables: list[tuple[bytes, bytes]] = []
    for rider in riders:
        t, w = ride(rider, HOT_ZONE, now - 60, 5, "hot")
        trips += [(rider.encode(), v) for v in t]
        wearables += [(rider.encode(), v) for v in w]
    landed = [partition for partition, _ in produce(bootstrap, topic(env, "trip"), trips)]
    produce(bootstrap, topic(env, "wearable"), wearables)
    assert set(landed) == set(range(PARTITIONS)), "the riders must be spread over every partition"

    def heat_alerted(records: list[Any]) -> bool:
        return {json.loads(m.value())["rider_id"] for m in records
                if json.loads(m.value())["kind"] == "heat"} >= set(riders)

    alerts = consume(bootstrap, topic(env, "alerts"), heat_alerted, timeout=120)
    heat = {json.loads(m.value())["rider_id"] for m in alerts if json.loads(m.value())["kind"] == "heat"}
    missing = sorted(set(riders) - heat)
    by_partition: dict[int, list[str]] = defaultdict(list)
    for rider, partition in zip(riders, landed[::5]):
        if rider in missing:
            by_partition[partition].append(rider)
    assert not missing, (f"{len(missing)} of {len(riders)} riders in a zone at heat index 48 °C got no heat alert, "
                         f"by partition: {dict(by_partition)}")
    for port in two_workers["ports"]:  # and each worker knows the zone, whichever partitions it holds
        assert metric_value(scrape(port) or "", "riskstream_weather_zones") >= 1


def test_records_keyed_to_another_rider_are_dead_lettered_and_never_applied(two_workers: dict[str, Any]) -> None:
    env, bootstrap = two_workers["env"], two_workers["bootstrap"]
    now = time.time()
    riders = [f"key-{i:02d}" for i in range(24)]
    good: list[tuple[bytes, bytes]] = []
    bad: list[tuple[bytes | None, bytes]] = []
    bad_ids: dict[str, set[str]] = defaultdict(set)
    for n, rider in enumerate(riders):
        _, wearables = ride(rider, HOT_ZONE, now - 300, 40, "keys")
        other = riders[(n + 1) % len(riders)]
        wrong_keys = [None, b"", other.encode(), f"{rider}\n".encode(), f" {rider}".encode()]
        for s, value in enumerate(wearables):
            if s % 8 == 7:  # every 8th record carries a key that is not its rider_id
                bad.append((wrong_keys[(s // 8) % len(wrong_keys)], value))
                bad_ids[rider].add(json.loads(value)["event_id"])
            else:
                good.append((rider.encode(), value))
    # a trailing newline in the id itself: the schema strips it, the key keeps it
    stripped = json.loads(ride("key-00", HOT_ZONE, now - 200, 1, "nl")[1][0])
    stripped["rider_id"] = "key-00\n"
    bad.append((b"key-00\n", json.dumps(stripped).encode()))
    bad_ids["key-00"].add(stripped["event_id"])
    where = produce(bootstrap, topic(env, "wearable"), good + bad)[len(good):]

    def all_dead_lettered(records: list[Any]) -> bool:
        return sum(json.loads(m.value())["error_class"] == "key_mismatch" for m in records) >= len(bad)

    letters = [json.loads(m.value()) for m in consume(bootstrap, topic(env, "dlq"), all_dead_lettered, 120)]
    mismatched = [d for d in letters if d["error_class"] == "key_mismatch"]
    assert len(mismatched) == len(bad), f"{len(mismatched)} of {len(bad)} mis-keyed records dead-lettered"
    assert sorted((d["source_topic"], d["partition"], d["offset"]) for d in mismatched) == sorted(
        (topic(env, "wearable"), partition, offset) for partition, offset in where)
    assert all("rider_id" in d["reason"] and "key" in d["reason"] for d in mismatched), mismatched[0]["reason"]

    # the rider-state changelog: each rider written by one worker only (what its state has absorbed only
    # grows) and no mis-keyed record applied to any rider
    changelog = f"{env['RISKSTREAM_WORKER__APP_ID']}-rider-state-changelog"
    records_of: dict[str, dict[str, bytes]] = defaultdict(dict)
    for _, value in good + bad:
        rec = json.loads(value)
        records_of[rec["rider_id"].strip()][rec["event_id"]] = value
    good_ids = {r: {json.loads(v)["event_id"] for k, v in good if k == r.encode()} for r in riders}
    history: dict[str, list[set[str]]] = defaultdict(list)
    read = 0

    def complete(records: list[Any]) -> bool:
        nonlocal read
        for m in records[read:]:  # in partition order, which is each rider's write order
            rider = m.key().decode() if m.key() else None
            if rider in records_of and m.value():
                history[rider].append(absorbed(m, records_of[rider]))
        read = len(records)
        return set(history) == set(riders) and all(history[r][-1] >= good_ids[r] for r in riders)

    consume(bootstrap, changelog, complete, timeout=90)
    assert set(history) == set(riders)
    regressions = {r: sum(1 for a, b in zip(h, h[1:]) if not a <= b) for r, h in history.items()}
    assert not any(regressions.values()), f"rider states written by two workers (regressions): {regressions}"
    for rider, h in history.items():
        assert not (set().union(*h) & bad_ids[rider]), f"mis-keyed records applied to {rider}"
        assert h[-1] == good_ids[rider], f"{rider}: {len(h[-1])} of {len(good_ids[rider])} records applied"


def test_a_bad_weather_record_is_dead_lettered_once_not_once_per_worker(two_workers: dict[str, Any]) -> None:
    env, bootstrap, ports = two_workers["env"], two_workers["bootstrap"], two_workers["ports"]
    weather_topic = topic(env, "weather")
    zones_before = [metric_value(scrape(p) or "", "riskstream_weather_zones") for p in ports]
    after = {"event_id": "wx-after-bad", "ts": iso(time.time() - 60), "zone_id": "zone-after-bad",
             "air_temp_c": 20.0, "relative_humidity_pct": 50.0}
    landed = produce(bootstrap, weather_topic, [(b"zone-x", b'{"event_id": "wx-bad",'),
                                                (b"zone-after-bad", json.dumps(after).encode())])
    bad_at = landed[0]

    def read_past_it() -> bool:  # every worker's feed has read the good record that follows the bad one
        return all(metric_value(scrape(p) or "", "riskstream_weather_zones") > n for p, n in zip(ports, zones_before))

    wait_until(read_past_it, 60, what="both workers' weather feeds to read past the bad record",
               procs=tuple(two_workers["workers"]))

    def from_weather(records: list[Any]) -> list[dict[str, Any]]:
        return [d for d in (json.loads(m.value()) for m in records) if d["source_topic"] == weather_topic]

    consume(bootstrap, topic(env, "dlq"), lambda r: len(from_weather(r)) >= 1, 60)  # the agent's has come
    letters = from_weather(consume_to_end(bootstrap, topic(env, "dlq")))
    assert [(d["partition"], d["offset"], d["error_class"]) for d in letters] == [(*bad_at, "invalid_json")]
    counted = sum(metric_value(scrape(p) or "", "riskstream_dead_letters_total", topic=weather_topic) for p in ports)
    assert counted == 1


def test_a_restarted_worker_rebuilds_the_weather_from_the_topic_before_scoring(
    two_workers: dict[str, Any], tmp_path: Path
) -> None:
    """The zone store is not changelogged: a new worker process reads the weather topic back (26 h look-back)."""
    env, bootstrap = two_workers["env"], two_workers["bootstrap"]
    old = two_workers["workers"].pop()
    old.stop()
    port = free_port()
    new = start_worker({**env, "RISKSTREAM_METRICS__PORT": str(port),
                        "RISKSTREAM_WORKER__STATE_DIR": str(tmp_path / "state")}, tmp_path / "restarted.log")
    two_workers["workers"].append(new)
    wait_until(lambda: metric_value(scrape(port) or "", "riskstream_weather_zones") >= 1, 120,
               what="the restarted worker to read the weather topic", procs=(new,))
    wait_until(lambda: assigned_partitions(port, topic(env, "wearable")), 120,
               what="the restarted worker to hold rider partitions", procs=(new,))
    now = time.time()
    riders = [f"back-{i:02d}" for i in range(24)]  # no weather is produced now: only what the topic holds
    items: list[tuple[bytes, bytes]] = []
    for rider in riders:
        items += [(rider.encode(), v) for v in ride(rider, HOT_ZONE, now - 30, 3, "back")[0]]
    produce(bootstrap, topic(env, "trip"), items)

    def heat_alerted(records: list[Any]) -> bool:
        return {json.loads(m.value())["rider_id"] for m in records
                if json.loads(m.value())["kind"] == "heat"} >= set(riders)

    alerts = consume(bootstrap, topic(env, "alerts"), heat_alerted, timeout=120)
    heat = {json.loads(m.value())["rider_id"] for m in alerts if json.loads(m.value())["kind"] == "heat"}
    assert set(riders) <= heat, f"no heat alert for {sorted(set(riders) - heat)}"
    assert f"no weather for zone {HOT_ZONE}" not in new.log(), "a rider was scored before the weather was read"


def absorbed(msg: Any, candidates: dict[str, bytes]) -> set[str]:
    """The candidate wearable records a changelogged rider state has applied (its dedup ring says so)."""
    from features import FeatureConfig, UpdateResult, update_wearable
    from riskstream.contracts.records import WearableReading

    features = json.loads(msg.value())["features"]
    out = set()
    for event_id, raw in candidates.items():
        state = RiderState.from_dict(features)  # a fresh copy: a record not seen yet would be applied to it
        if update_wearable(state, WearableReading.model_validate_json(raw), FeatureConfig()) is UpdateResult.DUPLICATE:
            out.add(event_id)
    return out
