"""A backlog through the real worker: a day's records, produced with confluent-kafka before the worker starts.

The zone's weather is cool in the morning and the evening and hot at midday. The worker reads the whole
weather topic before the riders (its feed loads first), so "the zone's newest weather" would be the cool
evening for every shift; weather as of each rider's event time gives the midday shift its heat alerts.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from riskstream.testing.workers import metric_value, scrape, start_worker, wait_until
from tests.integration.test_pipeline import ROLES, topic, worker_env
from tests.integration.test_two_workers import consume, produce

pytest.importorskip("confluent_kafka")

pytestmark = pytest.mark.integration

ZONE = "zone-day"
DAY = datetime(2026, 7, 14, tzinfo=timezone.utc)
#: (start, minutes) of each shift, UTC; local time is UTC+8: 08:00, 13:00 and 20:00.
SHIFTS = ((DAY, 15), (DAY + timedelta(hours=5), 15), (DAY + timedelta(hours=12), 15))
HOT = (DAY + timedelta(hours=4, minutes=30), DAY + timedelta(hours=6))  # 38 °C at 60 %: heat index about 50 °C
RIDERS = ("day-r1", "day-r2")


def weather() -> list[tuple[bytes, bytes]]:
    """One observation every 10 min from 10 min before the first shift to 30 min after the last."""
    out = []
    t = DAY - timedelta(minutes=10)
    while t <= SHIFTS[-1][0] + timedelta(minutes=30):
        hot = HOT[0] <= t < HOT[1]
        out.append((ZONE.encode(), json.dumps({
            "event_id": f"wx-{t.isoformat()}", "ts": t.isoformat(), "zone_id": ZONE,
            "air_temp_c": 38.0 if hot else 24.0, "relative_humidity_pct": 60.0 if hot else 50.0}).encode()))
        t += timedelta(minutes=10)
    return out


def trips() -> list[tuple[bytes, bytes]]:
    out = []
    for start, minutes in SHIFTS:
        for rider in RIDERS:
            for s in range(minutes * 60):
                ts = (start + timedelta(seconds=s)).isoformat()
                out.append((rider.encode(), json.dumps({
                    "event_id": f"t-{rider}-{ts}", "ts": ts, "rider_id": rider, "zone_id": ZONE, "status": "riding",
                    "lat": 31.2, "lon": 121.5, "speed_kmh": 18.0}).encode()))
    return out


def test_a_hot_midday_inside_a_backlog_gets_its_heat_alerts(broker: Any, tmp_path: Path) -> None:
    from streams.settings import Settings
    from streams.topics import ensure_topics

    env = worker_env(broker, tmp_path)
    settings = Settings.model_validate({"kafka": {"broker": broker.url},
                                        "topics": {role: topic(env, role) for role in ROLES}})
    asyncio.run(ensure_topics(settings))
    bootstrap = broker.bootstrap_servers
    observations, rides = weather(), trips()
    produce(bootstrap, topic(env, "weather"), observations)
    produce(bootstrap, topic(env, "trip"), rides)
    port = int(env["RISKSTREAM_METRICS__PORT"])
    worker = start_worker(env, tmp_path / "worker.log")  # the records are all there before it starts
    try:
        wait_until(lambda: metric_value(scrape(port) or "", "riskstream_records_consumed_total", topic=topic(
            env, "trip")) >= len(rides), 300, what="the worker to read the whole backlog", procs=(worker,))
        alerts = [json.loads(m.value()) for m in consume(
            bootstrap, topic(env, "alerts"), lambda records: False, timeout=10)]
    finally:
        worker.stop()
    heat = [(a["rider_id"], datetime.fromisoformat(a["ts"].replace("Z", "+00:00"))) for a in alerts
            if a["kind"] == "heat"]
    midday = SHIFTS[1][0], SHIFTS[1][0] + timedelta(minutes=SHIFTS[1][1])
    assert {rider for rider, _ in heat} == set(RIDERS), worker.log()[-3000:]
    assert all(midday[0] <= ts < midday[1] for _, ts in heat), heat
