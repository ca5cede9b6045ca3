"""Issue 12, record faults, on the real broker with real worker processes.

The odd records are produced with confluent-kafka, a client independent of the worker's own
(aiokafka under Faust), with the Java partitioner so keys land where the worker's producer puts them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from riskstream.testing.workers import (
    Process,
    metric_value,
    read_topic,
    scrape,
    start_worker,
    wait_until,
)
from tests.integration.failing_app import FAIL_KEY
from tests.integration.slow_app import SLOW_KEY, SLOW_MARK
from tests.integration.test_pipeline import ROLES, topic, worker_env

pytestmark = pytest.mark.integration
confluent_kafka = pytest.importorskip("confluent_kafka")

def produce(bootstrap: str, items: list[tuple[str, bytes | None, bytes]]) -> None:
    """(topic, key, value) in order, acknowledged by the broker."""
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random",
                                         "enable.idempotence": False, "linger.ms": 5})
    failed: list[str] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            failed.append(str(err))

    for name, key, value in items:
        producer.produce(name, value=value, key=key, on_delivery=delivered)
        producer.poll(0)
    assert producer.flush(60) == 0 and not failed, failed


def odd_records(env: dict[str, str], good_wearable: dict[str, Any],
                good_trip: dict[str, Any]) -> list[tuple[str, str, bytes, bytes]]:
    """(expected error class, topic, key, payload) of the issue's schema-valid but odd records."""
    out = []
    for i in range(6):
        rider = f"rider-odd-{i}"
        w = dict(good_wearable, event_id=f"odd-w{i}", rider_id=rider, ts="1970-01-01T00:00:00Z")
        t = dict(good_trip, event_id=f"odd-t{i}", rider_id=rider, ts=12345 + i)
        out.append(("implausible_timestamp", topic(env, "wearable"), rider.encode(), json.dumps(w).encode()))
        out.append(("implausible_timestamp", topic(env, "trip"), rider.encode(), json.dumps(t).encode()))
    nested = b"[" * 100_000
    huge_int = b'{"event_id": "wx-huge", "zone_id": "z", "air_temp_c": ' + b"7" * 4301 + b"}"
    out.append(("invalid_json", topic(env, "weather"), b"zone-bad", nested))
    out.append(("invalid_json", topic(env, "weather"), b"zone-bad", huge_int))
    return out


