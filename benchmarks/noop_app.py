"""Baseline for bench_pipeline.py: a Faust agent that reads the same topics as raw bytes and does nothing.

Run by the benchmark as ``python -m benchmarks.noop_app worker``; configured by environment:
NOOP_BROKER, NOOP_TOPICS (comma-separated), NOOP_EXPECT (records), NOOP_OUT (JSON result file).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import faust

from streams.kafka import faust_settings
from streams.settings import KafkaSettings, Settings, WorkerSettings

out = Path(os.environ["NOOP_OUT"])
expect = int(os.environ["NOOP_EXPECT"])
settings = Settings(kafka=KafkaSettings(broker=os.environ["NOOP_BROKER"]),
                    worker=WorkerSettings(state_dir=out.parent / "noop-state"))
settings.worker.state_dir.mkdir(parents=True, exist_ok=True)
app = faust.App(f"noop-{os.getpid()}", **faust_settings(settings))
topic = app.topic(*os.environ["NOOP_TOPICS"].split(","), key_type=bytes, value_type=bytes,
                  key_serializer="raw", value_serializer="raw")
seen = {"n": 0, "first": 0.0}


@app.agent(topic)
async def noop(stream: faust.StreamT) -> None:
    async for events in stream.take_events(settings.worker.batch_size, settings.worker.batch_within_s):
        if not seen["n"]:
            seen["first"] = time.monotonic()
        seen["n"] += len(events)
        if seen["n"] >= expect:
            out.write_text(json.dumps({"records": seen["n"], "seconds": time.monotonic() - seen["first"]}))


if __name__ == "__main__":
    app.main()
