"""The one driving loop: raw record batches into the processor, its outputs and state writes into a sink.

The Faust app (:mod:`streams.app`) gives it a Kafka sink (async sends, table writes whose
acknowledgement it waits for before the next batch), the unit tests and the evaluation lab
(:mod:`riskstream.lab.run`) give it a :class:`MemorySink`. Per result the order is fixed:
every output is sent, then every changed rider's state is written, then the writes are
awaited; only then may the caller take the next batch (and so let its offsets be committed).

>>> import asyncio, tempfile
>>> from pathlib import Path
>>> from streams.settings import Settings, WorkerSettings
>>> settings = Settings(worker=WorkerSettings(state_dir=Path(tempfile.mkdtemp())))
>>> driver = Driver(Processor(settings), MemorySink())
>>> bad = RawRecord(settings.topics.wearable, 0, 7, b"r1", b"{oops", 1.0)
>>> asyncio.run(driver.feed([bad]))
>>> [(role, key) for role, key, _ in driver.sink.outputs]
[('dlq', 'telemetry.wearable')]
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from streams.batch import BatchResult, Output, RawRecord
from streams.processor import Processor, RiderStore


class Sink(Protocol):
    """Where a driver puts what the processor decided; ``store`` is the rider table as the processor reads it."""

    store: RiderStore

    async def send(self, role: str, key: str, value: bytes) -> None:
        """Send one output record to the topic of ``role`` (alerts, risk_scores, escalations, audit, dlq)."""

    async def write(self, rider_id: str, state: dict[str, Any] | None) -> None:
        """Write a rider's state to the changelogged table (``None``: delete it, a tombstone)."""

    async def written(self) -> None:
        """Return once every state write so far is acknowledged (raise if one failed)."""


class MemorySink:
    """A sink of plain lists and dicts: the outputs in order, the rider table as a dict.

    ``json_states`` stores each state through a JSON round trip, as a restarted worker reads it
    back from the changelog (the tests); off, the lab saves the copy.
    """

    def __init__(self, riders: dict[str, Any] | None = None, *, json_states: bool = True) -> None:
        self.riders: dict[str, Any] = riders if riders is not None else {}
        self.store: RiderStore = self.riders
        self.outputs: list[Output] = []
        self.json_states = json_states

    async def send(self, role: str, key: str, value: bytes) -> None:
        self.outputs.append((role, key, value))

    async def write(self, rider_id: str, state: dict[str, Any] | None) -> None:
        if state is None:
            self.riders.pop(rider_id, None)
        else:
            self.riders[rider_id] = json.loads(json.dumps(state)) if self.json_states else state

    async def written(self) -> None:
        return None

    def take_outputs(self) -> list[Output]:
        """The outputs so far, removed from the sink."""
        outputs, self.outputs = self.outputs, []
        return outputs


class Driver:
    """Drives a :class:`Processor` batch by batch into a :class:`Sink` (see the module docstring)."""

    def __init__(self, proc: Processor, sink: Sink) -> None:
        self.proc = proc
        self.sink = sink
        proc.bind_state(rider_store=sink.store)

    async def riders(self, records: Sequence[RawRecord]) -> BatchResult:
        """A batch of the rider-keyed topics (the ``telemetry`` agent)."""
        return await self.publish(self.proc.process_batch(records))

    async def weather(self, records: Sequence[RawRecord], *, dead_letters: bool = True) -> BatchResult:
        """Weather records into the zone store. ``dead_letters=False``: a worker's weather feed, which leaves bad
        records to the weather agent (:meth:`check_weather`); a rider revoked while the outputs were sent is not
        written (its new owner writes it)."""
        result = self.proc.process_weather(records, dead_letters=dead_letters)
        held = {rider_id: self.proc.hot.get(rider_id) for rider_id in result.states}
        return await self.publish(result, write_if=lambda rider_id: self.proc.hot.get(rider_id) is held[rider_id])

    async def check_weather(self, records: Sequence[RawRecord]) -> BatchResult:
        """A batch of the weather topic read by the ``weather`` agent: bad records dead-lettered, once."""
        return await self.publish(self.proc.check_weather(records))

    async def escalations(self, wall_now: float) -> BatchResult:
        """The escalation timer: questions left unanswered while the device went silent."""
        return await self.publish(self.proc.check_escalations(wall_now))

    async def feed(self, records: Sequence[RawRecord], batch_size: int = 200) -> None:
        """Records of every input topic, in order, as one worker reads them: per ``batch_size`` records, the
        weather first (dead-lettered here: one worker is feed and weather agent), then the rider topics."""
        weather_topic = self.proc.topics.weather
        for i in range(0, len(records), batch_size):
            chunk = records[i:i + batch_size]
            await self.weather([r for r in chunk if r.topic == weather_topic])
            await self.riders([r for r in chunk if r.topic != weather_topic])

    async def publish(self, result: BatchResult, write_if: Callable[[str], bool] | None = None) -> BatchResult:
        """Send a result's outputs, write its changed riders, and wait for the writes."""
        for role, key, value in result.outputs:
            await self.sink.send(role, key, value)
        for rider_id, state in result.states.items():
            if write_if is None or write_if(rider_id):
                await self.sink.write(rider_id, state)
        await self.sink.written()
        return result
