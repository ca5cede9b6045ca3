"""The one driver: per result, outputs sent, then states written, then the writes awaited; a revoked rider not written."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from streams.driver import Driver, MemorySink
from streams.processor import Processor
from tests.unit.test_streams_processor import raw_records, settings


class OrderSink(MemorySink):
    """A memory sink that logs each call in order."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    async def send(self, role: str, key: str, value: bytes) -> None:
        self.calls.append("send")
        await super().send(role, key, value)

    async def write(self, rider_id: str, state: dict[str, Any] | None) -> None:
        self.calls.append("write")
        await super().write(rider_id, state)

    async def written(self) -> None:
        self.calls.append("written")


def test_outputs_go_before_the_state_writes_and_the_writes_are_awaited_before_the_next_batch(
        heatwave: list[Any], tmp_path: Path) -> None:
    s = settings(tmp_path)
    sink = OrderSink()
    driver = Driver(Processor(s), sink)
    riders = [r for r in raw_records(s, heatwave[:2000]) if r.topic != s.topics.weather]
    for start in range(0, len(riders), 200):
        sink.calls.clear()
        asyncio.run(driver.riders(riders[start:start + 200]))
        assert sink.calls[-1] == "written"
        body = sink.calls[:-1]
        assert body == sorted(body, key=lambda call: call != "send")  # every send before every write
    assert sink.outputs and sink.riders


def test_a_rider_revoked_while_the_weather_outputs_are_sent_is_not_written(heatwave: list[Any],
                                                                            tmp_path: Path) -> None:
    s = settings(tmp_path)
    proc = Processor(s)

    class Revoking(MemorySink):
        revoke = False

        async def send(self, role: str, key: str, value: bytes) -> None:
            if self.revoke:
                proc.forget_riders()  # a rebalance lands while the outputs are sent
            await super().send(role, key, value)

    records = raw_records(s, heatwave[:3000])
    riders = [r for r in records if r.topic != s.topics.weather]
    weather = [r for r in records if r.topic == s.topics.weather]
    sink = Revoking()
    driver = Driver(proc, sink)
    asyncio.run(driver.riders(riders))  # riders held, scored without weather
    sink.riders.clear()
    sink.revoke = True
    result = asyncio.run(driver.weather(weather, dead_letters=False))
    assert result.states and result.outputs  # rescored by the new weather, and revoked meanwhile
    assert not sink.riders  # their new owner writes them


def test_a_tombstone_deletes_the_rider_from_the_memory_table(tmp_path: Path) -> None:
    sink = MemorySink({"r1": {"x": 1}})
    asyncio.run(sink.write("r1", None))
    assert sink.riders == {}
    assert isinstance(Driver(Processor(settings(tmp_path)), sink).proc.rider_store, dict)