def eventually(predicate: Any, timeout: float) -> bool:
    """Whether ``predicate`` became true within ``timeout`` seconds (no assertion: the caller decides)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return bool(predicate())


def test_odd_records_are_dead_lettered_and_every_valid_record_is_applied(
        broker: Any, tmp_path: Path) -> None:
    from riskstream.simulation import FleetSimulator, SimConfig
    from streams.settings import Settings

    env = worker_env(broker, tmp_path, app="riskstream-faults", max_payload_bytes=None)
    port = int(env["RISKSTREAM_METRICS__PORT"])
    records = list(FleetSimulator(SimConfig(riders=6, seed=12)).records(12 * 60))
    settings = Settings.model_validate({"topics": {role: topic(env, role) for role in ROLES}})
    names = settings.topics.by_role()
    valid = [(names[r.role], r.key.encode(), r.value_bytes()) for r in records]
    first = {r.role: r.value.model_dump(mode="json") for r in reversed(records)}
    odd = odd_records(env, first["wearable"], first["trip"])
    # the odd records go in among the valid ones, as in the issue
    mixed = valid[:len(valid) // 2] + [(t, k, v) for _, t, k, v in odd] + valid[len(valid) // 2:]
    worker = start_worker(env, tmp_path / "worker.log")
    try:
        wait_until(lambda: scrape(port), 90, what="the worker's metrics endpoint", procs=(worker,))
        produce(broker.bootstrap_servers, mixed)
        bootstrap = broker.bootstrap_servers
        dlq = asyncio.run(read_topic(bootstrap, topic(env, "dlq"), min_count=len(odd), timeout=120))

        def all_consumed() -> str | None:
            text = scrape(port) or ""
            return text if metric_value(text, "riskstream_records_consumed_total") >= len(mixed) else None

        text = wait_until(all_consumed, 180, what="the worker to consume every record", procs=(worker,))
        scores = asyncio.run(read_topic(bootstrap, topic(env, "risk_scores"), min_count=1, timeout=60))
        states = asyncio.run(read_topic(bootstrap, f"{env['RISKSTREAM_WORKER__APP_ID']}-rider-state-changelog",
                                        min_count=6, timeout=60))
        assert worker.alive(), worker.log()[-3000:]
    finally:
        worker.stop()
    log = worker.log()
    letters = [d["value"] for d in dlq]
    assert Counter(d["error_class"] for d in letters) == Counter(cls for cls, *_ in odd), letters
    produced = {(t, v) for _, t, _, v in odd}
    for letter in letters:
        assert letter["reason"] and letter["partition"] >= 0 and letter["offset"] >= 0
        # the payload is a redacted excerpt: the digest says which record it was
        assert any(letter["source_topic"] == t and letter["payload_sha256"] == hashlib.sha256(v).hexdigest()
                   for t, v in produced)
        assert f"dead letter from {letter['source_topic']}[{letter['partition']}]@{letter['offset']}" in log
    assert metric_value(text, "riskstream_records_consumed_total", outcome="processed") == len(valid)
    assert metric_value(text, "riskstream_records_consumed_total", outcome="dead_letter") == len(odd)
    riders = {r.key for r in records if r.role != "weather"}
    assert {s["key"].decode() for s in states} == riders  # every valid rider has a state, no odd one does
    assert scores
    assert "Traceback" not in log, log[-3000:]


def test_a_failure_that_is_no_records_fault_stops_the_worker_before_its_batch_is_committed(
        broker: Any, tmp_path: Path) -> None:
    env = worker_env(broker, tmp_path, app="riskstream-faults", max_payload_bytes=None)
    port = int(env["RISKSTREAM_METRICS__PORT"])
    wearable = topic(env, "wearable")
    # the batch that fails holds a record that can only be dead-lettered: its letter shows it was processed
    poison = [(wearable, FAIL_KEY, b'{"event_id": "never-lost",')]
    failing = Process([sys.executable, "-m", "tests.integration.failing_app", "worker"],
                      {**env, "RISKSTREAM_METRICS__PORT": "0"}, tmp_path / "failing.log")
    try:
        wait_until(lambda: "Ready" in failing.log(), 90, what="the failing app to start", procs=(failing,))
        produce(broker.bootstrap_servers, poison)
        stopped = eventually(lambda: not failing.alive(), 60)
    finally:
        code = failing.stop()  # if it is still running: SIGTERM, a graceful stop that commits what was acked
    worker = start_worker(env, tmp_path / "worker.log")  # the ordinary worker, same group: a restart
    try:
        wait_until(lambda: scrape(port), 90, what="the restarted worker's metrics endpoint", procs=(worker,))
        dlq = asyncio.run(read_topic(broker.bootstrap_servers, topic(env, "dlq"), min_count=1, timeout=90))
    finally:
        worker.stop()
    assert [(d["value"]["error_class"], d["value"]["offset"]) for d in dlq] == [("invalid_json", 0)], \
        worker.log()[-3000:]
    assert stopped and code == 70, failing.log()[-3000:]
    assert "not a record's fault" in failing.log() and "a restart resumes from the last committed offset" in \
        failing.log()
    assert f"{wearable}[" in failing.log()


@pytest.mark.parametrize("how", ["sigterm", "crash"])
def test_a_worker_stopped_in_the_middle_of_a_batch_finishes_it_before_committing(
        broker: Any, tmp_path: Path, how: str) -> None:
    """Stopped while a batch is half-way. On SIGTERM Faust waits for the batch (``stream_wait_empty``); when one of
    its services crashes (as its recovery did in the three-worker test) it cancels the agent at once, and acked the
    half-done batch in ``take_events``' ``finally``, then committed it: before issue 12's fix this batch's dead
    letter was never sent and its offset was committed (lost). Now the batch is finished before the cancel goes on."""
    env = worker_env(broker, tmp_path, app="riskstream-faults", max_payload_bytes=None)
    port = int(env["RISKSTREAM_METRICS__PORT"])
    wearable = topic(env, "wearable")
    poison = [(wearable, SLOW_KEY, b'{"event_id": "finished-before-commit",')]
    slow = Process([sys.executable, "-m", "tests.integration.slow_app", "worker"],
                   {**env, "RISKSTREAM_METRICS__PORT": "0", **({"SLOW_APP_CRASH": "1"} if how == "crash" else {})},
                   tmp_path / "slow.log")
    try:
        wait_until(lambda: "Ready" in slow.log(), 90, what="the slow app to start", procs=(slow,))
        produce(broker.bootstrap_servers, poison)
        wait_until(lambda: SLOW_MARK in slow.log(), 60, what="the slow batch to begin", procs=(slow,))
        if how == "crash":
            eventually(lambda: not slow.alive(), 60)
    finally:
        code = slow.stop(timeout=60)  # SIGTERM mid-batch: a graceful stop
    worker = start_worker(env, tmp_path / "worker.log")  # the ordinary worker, same group: a restart
    try:
        wait_until(lambda: scrape(port), 90, what="the restarted worker's metrics endpoint", procs=(worker,))
        dlq = asyncio.run(read_topic(broker.bootstrap_servers, topic(env, "dlq"), min_count=2, timeout=30))
    finally:
        worker.stop()
    if how == "sigterm":
        assert code == 0, slow.log()[-3000:]
    letters = [(d["value"]["error_class"], d["value"]["offset"]) for d in dlq]
    if how == "sigterm":  # a graceful stop: applied once, by the stopping worker; the restart does not read it again
        assert letters == [("invalid_json", 0)], slow.log()[-3000:] + worker.log()[-2000:]
    else:  # a crash commits nothing more: the finished batch is read again (at least once, the same dead letter id)
        assert "finishing it first" in slow.log(), slow.log()[-3000:]
        assert letters and set(letters) == {("invalid_json", 0)}, slow.log()[-3000:] + worker.log()[-2000:]
        assert len({d["value"]["event_id"] for d in dlq}) == 1
