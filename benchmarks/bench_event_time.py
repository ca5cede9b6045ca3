"""Paced stream against backlog: score points, decisions and throughput of one simulated recording.

Replays one heat-wave recording through a fresh processor and the driver twice: paced (in event-time
order, ``--paced-batch`` records a batch, each batch's weather first) and as a backlog (all weather
first, then the rider topics in ``--backlog-batch`` records a batch). Prints the score points (a rider
scored at one event time), the decisions of each, whether they are equal, and the records per second.

    python -m benchmarks.bench_event_time --riders 6 --minutes 40
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from riskstream.simulation import FleetSimulator, SimConfig
from streams import metrics
from streams.driver import Driver, MemorySink
from streams.processor import Processor, RawRecord
from streams.settings import Settings, WorkerSettings


def raw(s: Settings, records: list[Any]) -> list[tuple[float, RawRecord]]:
    topics = s.topics.by_role()
    offsets: dict[str, int] = {}
    out = []
    for rec in records:
        topic = topics[rec.role]
        offsets[topic] = offsets.get(topic, -1) + 1
        out.append((rec.value.ts.timestamp(), RawRecord(topic, 0, offsets[topic], rec.key.encode(),
                                                        rec.value_bytes(), None)))
    return out


def replay(records: list[Any], paced: bool, paced_batch: int, backlog_batch: int) -> tuple[int, set[Any], float]:
    """(score points, decisions, seconds) of one replay."""
    s = Settings(worker=WorkerSettings(state_dir=Path(tempfile.mkdtemp(prefix="bench-event-time-"))))
    proc, sink = Processor(s), MemorySink()
    driver = Driver(proc, sink)
    rows = raw(s, records)
    weather = s.topics.weather

    async def run() -> None:
        if paced:
            await driver.feed([r for _, r in sorted(rows, key=lambda pair: pair[0])], batch_size=paced_batch)
        else:
            await driver.weather([r for _, r in rows if r.topic == weather])
            riders = [r for _, r in rows if r.topic != weather]
            for i in range(0, len(riders), backlog_batch):
                await driver.riders(riders[i:i + backlog_batch])

    points_before = metrics.REGISTRY.get_sample_value("riskstream_scoring_batch_riders_sum") or 0.0
    started = time.perf_counter()
    asyncio.run(run())
    took = time.perf_counter() - started
    points = (metrics.REGISTRY.get_sample_value("riskstream_scoring_batch_riders_sum") or 0.0) - points_before
    decided = {(role, json.loads(value)["event_id"]) for role, _, value in sink.take_outputs()
               if role in ("alerts", "escalations", "risk_scores", "audit")}
    return int(points), decided, took


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--riders", type=int, default=6, help="simulated riders")
    parser.add_argument("--minutes", type=float, default=40.0, help="minutes of event time")
    parser.add_argument("--seed", type=int, default=4, help="simulator seed")
    parser.add_argument("--paced-batch", type=int, default=20, help="records per batch when paced")
    parser.add_argument("--backlog-batch", type=int, default=5000, help="rider records per batch in the backlog")
    args = parser.parse_args(argv)
    records = list(FleetSimulator(SimConfig(riders=args.riders, seed=args.seed, scenario="heatwave"))
                   .records(args.minutes * 60))
    paced = replay(records, True, args.paced_batch, args.backlog_batch)
    backlog = replay(records, False, args.paced_batch, args.backlog_batch)
    for name, (points, decided, took) in (("paced", paced), ("backlog", backlog)):
        print(f"{name:8s} {len(records):,} records: {points:,} score points, {len(decided):,} decisions "
              f"(alerts, escalations, insurer and audit records) in {took:.1f} s ({len(records) / took:,.0f}/s)")
    print(f"same decisions: {paced[1] == backlog[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
