"""Baseline for bench_pipeline.py: a Faust agent that reads the same topics as the worker and does nothing.

It consumes as the worker does (raw bytes, ``take_events`` with the worker's batch settings, its event loop)
and counts readings: each value is decoded from JSON and an envelope counts its records.

Run by the benchmark as ``python -m benchmarks.noop_app worker``; configured by environment:
NOOP_BROKER, NOOP_TOPICS (comma-separated), NOOP_EXPECT (readings), NOOP_OUT (JSON result file).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import faust

from riskstream.simulation.envelopes import count_readings
from streams.kafka import faust_settings
from streams.settings import KafkaSettings, Settings, WorkerSettings
from streams.worker import use_event_loop

out = Path(os.environ["NOOP_OUT"])
expect = int(os.environ["NOOP_EXPECT"])
settings = Settings(kafka=KafkaSettings(broker=os.environ["NOOP_BROKER"]),
                    worker=WorkerSettings(state_dir=out.parent / f"noop-state-{os.getpid()}"))
settings.worker.state_dir.mkdir(parents=True, exist_ok=True)
# The worker's loop (worker.event_loop, asyncio by default; streams.worker.use_event_loop); NOOP_LOOP=asyncio or
# uvloop measures the other.
use_event_loop(os.environ.get("NOOP_LOOP", settings.worker.event_loop))
app = faust.App(f"noop-{os.getpid()}", **faust_settings(settings))
topic = app.topic(*os.environ["NOOP_TOPICS"].split(","), key_type=bytes, value_type=bytes,
                  key_serializer="raw", value_serializer="raw")
seen = {"n": 0, "first": 0.0}


@app.agent(topic)
async def noop(stream: faust.StreamT) -> None:
    async for events in stream.take_events(settings.worker.batch_size, settings.worker.batch_within_s):
        if not seen["n"]:
            seen["first"] = time.monotonic()
        seen["n"] += sum(count_readings(ev.value) for ev in events)
        if seen["n"] >= expect and not out.exists():
            out.write_text(json.dumps({"records": seen["n"], "seconds": time.monotonic() - seen["first"]}))


if __name__ == "__main__":
    app.main()
