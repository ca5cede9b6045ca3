"""Bounded by design, with a real worker: junk zones are one `other` label; silent riders are deleted from the table,
also those a restarted worker only has in its recovered table."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from riskstream.testing.workers import metric_value, produce, scrape, start_worker, wait_until
from tests.integration.test_pipeline import ROLES, topic, worker_env

pytestmark = pytest.mark.integration

JUNK = 500


def trip(rider_id: str, zone_id: str, when: datetime, n: int) -> tuple[bytes, bytes]:
    value = {"event_id": f"t-{rider_id}-{n}", "ts": when.isoformat().replace("+00:00", "Z"), "rider_id": rider_id,
             "zone_id": zone_id, "status": "riding", "lat": 31.2, "lon": 121.4, "speed_kmh": 18.0}
    return rider_id.encode(), json.dumps(value).encode()


async def latest_by_key(bootstrap: str, topic_name: str, timeout: float = 5.0) -> dict[bytes, bytes | None]:
    """Every key's latest value in a topic (None: a tombstone), read from the start until it goes quiet."""
    consumer = AIOKafkaConsumer(topic_name, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                group_id=None, enable_auto_commit=False)
    await consumer.start()
    latest: dict[bytes, bytes | None] = {}
    quiet_until = time.monotonic() + timeout
    try:
        while time.monotonic() < quiet_until:
            batches = await consumer.getmany(timeout_ms=500)
            for messages in batches.values():
                for msg in messages:
                    latest[msg.key] = msg.value
                    quiet_until = time.monotonic() + 2.0
    finally:
        await consumer.stop()
    return latest


def online_by_zone(text: str) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {s.labels["zone"]: s.value for f in text_string_to_metric_families(text) for s in f.samples
            if s.name == "riskstream_riders_online"}


def test_junk_zones_share_one_label_and_silent_riders_are_tombstoned(broker: Any, tmp_path: Path) -> None:
    from streams.settings import Settings
    from streams.topics import ensure_topics

    env = worker_env(broker, tmp_path)
    port = int(env["RISKSTREAM_METRICS__PORT"])
    worker = start_worker(env, tmp_path / "worker.log")
    try:
        wait_until(lambda: scrape(port), 90, what="the worker's metrics endpoint", procs=(worker,))
        settings = Settings.model_validate({"kafka": {"broker": broker.url},
                                            "topics": {role: topic(env, role) for role in ROLES}})
        asyncio.run(ensure_topics(settings))
        now = datetime.now(timezone.utc).replace(microsecond=0)
        old = now - timedelta(seconds=settings.worker.rider_ttl_s + 5 * 86400)
        junk = [trip(f"junk-{i}", f"junk-zone-{i}", old + timedelta(seconds=i), 0) for i in range(JUNK)]
        asyncio.run(produce(broker.bootstrap_servers, topic(env, "trip"), junk))

        wait_until(lambda: online_by_zone(scrape(port) or "") == {"other": JUNK}, 120,
                   what=f"{JUNK} riders online under zone=\"other\"", procs=(worker,))
        text = scrape(port) or ""
        assert not any('zone="junk-zone' in line for line in text.splitlines())  # 500 zones: one series, not 500

        changelog = f"{env['RISKSTREAM_WORKER__APP_ID']}-rider-state-changelog"
        stored = asyncio.run(latest_by_key(broker.bootstrap_servers, changelog))
        assert sum(1 for k, v in stored.items() if k.startswith(b"junk-") and v is not None) == JUNK

        # a restart: the junk riders are now only in the recovered table, not in the worker's memory
        worker.stop()
        worker = start_worker(env, tmp_path / "worker-2.log")
        wait_until(lambda: scrape(port), 90, what="the restarted worker's metrics endpoint", procs=(worker,))
        asyncio.run(produce(broker.bootstrap_servers, topic(env, "trip"), [trip("live-1", "z1", now, 0)]))

        def junk_deleted() -> dict[bytes, bytes | None] | None:
            latest = asyncio.run(latest_by_key(broker.bootstrap_servers, changelog, timeout=3.0))
            gone = [k for k, v in latest.items() if k.startswith(b"junk-") and v is None]
            return latest if len(gone) == JUNK and latest.get(b"live-1") else None

        latest = wait_until(junk_deleted, 120, what="tombstones for every silent junk rider", procs=(worker,))
        assert json.loads(latest[b"live-1"])["features"]["rider_id"] == "live-1"
        wait_until(lambda: online_by_zone(scrape(port) or "") == {"other": 1.0}, 30,
                   what="the expired riders to leave the gauges (live-1's zone has no weather)", procs=(worker,))
        # the restarted worker applied only live-1 (a junk record re-read past the last commit is a duplicate):
        # the junk riders were found in its table, not in its input
        assert metric_value(scrape(port) or "", "riskstream_records_consumed_total", topic=topic(env, "trip"),
                            outcome="processed") == 1
        assert worker.log().count("past worker.rider_ttl_s") == JUNK
    finally:
        worker.stop()
