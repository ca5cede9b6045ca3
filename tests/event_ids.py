"""A recording whose weather arrives late, and the check that every output id names one record.

Shared by the unit test (the processor with plain objects) and the integration test (a real
worker): rider r1 reports for five minutes in zone z1, then six observations of z1's weather
for a moment before r1's newest event arrive one by one, alternating hot and flooded with
mild. Each one changes the zone's weather materially, so the worker rescores r1 at the same
event time; the premium band flips every time, so each rescore publishes a new insurer record.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from riskstream.contracts.records import WeatherObservation
from riskstream.testing.recording import rider_recording

START = 1_782_864_000.0
RIDER = "r1"
ZONE = "z1"
TELEMETRY_S = 300
FLIPS = 6


def zone_weather(k: int, ts: float, hot: bool) -> WeatherObservation:
    return WeatherObservation(
        event_id=f"{ZONE}-wx-{k}", ts=datetime.fromtimestamp(ts, timezone.utc), zone_id=ZONE,
        air_temp_c=41.0 if hot else 22.0, relative_humidity_pct=60.0 if hot else 50.0,
        precipitation_mm_h=30.0 if hot else 0.0, road_flooding=hot, visibility_m=150.0 if hot else 10_000.0,
        daily_max_temp_c=41.0 if hot else 24.0, solar_w_m2=800.0,
    )


def telemetry() -> list[tuple[str, Any]]:
    """(role, record): the mild weather before r1 starts, then r1's first five minutes."""
    rider = rider_recording(RIDER, START, TELEMETRY_S // 60, zone_id=ZONE)
    return [("weather", zone_weather(0, START - 60, hot=False)), *rider]


def late_weather() -> list[tuple[str, Any]]:
    """(role, record): the observations that arrive after r1's telemetry, each older than r1's newest event."""
    newest = max(rec.ts.timestamp() for role, rec in telemetry() if role != "weather")
    return [("weather", zone_weather(k, newest - 30 + k, hot=k % 2 == 1)) for k in range(1, FLIPS + 1)]


def reused_ids(outputs: Iterable[tuple[str, dict[str, Any]]]) -> dict[tuple[str, str], int]:
    """(topic role, event_id) -> number of different records that carry it, for ids carried by more than one."""
    records: dict[tuple[str, str], set[str]] = defaultdict(set)
    for role, value in outputs:
        records[(role, value["event_id"])].add(json.dumps(value, sort_keys=True))
    return {key: len(distinct) for key, distinct in records.items() if len(distinct) > 1}
