"""A suspected fall through the real broker and worker: unanswered → safety.escalations; answered OK → none."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from riskstream.testing.workers import produce, read_topic, scrape, start_worker, wait_until
from streams.settings import Settings
from tests.integration.test_pipeline import topic, worker_env
from tests.unit.test_streams_escalation import T0, fall_ride

pytestmark = pytest.mark.integration


def _as_items(records: list[Any], rider: str) -> dict[str, list[tuple[bytes, bytes]]]:
    """The unit test's fall ride, for ``rider``, grouped by role."""
    s = Settings()
    roles = {s.topics.wearable: "wearable", s.topics.trip: "trip", s.topics.weather: "weather"}
    out: dict[str, list[tuple[bytes, bytes]]] = {"wearable": [], "trip": [], "weather": []}
    for rec in records:
        value = json.loads(rec.value)
        if "rider_id" in value:
            value["rider_id"] = rider
            value["event_id"] = f"{rider}-{value['event_id']}"
        key = rider.encode() if roles[rec.topic] != "weather" else b"z1"
        out[roles[rec.topic]].append((key, json.dumps(value).encode()))
    return out


def test_unanswered_fall_escalates_and_an_ok_cancels(broker: Any, tmp_path: Path) -> None:
    env = worker_env(broker, tmp_path)
    env["RISKSTREAM_WORKER__FALL_RESPONSE_TIMEOUT_S"] = "60"
    port = int(env["RISKSTREAM_METRICS__PORT"])
    worker = start_worker(env, tmp_path / "worker.log")
    bootstrap = broker.bootstrap_servers
    try:
        wait_until(lambda: scrape(port), 90, what="the worker's metrics endpoint", procs=(worker,))
        # two riders fall; the device keeps sending stillness for 30 s of event time
        head = fall_ride(Settings(), seconds_after=30)
        for rider in ("r-silent", "r-fine"):
            for role, items in _as_items(head, rider).items():
                asyncio.run(produce(bootstrap, topic(env, role), items))
        alerts = asyncio.run(read_topic(bootstrap, topic(env, "alerts"), min_count=2, timeout=90))
        falls = {a["value"]["rider_id"]: a["value"] for a in alerts if a["value"]["kind"] == "fall"}
        assert set(falls) == {"r-silent", "r-fine"} and all(f["requires_response"] for f in falls.values())
        answer = {"event_id": "ans-1", "ts": (T0 + timedelta(seconds=150)).isoformat(), "rider_id": "r-fine",
                  "alert_id": falls["r-fine"]["alert_id"], "answer": "ok"}
        asyncio.run(produce(bootstrap, topic(env, "responses"), [(b"r-fine", json.dumps(answer).encode())]))
        # then both devices report stillness well past the 60 s timeout (event time)
        tail = fall_ride(Settings(), seconds_after=200)[len(head):]
        for rider in ("r-silent", "r-fine"):
            for role, items in _as_items(tail, rider).items():
                asyncio.run(produce(bootstrap, topic(env, role), items))
        escalations = asyncio.run(read_topic(bootstrap, topic(env, "escalations"), min_count=1, timeout=90))
        audit = asyncio.run(read_topic(bootstrap, topic(env, "audit"), min_count=10**6, timeout=10))
    finally:
        worker.stop()
    assert [e["value"]["rider_id"] for e in escalations] == ["r-silent"], worker.log()[-3000:]
    esc = escalations[0]["value"]
    assert esc["reason"] == "no_response" and esc["alert_id"] == falls["r-silent"]["alert_id"]
    outcomes = {(a["value"]["rider_id"], a["value"]["outcome"].split(":")[0])
                for a in audit if a["value"]["decision_type"] == "escalation"}
    assert outcomes == {("r-silent", "escalated to the safety team"), ("r-fine", "escalation cancelled")}
