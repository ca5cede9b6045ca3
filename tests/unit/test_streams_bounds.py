"""Bounded by design: metric labels only from known zones; state of riders silent past the TTL expires."""

from __future__ import annotations

import json
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
    zones: dict[str, Any] = {}
    proc.bind_state(rider_store=riders, zone_store=zones)
    res = proc.process_weather([weather("z1", 0), weather("z2", 1)])
    zones.update(res.zones)
    proc.zones_written(res.zones)
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
