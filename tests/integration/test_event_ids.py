"""Output ids through a real worker: one id per distinct record, also across a restart (issue 12, finding 6).

The outputs are read with confluent-kafka, a client independent of the worker's aiokafka.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from riskstream.testing.workers import free_port, metric_value, scrape, start_worker, wait_until
from streams.settings import Settings
from tests.event_ids import late_weather, reused_ids, telemetry

pytestmark = pytest.mark.integration

ROLES = ("wearable", "trip", "weather", "incidents", "responses", "alerts", "escalations", "risk_scores", "audit",
         "dlq")
OUTPUTS = ("alerts", "risk_scores", "audit", "escalations", "dlq")


def read_all(bootstrap: str, topics: dict[str, str], idle_s: float = 5.0, timeout_s: float = 60.0,
             ) -> list[tuple[str, dict[str, Any]]]:
    """(role, value) of every record of ``topics`` (role -> name), read until nothing new came for ``idle_s``."""
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"ids-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe(list(topics.values()))
    role_of = {name: role for role, name in topics.items()}
    out: list[tuple[str, dict[str, Any]]] = []
    deadline, last_new = time.monotonic() + timeout_s, time.monotonic()
    try:
        while time.monotonic() < deadline and (not out or time.monotonic() - last_new < idle_s):
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            out.append((role_of[msg.topic()], json.loads(msg.value())))
            last_new = time.monotonic()
    finally:
        consumer.close()
    return out


def test_every_output_id_names_one_record_across_rescores_and_a_worker_restart(broker: Any, tmp_path: Path) -> None:
    from riskstream.cli.producer import produce as produce_records
    from riskstream.simulation.records import SimRecord

    tag = uuid.uuid4().hex[:6]
    topics = {role: f"{tag}.{role}" for role in ROLES}
    port = free_port()
    env = {"RISKSTREAM_KAFKA__BROKER": broker.url, "RISKSTREAM_METRICS__PORT": str(port),
           "RISKSTREAM_WORKER__STATE_DIR": str(tmp_path / "state"), "RISKSTREAM_WORKER__APP_ID": f"ids-{tag}",
           **{f"RISKSTREAM_TOPICS__{role.upper()}": name for role, name in topics.items()}}
    settings = Settings.model_validate({"kafka": {"broker": broker.url}, "topics": topics})

    def send(records: list[tuple[str, Any]]) -> None:
        sim = [SimRecord(role, rec.zone_id if role == "weather" else rec.rider_id, rec) for role, rec in records]
        asyncio.run(produce_records(settings, sim))

    def consumed() -> float:
        return metric_value(scrape(port) or "", "riskstream_records_consumed_total")

    tel, weather = telemetry(), late_weather()
    worker = start_worker(env, tmp_path / "worker-1.log")
    try:
        wait_until(lambda: scrape(port), 90, what="the worker's metrics endpoint", procs=(worker,))
        send(tel)
        wait_until(lambda: consumed() >= len(tel), 120, what="the telemetry to be processed", procs=(worker,))
        for n, obs in enumerate(weather[:3], start=1):  # one by one: each is a batch and a rescore of its own
            send([obs])
            wait_until(lambda n=n: consumed() >= len(tel) + n, 60, what=f"weather {n}", procs=(worker,))
        assert worker.stop() == 0, worker.log()[-3000:]

        # a new process: the rider's state, with its revisions, comes back from the changelog
        worker = start_worker(env, tmp_path / "worker-2.log")
        wait_until(lambda: scrape(port), 90, what="the new worker's metrics endpoint", procs=(worker,))
        send(tel[-1:])  # the rider's last record again (a repeat): the worker loads the rider's state
        wait_until(lambda: consumed() >= 1, 120, what="the repeated record", procs=(worker,))
        for n, obs in enumerate(weather[3:], start=2):
            send([obs])
            wait_until(lambda n=n: consumed() >= n, 60, what=f"weather {n + 2}", procs=(worker,))
        outputs = read_all(broker.bootstrap_servers, {role: topics[role] for role in OUTPUTS})
    finally:
        worker.stop()

    scores = [value for role, value in outputs if role == "risk_scores"]
    rescored = Counter(p["ts"] for p in scores).most_common(1)
    assert rescored and rescored[0][1] >= 4, f"the weather should rescore one event time several times: {scores}"
    assert reused_ids(outputs) == {}
    audit = [value for role, value in outputs if role == "audit"]
    assert {a["decision_id"] for a in audit if a["decision_type"] == "premium_signal"} == {p["event_id"] for p in scores}
