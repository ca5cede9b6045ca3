"""What each worker's weather feed costs at start: reading the weather backlog into the zone store.

Produces ``--zones`` zones x ``--readings`` observations to a weather topic on an embedded broker,
then times one :class:`streams.weather_feed.WeatherFeed` (the same service every worker runs)
from its start until its backlog is read, and measures the zone store's memory.

    python -m benchmarks.bench_weather_feed --zones 300 --readings 100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import tracemalloc
import uuid
from datetime import datetime, timezone
from pathlib import Path

from riskstream.testing.workers import free_port, produce
from streams.batch import RawRecord
from streams.broker import EmbeddedBroker
from streams.processor import Processor
from streams.settings import Settings
from streams.topics import ensure_topics
from streams.weather_feed import WeatherFeed


def observations(zones: int, readings: int, every_s: float) -> list[tuple[bytes, bytes]]:
    start = time.time() - readings * every_s
    items = []
    for i in range(readings):
        ts = datetime.fromtimestamp(start + i * every_s, timezone.utc).isoformat()
        for z in range(zones):
            items.append((f"zone-{z}".encode(), json.dumps({
                "event_id": f"wx-{z}-{i}", "ts": ts, "zone_id": f"zone-{z}", "air_temp_c": 25.0 + (i + z) % 15,
                "relative_humidity_pct": 60.0, "precipitation_mm_h": float(i % 7 == 0)}).encode()))
    return items


async def load(settings: Settings, proc: Processor) -> tuple[float, int]:
    async def apply(records: list[RawRecord]) -> None:
        proc.process_weather(records, dead_letters=False)

    feed = WeatherFeed(settings, apply)
    t0 = time.monotonic()
    await feed.start()
    await feed.loaded.wait()
    took = time.monotonic() - t0
    await feed.stop()
    return took, feed.records_read


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zones", type=int, default=300, help="zones (default 300)")
    parser.add_argument("--readings", type=int, default=100, help="observations per zone (default 100)")
    parser.add_argument("--every-s", type=float, default=900.0, help="seconds between a zone's observations")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench-weather-"))
    with EmbeddedBroker("127.0.0.1", free_port(), log_path=tmp / "tansu.log") as broker:
        settings = Settings.model_validate({
            "kafka": {"broker": broker.url}, "topics": {"weather": f"{uuid.uuid4().hex[:6]}.weather"},
            "worker": {"state_dir": str(tmp / "state"), "weather_lookback_s": 0}})
        asyncio.run(ensure_topics(settings))
        items = observations(args.zones, args.readings, args.every_s)
        asyncio.run(produce(broker.bootstrap_servers, settings.topics.weather, items))
        proc = Processor(settings)
        took, read = asyncio.run(load(settings, proc))
    # the zone store's memory, built again in-process from the same records (traced, so not timed)
    records = [RawRecord(settings.topics.weather, 0, i, k, v, None) for i, (k, v) in enumerate(items)]
    again = Processor(settings)
    tracemalloc.start()
    again.process_weather(records, dead_letters=False)
    zones_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    print(f"{read:,} weather records ({args.zones} zones x {args.readings}) read into {len(proc.zones)} zones "
          f"in {took:.1f} s ({read / took:,.0f}/s, start of the feed to backlog read); zone store "
          f"{zones_bytes / 1e6:.2f} MB ({zones_bytes / max(1, len(again.zones)):,.0f} B per zone, "
          f"{again.zones.observations():,} observations kept for the as-of lookup)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
