"""A small deterministic recording (wearable + trip + weather records) for tests and benchmarks.

Not the fleet simulator (``riskstream/simulation``): just enough shape to exercise every
feature: riding and waiting, a 20-min break, harsh braking, speeding, phone use, a
hot zone and rain.

>>> recs = list(rider_recording("r1", start=1_782_864_000.0, minutes=3))
>>> sorted({role for role, _ in recs})
['trip', 'wearable']
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from riskstream.contracts.records import TripPoint, TripStatus, WearableReading, WeatherObservation


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


def rider_recording(rider_id: str, start: float, minutes: int, zone_id: str = "z1", seed: int = 0,
                    break_at_min: int | None = None, break_min: int = 20) -> Iterator[tuple[str, Any]]:
    """1 Hz wearable and trip records of one rider, in event-time order."""
    rng = random.Random(seed)
    hr = 90.0
    for i in range(minutes * 60):
        ts = start + i
        minute = i // 60
        on_break = break_at_min is not None and break_at_min <= minute < break_at_min + break_min
        phase = (i // 240) % 3  # 4 min riding, 4 min riding, 4 min waiting
        status = TripStatus.on_break if on_break else (TripStatus.waiting if phase == 2 else TripStatus.riding)
        speed = 0.0 if status != TripStatus.riding else max(0.0, 22.0 + 8.0 * rng.uniform(-1, 1))
        hr += (0.6 if status == TripStatus.riding else -0.8) + rng.uniform(-0.5, 0.5)
        hr = min(175.0, max(62.0, hr))
        yield "wearable", WearableReading(
            event_id=f"{rider_id}-w-{i}", ts=_dt(ts), rider_id=rider_id, heart_rate_bpm=round(hr, 1),
            skin_temp_c=round(33.5 + 0.002 * i + rng.uniform(-0.05, 0.05), 2), accel_peak_g=round(1.2 + rng.random(), 3),
            accel_mean_g=1.0, accel_var=round(0.02 + 0.03 * rng.random(), 4), on_body=True)
        if i % 97 == 13:  # a trip dropout second now and then
            continue
        harsh = status == TripStatus.riding and i % 180 == 50
        yield "trip", TripPoint(
            event_id=f"{rider_id}-t-{i}", ts=_dt(ts), rider_id=rider_id, zone_id=zone_id, status=status,
            lat=31.2, lon=121.4, speed_kmh=round(speed, 2), accel_long_g=-0.5 if harsh else 0.0,
            accel_lat_g=0.45 if i % 300 == 77 else 0.0, speed_limit_kmh=20.0 if i % 120 < 10 else None,
            phone_handling=i % 150 < 4)


def weather_recording(zone_id: str, start: float, minutes: int, every_min: int = 5,
                      rain_from_min: int | None = None) -> Iterator[tuple[str, Any]]:
    """Zone weather every ``every_min`` minutes: hot and humid, raining from ``rain_from_min``."""
    for k, minute in enumerate(range(0, minutes, every_min)):
        ts = start + minute * 60
        yield "weather", WeatherObservation(
            event_id=f"{zone_id}-wx-{k}", ts=_dt(ts), zone_id=zone_id, air_temp_c=33.0 + 0.05 * k,
            relative_humidity_pct=65.0, wind_speed_ms=2.0, wind_gust_ms=6.0,
            precipitation_mm_h=4.0 if rain_from_min is not None and minute >= rain_from_min else 0.0,
            visibility_m=8000.0, solar_w_m2=700.0, daily_max_temp_c=36.0)


def merged_recording(riders: int, start: float, minutes: int, seed: int = 0) -> list[tuple[str, Any]]:
    """Several riders and one zone's weather, merged in event-time order (weather first on ties)."""
    out: list[tuple[float, int, str, Any]] = []
    for n, (role, rec) in enumerate(weather_recording("z1", start - 60, minutes + 1, rain_from_min=30)):
        out.append((rec.ts.timestamp(), n, role, rec))
    for r in range(riders):
        for n, (role, rec) in enumerate(rider_recording(f"r{r}", start, minutes, seed=seed + r, break_at_min=15)):
            out.append((rec.ts.timestamp() + 0.001 * (r + 1), n, role, rec))
    out.sort(key=lambda x: (x[0], x[1]))
    return [(role, rec) for _, _, role, rec in out]
