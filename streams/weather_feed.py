"""Every worker reads the whole weather topic itself, outside the consumer group.

Weather is keyed by zone and small, and every worker needs all of it: its riders can be in
any zone. Faust's ``GlobalTable`` refreshes the workers that do not own the weather partition
only during recovery, so with two workers half the riders never saw weather
(docs/weather-feed.md). Here each worker runs an aiokafka consumer with no group, ``assign()``ed
to every partition of the weather topic, reading from ``worker.weather_lookback_s`` of Kafka
record time before its start (unset: :func:`features.weather_history_s`, what the weather
features need) and then following the topic. Batches go to ``on_batch`` (the app hands them to
``Processor.process_weather``, which rescores this worker's riders of a zone whose weather
changed materially). Nothing is committed or changelogged: a restart rebuilds the zones from
the topic. ``loaded`` is set once the backlog that existed at start has been read.

The feed does not dead-letter: the group-managed weather agent (one worker) does that once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaConnectionError
from mode import Service

from features import weather_history_s
from riskstream.contracts.errors import BrokerError
from streams import metrics
from streams.batch import RawRecord
from streams.kafka import consumer_kwargs
from streams.settings import Settings

log = logging.getLogger(__name__)

#: Longest wait for one fetch, in ms: the feed follows the topic within about this much.
POLL_MS = 500


class WeatherFeed(Service):
    """The weather topic, read whole by this worker (a Faust/mode service started with the app)."""

    def __init__(self, settings: Settings, on_batch: Callable[[list[RawRecord]], Awaitable[None]],
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.topic = settings.topics.weather
        self.on_batch = on_batch
        self.loaded = asyncio.Event()
        self.records_read = 0
        self._consumer: AIOKafkaConsumer | None = None
        self._tps: list[TopicPartition] = []
        self._backlog_end: dict[TopicPartition, int] = {}
        self._started_at = 0.0

    @property
    def lookback_s(self) -> float:
        configured = self.settings.worker.weather_lookback_s
        return weather_history_s(self.settings.features) if configured is None else configured

    async def on_start(self) -> None:
        kafka = self.settings.kafka
        consumer = AIOKafkaConsumer(group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
                                    **consumer_kwargs(kafka))
        try:
            await asyncio.wait_for(consumer.start(), 30.0)
        except (TimeoutError, KafkaConnectionError, OSError) as exc:
            raise BrokerError(f"the weather feed cannot reach RISKSTREAM_KAFKA__BROKER at {kafka.bootstrap_servers} "
                              f"({exc.__class__.__name__}): start the broker or set the variable to your "
                              f"cluster") from None
        self._consumer = consumer
        ids = consumer.partitions_for_topic(self.topic) if self.topic in await consumer.topics() else None
        if not ids:
            raise BrokerError(f"the weather topic {self.topic!r} does not exist on {kafka.bootstrap_servers}: "
                              f"`riskstream worker` creates it at start; check RISKSTREAM_TOPICS__WEATHER")
        self._tps = [TopicPartition(self.topic, p) for p in sorted(ids)]
        consumer.assign(self._tps)
        self._started_at = time.monotonic()
        end = await consumer.end_offsets(self._tps)
        if self.lookback_s > 0:
            since_ms = int((time.time() - self.lookback_s) * 1000)
            found = await consumer.offsets_for_times({tp: since_ms for tp in self._tps})
            # nothing that recent: Kafka answers None, Tansu 0.6.0 offset 0 with timestamp -1
            start = {tp: found[tp].offset if found.get(tp) is not None and found[tp].timestamp >= since_ms
                     else end[tp] for tp in self._tps}
        else:
            start = await consumer.beginning_offsets(self._tps)
        for tp in self._tps:
            consumer.seek(tp, start[tp])
        self._backlog_end = end
        backlog = sum(max(0, end[tp] - start[tp]) for tp in self._tps)
        metrics.WEATHER_FEED_BEHIND.set(backlog)
        log.info("weather feed: reading %s (all %d partition(s), no consumer group) from %s: %d records of backlog",
                 self.topic, len(self._tps), "the beginning" if self.lookback_s <= 0
                 else f"{self.lookback_s / 3600:.1f} h ago", backlog)
        if backlog == 0:
            self.loaded.set()

    async def on_stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    @Service.task
    async def _follow(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        try:
            while not self.should_stop:
                batches = await consumer.getmany(timeout_ms=POLL_MS, max_records=self.settings.worker.batch_size)
                records = [RawRecord(msg.topic, msg.partition, msg.offset, msg.key, msg.value, msg.timestamp / 1000)
                           for messages in batches.values() for msg in messages]
                if records:
                    self.records_read += len(records)
                    await self.on_batch(records)
                await self._progress(consumer)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the weather feed of %s failed: this worker stops rather than score riders without "
                          "weather; a restart reads the weather again", self.topic)
            raise

    async def _progress(self, consumer: AIOKafkaConsumer) -> None:
        positions = {tp: await consumer.position(tp) for tp in self._tps}
        behind = 0
        for tp, pos in positions.items():
            high = consumer.highwater(tp)
            behind += max(0, (high if high is not None else self._backlog_end[tp]) - pos)
        metrics.WEATHER_FEED_BEHIND.set(behind)
        if not self.loaded.is_set() and all(positions[tp] >= self._backlog_end[tp] for tp in self._tps):
            self.loaded.set()
            log.info("weather feed: backlog read (%d records) in %.1f s", self.records_read,
                     time.monotonic() - self._started_at)

    async def wait_loaded(self, timeout_s: float) -> bool:
        """Wait until the backlog is read, at most ``timeout_s``; say in the log if it was not."""
        try:
            await asyncio.wait_for(self.loaded.wait(), timeout_s)
            return True
        except TimeoutError:
            log.warning("weather feed: backlog of %s not read within %.0f s (worker.weather_start_wait_s); riders "
                        "are scored meanwhile, those of zones whose weather arrives later are scored again then",
                        self.topic, timeout_s)
            return False
