"""Bounded by design: metric labels only from known zones; state of riders silent past the TTL expires."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from streams import metrics
from streams.processor import Processor, RawRecord
from streams.settings import Settings, WorkerSettings

TS = "2026-07-15T02:00:00Z"


def trip(rider_id: str, zone_id: str, offset: int, ts: str = TS) -> RawRecord:
    value = {"event_id": f"t-{rider_id}-{offset}", "ts": ts, "rider_id": rider_id, "zone_id": zone_id,
             "status": "riding", "lat": 31.2, "lon": 121.4, "speed_kmh": 18.0}
    return RawRecord("telemetry.trip", 0, offset, rider_id.encode(), json.dumps(value).encode(), 1.0)


def weather(zone_id: str, offset: int) -> RawRecord:
    value = {"event_id": f"w-{zone_id}-{offset}", "ts": TS, "zone_id": zone_id, "air_temp_c": 36.0,
             "relative_humidity_pct": 60.0}
    return RawRecord("telemetry.weather", 0, offset, zone_id.encode(), json.dumps(value).encode(), 1.0)


def series(name: str) -> list[dict[str, str]]:
    return [s.labels for family in metrics.REGISTRY.collect() for s in family.samples if s.name == name]


def test_junk_zones_do_not_grow_the_metric_series(tmp_path: Path) -> None:
    proc = Processor(Settings(worker=WorkerSettings(state_dir=tmp_path)))
    riders: dict[str, Any] = {}
    proc.bind_state(rider_store=riders)
    proc.process_weather([weather("z1", 0), weather("z2", 1)])
    batch = [trip("real-1", "z1", 0), trip("real-2", "z2", 1)]
    batch += [trip(f"junk-{i}", f"junk-zone-{i}", i + 2) for i in range(5000)]  # 5,000 zones no weather knows
    proc.process_batch(batch)
    proc.publish_gauges()
    zones_seen = {labels["zone"] for name in ("riskstream_riders_online", "riskstream_riders_by_risk_band",
                                              "riskstream_escalations_open") for labels in series(name)}
    assert zones_seen == {"z1", "z2", "other"}, sorted(zones_seen)[:10]
    online = {s["zone"]: metrics.REGISTRY.get_sample_value("riskstream_riders_online", s)
              for s in series("riskstream_riders_online")}
    assert online == {"z1": 1.0, "z2": 1.0, "other": 5000.0}  # every rider still counted


def test_riders_silent_past_the_ttl_are_dropped_and_tombstoned(tmp_path: Path) -> None:
    settings = Settings(worker=WorkerSettings(state_dir=tmp_path))
    ttl = settings.worker.rider_ttl_s
    assert ttl > 7 * 86400  # longer than the longest feature window
    start = datetime(2026, 6, 1, tzinfo=timezone.utc)

    def at(seconds: float) -> str:
        return (start + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")

    riders: dict[str, Any] = {}

    def run(proc: Processor, batch: list[RawRecord]) -> dict[str, Any]:
        states = proc.process_batch(batch).states
        riders.update(states)
        return states

    first = Processor(settings)
    first.bind_state(rider_store=riders)
    run(first, [trip("junk-1", "z1", 0, at(0)), trip("gone-2", "z1", 1, at(0))])
    proc = Processor(settings)  # a restart: gone-2 is only in the table, never in this worker's memory
    proc.bind_state(rider_store=riders)
    run(proc, [trip("junk-1", "z1", 2, at(600)), trip("recent-3", "z1", 3, at(ttl - 86400))])
    assert {"junk-1", "recent-3"} <= proc.hot.keys()
    states = run(proc, [trip("live-4", "z1", 4, at(ttl + 3600))])
    assert states.get("junk-1", "kept") is None and states.get("gone-2", "kept") is None  # tombstones
    assert "junk-1" not in proc.hot and "live-4" in proc.hot
    assert riders["recent-3"] is not None and states.get("recent-3", "kept") is not None  # silent < the TTL
