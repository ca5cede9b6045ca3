"""Trace each batch of a worker (benchmark tool, not product): put this directory first on ``PYTHONPATH`` and set
``BATCH_TRACE=PREFIX``; every Python process started so (the benchmark's worker included) that handles rider batches
appends one JSON line per batch to ``PREFIX.<pid>``: when the batch was received, its messages' Kafka timestamps, the
processing time, when each output's send returned (its Kafka timestamp is taken then) and when the state writes were
acknowledged. ``python -m benchmarks.batch_trace PREFIX`` reads them (:mod:`benchmarks.batch_trace.__main__`)."""

from __future__ import annotations

import os

if os.environ.get("BATCH_TRACE"):
    import json
    import time
    from typing import Any

    import streams.driver

    _out = open(f"{os.environ['BATCH_TRACE']}.{os.getpid()}", "a", buffering=1)  # noqa: SIM115 (open for the process)
    _publish = streams.driver.Driver.publish

    async def _riders(self: Any, records: Any) -> Any:
        received = time.time()
        stamps = [r.timestamp for r in records if r.timestamp]
        result = self.proc.process_batch(records)
        processed = time.time()
        sends: list[tuple[str, float]] = []
        send = self.sink.send

        async def timed(role: str, key: str, value: bytes) -> None:
            await send(role, key, value)
            sends.append((role, time.time()))

        self.sink.send = timed
        try:
            await _publish(self, result)
        finally:
            del self.sink.send
        _out.write(json.dumps({"recv": received, "n": len(records), "ts_min": min(stamps, default=None),
                               "ts_max": max(stamps, default=None), "proc": processed - received, "pub0": processed,
                               "sends": sends, "states": len(result.states), "done": time.time()}) + "\n")
        return result

    streams.driver.Driver.riders = _riders  # type: ignore[method-assign]
