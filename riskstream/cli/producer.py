"""Produce simulated or recorded records into the input topics, optionally paced by event time."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer

from streams.kafka import producer_kwargs
from streams.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class ProduceStats:
    records: int = 0
    by_role: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


def encode(record: Any) -> tuple[str, bytes | None, bytes]:
    """(role, key, value) of a SimRecord-like object: ``raw`` bytes win over ``value``; a None key is sent as none."""
    value = record.raw if record.raw is not None else record.value.model_dump_json().encode()
    return record.role, None if record.key is None else record.key.encode(), value


def event_time(record: Any) -> float | None:
    """Event time for pacing: the parsed record's ``ts``, ``event_ts`` of a record sent as written, or an envelope's
    newest record's (it is sent when that one is recorded)."""
    value = getattr(record, "value", None)
    if value is not None:
        return value.ts.timestamp()
    found = getattr(record, "event_ts", None)
    return found if found is not None else getattr(record, "newest_ts", None)


async def produce(
    settings: Settings,
    records: Iterable[Any],
    *,
    speed: float | None = None,
    stats: ProduceStats | None = None,
    progress: Any = None,
) -> ProduceStats:
    """Send records in order. ``speed`` = event-time seconds per wall second (None: as fast as possible)."""
    stats = stats or ProduceStats()
    topics = settings.topics.by_role()
    producer = AIOKafkaProducer(**producer_kwargs(settings.kafka))
    await producer.start()
    pending: list[asyncio.Future[Any]] = []
    t0_event: float | None = None
    t0_wall = time.monotonic()
    try:
        for record in records:
            if speed:
                ts = event_time(record)
                if ts is not None:
                    if t0_event is None:
                        t0_event = ts
                    ahead = (ts - t0_event) / speed - (time.monotonic() - t0_wall)
                    if ahead > 0.005:
                        await _drain(pending)
                        await asyncio.sleep(ahead)
            role, key, value = encode(record)
            pending.append(await producer.send(topics[role], value=value, key=key))
            stats.records += 1
            stats.by_role[role] = stats.by_role.get(role, 0) + 1
            if progress is not None:
                progress.update(1)
            if len(pending) >= 2000:
                await _drain(pending)
        await _drain(pending)
    finally:
        await producer.stop()
    return stats


async def _drain(pending: list[asyncio.Future[Any]]) -> None:
    if pending:
        await asyncio.gather(*pending)
        pending.clear()
