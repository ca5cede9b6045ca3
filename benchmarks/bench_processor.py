"""The in-process decision path: CPU seconds of the processor per simulated rider-hour, and where they go.

Simulates ``--riders`` riders for ``--minutes`` of event time (the ``mixed`` scenario from noon, like
``bench_pipeline``), packs each rider's wearable and trip records in envelopes of ``--envelope``, and
feeds them through a fresh :class:`streams.processor.Processor` and its driver in ``--batch`` messages
a batch, the way the worker's agent hands them over (weather first, as the worker's weather feed reads
it ahead). The simulation is done before the clock starts. Prints the processor's CPU seconds (one
core) per simulated rider-hour and per online rider-hour, microseconds per reading, and the outputs, with the
garbage collector set as the worker sets it (``streams.worker.collect_less_often``; ``--gc default``: Python's);
``--profile N`` also prints cProfile's top ``N`` functions by cumulative and by own time.

    python -m benchmarks.bench_processor                       # 600 riders, 10 minutes, 3 runs
    python -m benchmarks.bench_processor --quick --profile 25
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from riskstream.simulation import FleetSimulator, SimConfig
from riskstream.simulation.envelopes import envelopes
from streams.driver import Driver, MemorySink
from streams.processor import Processor, RawRecord
from streams.settings import Settings, WorkerSettings
from streams.worker import collect_less_often

#: 12:00 local time (UTC+8) in the simulator's default day, as in bench_pipeline.
NOON = datetime(2026, 7, 15, 4, 0, tzinfo=timezone.utc)


def fleet(riders: int, minutes: float, seed: int, envelope: int) -> tuple[list[Any], float, int]:
    """(the messages in produced order, online rider-hours, readings) of one simulated run."""
    sim = FleetSimulator(SimConfig(riders=riders, seed=seed, scenario="mixed", start=NOON))
    records = [r for r in sim.records(minutes * 60) if r.raw is None]
    return list(envelopes(records, envelope)), sim.stats.online_s / 3600.0, len(records)


def raw_records(settings: Settings, messages: list[Any]) -> list[RawRecord]:
    """The messages as the agent hands them over: one partition, offsets per topic."""
    topics = settings.topics.by_role()
    offsets: dict[str, int] = {}
    out = []
    for msg in messages:
        topic = topics[msg.role]
        offsets[topic] = offsets.get(topic, -1) + 1
        out.append(RawRecord(topic, 0, offsets[topic], msg.key.encode(), msg.value_bytes(), None))
    return out


def run(records: list[RawRecord], batch: int, profile: cProfile.Profile | None = None) -> tuple[float, float, MemorySink]:
    """(CPU seconds, wall seconds, sink) of one fresh processor fed ``records``."""
    settings = Settings(worker=WorkerSettings(state_dir=Path(tempfile.mkdtemp(prefix="bench-processor-"))))
    proc = Processor(settings)
    sink = MemorySink(json_states=False)
    driver = Driver(proc, sink)
    weather = settings.topics.weather

    async def feed() -> None:
        await driver.weather([r for r in records if r.topic == weather])
        riders = [r for r in records if r.topic != weather]
        for i in range(0, len(riders), batch):
            await driver.riders(riders[i:i + batch])

    c0, t0 = time.process_time(), time.perf_counter()
    if profile is not None:
        profile.enable()
    asyncio.run(feed())
    if profile is not None:
        profile.disable()
    return time.process_time() - c0, time.perf_counter() - t0, sink


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--riders", type=int, default=600, help="simulated riders, not all on shift (default 600)")
    parser.add_argument("--minutes", type=float, default=10.0, help="minutes of event time (default 10)")
    parser.add_argument("--envelope", type=int, default=10, help="records per envelope (default 10)")
    parser.add_argument("--batch", type=int, default=WorkerSettings().batch_size,
                        help="messages per batch (default: the worker's batch_size, as a backlogged worker takes them)")
    parser.add_argument("--rounds", type=int, default=3, help="runs; the median is reported (default 3)")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="profile one more run and print its top N functions by cumulative and own time")
    parser.add_argument("--gc", choices=("worker", "default"), default="worker",
                        help="the garbage collector as the worker sets it (streams.worker.collect_less_often) or "
                        "Python's default thresholds")
    parser.add_argument("--quick", action="store_true", help="CI-sized: 200 riders, 5 minutes, 1 round")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.quick:
        args.riders, args.minutes, args.rounds = 200, 5.0, 1
    if args.gc == "worker":
        collect_less_often()
    settings = Settings()
    messages, online_h, readings = fleet(args.riders, args.minutes, args.seed, args.envelope)
    records = raw_records(settings, messages)
    rider_hours = args.riders * args.minutes / 60.0
    cpu, wall = [], []
    outputs: dict[str, int] = {}
    for _ in range(args.rounds):
        c, w, sink = run(records, args.batch)
        cpu.append(c)
        wall.append(w)
        outputs = {}
        for role, _, _ in sink.outputs:
            outputs[role] = outputs.get(role, 0) + 1
    med = statistics.median(cpu)
    report = {
        "riders": args.riders, "minutes": args.minutes, "gc": args.gc, "batch": args.batch, "readings": readings, "messages": len(records),
        "rider_hours": rider_hours, "online_rider_hours": online_h, "rounds": args.rounds,
        "cpu_s_median": med, "cpu_s_min": min(cpu), "cpu_s_max": max(cpu), "wall_s_median": statistics.median(wall),
        "core_s_per_rider_hour": med / rider_hours, "core_s_per_online_rider_hour": med / online_h,
        "us_per_reading": med / readings * 1e6, "outputs": outputs,
    }
    print(f"{readings:,} readings in {len(records):,} messages; {rider_hours:.1f} rider-hours "
          f"({online_h:.1f} online); {args.rounds} runs; batches of {args.batch} messages; garbage collector: {args.gc}")
    print(f"processor CPU: median {med:.2f} s (min {min(cpu):.2f}, max {max(cpu):.2f}); "
          f"{report['us_per_reading']:.1f} µs per reading")
    print(f"core-seconds per simulated rider-hour: {report['core_s_per_rider_hour']:.3f}; "
          f"per online rider-hour: {report['core_s_per_online_rider_hour']:.3f}")
    print("outputs: " + ", ".join(f"{role} {n:,}" for role, n in sorted(outputs.items())))
    if args.profile:
        prof = cProfile.Profile()
        run(records, args.batch, prof)
        for key in ("cumulative", "tottime"):
            print(f"\n--- top {args.profile} by {key} ---")
            pstats.Stats(prof, stream=sys.stdout).sort_stats(key).print_stats(args.profile)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
