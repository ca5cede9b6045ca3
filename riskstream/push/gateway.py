"""The push gateway (``riskstream push``): ``rider.alerts`` → the push provider's webhook.

Each alert is POSTed with its ``alert_id`` as ``Idempotency-Key``, signed, and retried
with backoff (:mod:`riskstream.push.delivery`). An offset is committed only after its alert
was accepted or dead-lettered, so a crash or rebalance re-sends at most the alerts in
progress; the idempotency key makes that harmless for the provider (it answers 409, which
counts as delivered). Alerts of one partition go one at a time, in order (a rider's
alerts stay in order); partitions are delivered concurrently, with at most
``push.concurrency`` requests in flight. Malformed records, rejected alerts and alerts
whose attempts ran out go to ``riskstream.dlq`` with the reason.
"""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from riskstream.contracts.errors import InputError
from riskstream.contracts.records import RiderAlert
from riskstream.push.delivery import WebhookClient, backoff_delay
from streams import metrics
from streams.kafka import consumer_kwargs, producer_kwargs
from streams.parsing import dead_letter, parse_record
from streams.settings import Settings, redact_url

log = logging.getLogger("riskstream.push.gateway")  # same name under `python -m riskstream.push.gateway`

#: Records buffered per partition before the partition is paused (back-pressure on a slow webhook).
MAX_QUEUED_PER_PARTITION = 200
_STOP = None  # queue sentinel
#: Visible ASCII only: a header value with a newline or non-Latin-1 character cannot be sent.
_HEADER_SAFE = re.compile(r"[\x21-\x7e]{1,255}")


def idempotency_key(alert: RiderAlert) -> str:
    """The alert's ``Idempotency-Key``: its ``alert_id`` (its ``event_id`` if that is empty).

    >>> from riskstream.contracts.records import Severity
    >>> a = dict(event_id="e-1", ts="2026-07-01T12:00:00Z", rider_id="r1", kind="heat", severity=Severity.info,
    ...          title={}, message={}, reasons=[], model_versions={})
    >>> idempotency_key(RiderAlert(alert_id="al-1", **a)), idempotency_key(RiderAlert(alert_id="", **a))
    ('al-1', 'e-1')
    >>> idempotency_key(RiderAlert(alert_id="al 1", **a))
    Traceback (most recent call last):
    ...
    riskstream.contracts.errors.InputError: alert_id 'al 1' cannot be an Idempotency-Key (1-255 visible ASCII characters)
    """
    key = alert.alert_id or alert.event_id
    if not _HEADER_SAFE.fullmatch(key):
        raise InputError(
            "invalid_idempotency_key",
            f"alert_id {key[:100]!r} cannot be an Idempotency-Key (1-255 visible ASCII characters)",
        )
    return key


@dataclass
class _Lane:
    """One assigned partition: its queue of records, its delivery task, and the offset to commit."""

    tp: TopicPartition
    queue: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None
    done: int | None = None  # next offset to consume = last finished offset + 1
    committed: int | None = None
    paused: bool = False


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, gateway: PushGateway) -> None:
        self.gateway = gateway

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self.gateway._close_lanes(list(revoked), grace_s=self.gateway.settings.push.timeout_s)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        log.info("push: assigned %s", ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(assigned)) or "nothing")


class PushGateway:
    """Consumes the alerts topic and delivers each alert; ``await run()`` until ``stop()``.

    ``stats`` counts outcomes (delivered, duplicate, dead_letter) for tests and logs.
    """

    def __init__(self, settings: Settings, client: WebhookClient | None = None) -> None:
        self.settings = settings
        self.client = client or WebhookClient(settings.push)
        self.stats: Counter[str] = Counter()
        self._lanes: dict[TopicPartition, _Lane] = {}
        self._stopping = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._last_commit = 0.0

    def stop(self) -> None:
        """Ask :meth:`run` to finish: deliveries in progress get ``push.shutdown_grace_s``; offsets are committed."""
        self._stopping.set()

    async def run(self) -> None:
        s = self.settings
        self._consumer = AIOKafkaConsumer(
            group_id=s.push.group_id, enable_auto_commit=False, auto_offset_reset="earliest",
            **consumer_kwargs(s.kafka),
        )
        self._producer = AIOKafkaProducer(acks="all", **producer_kwargs(s.kafka))
        await self._producer.start()
        try:
            await self._consumer.start()
            self._consumer.subscribe([s.topics.alerts], listener=_Rebalance(self))
            log.info("push: %s → %s (group %s)", s.topics.alerts, redact_url(s.push.webhook_url), s.push.group_id)
            async with self.client:
                try:
                    await self._consume()
                finally:
                    await self._close_lanes(list(self._lanes), grace_s=s.push.shutdown_grace_s)
        finally:
            await self._consumer.stop()
            await self._producer.stop()
            log.info("push: stopped (%s)", ", ".join(f"{k} {v}" for k, v in sorted(self.stats.items())) or "idle")

    # ------------------------------------------------------------------ consuming

    async def _consume(self) -> None:
        assert self._consumer is not None
        consumer = self._consumer
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            while not self._stopping.is_set():
                fetch = asyncio.ensure_future(consumer.getmany(timeout_ms=500, max_records=1000))
                await asyncio.wait({fetch, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not fetch.done():
                    fetch.cancel()
                    break
                # No await between getmany's return and the enqueueing: the records belong to the
                # current assignment (a revocation can only run at an await).
                for tp, messages in fetch.result().items():
                    lane = self._lanes.get(tp) or self._open_lane(tp)
                    for msg in messages:
                        lane.queue.put_nowait(msg)
                    if lane.queue.qsize() >= MAX_QUEUED_PER_PARTITION and not lane.paused:
                        consumer.pause(tp)
                        lane.paused = True
                for lane in self._lanes.values():
                    if lane.paused and lane.queue.qsize() < MAX_QUEUED_PER_PARTITION // 2:
                        consumer.resume(lane.tp)
                        lane.paused = False
                    if lane.task is not None and lane.task.done() and not lane.task.cancelled():
                        lane.task.result()  # a bug in delivery: stop loudly instead of stalling the partition
                if time.monotonic() - self._last_commit >= self.settings.push.commit_interval_s:
                    await self._commit()
        finally:
            stopping.cancel()

    def _open_lane(self, tp: TopicPartition) -> _Lane:
        lane = _Lane(tp)
        lane.task = asyncio.create_task(self._deliver_lane(lane), name=f"push-{tp.topic}-{tp.partition}")
        self._lanes[tp] = lane
        return lane

    async def _deliver_lane(self, lane: _Lane) -> None:
        while True:
            msg = await lane.queue.get()
            if msg is _STOP:
                return
            await self.handle(msg)
            lane.done = msg.offset + 1

    async def _close_lanes(self, tps: list[TopicPartition], grace_s: float) -> None:
        """Drop buffered records, let the record in progress finish within ``grace_s``, commit, forget."""
        lanes = [self._lanes[tp] for tp in tps if tp in self._lanes]
        for lane in lanes:
            while not lane.queue.empty():
                lane.queue.get_nowait()
            lane.queue.put_nowait(_STOP)
        tasks = [lane.task for lane in lanes if lane.task is not None]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self._commit(lanes)
        for lane in lanes:
            self._lanes.pop(lane.tp, None)

    async def _commit(self, lanes: list[_Lane] | None = None) -> None:
        assert self._consumer is not None
        self._last_commit = time.monotonic()
        lanes = list(self._lanes.values()) if lanes is None else lanes
        offsets = {lane.tp: lane.done for lane in lanes if lane.done is not None and lane.done != lane.committed}
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except KafkaError as exc:  # e.g. a rebalance in progress; the next commit or a redelivery covers it
            log.warning("push: commit of %s failed: %s", offsets, exc)
            return
        for lane in lanes:
            lane.committed = offsets.get(lane.tp, lane.committed)

    # ------------------------------------------------------------------ one record

    async def handle(self, msg: Any) -> str:
        """Deliver or dead-letter one consumed record; return the outcome (delivered, duplicate, dead_letter)."""
        try:
            alert = parse_record(RiderAlert, msg.value, self.settings.worker.max_payload_bytes)
            key = idempotency_key(alert)
        except InputError as exc:
            await self._dead_letter(msg, exc)
            return self._count("dead_letter")
        body = alert.model_dump_json().encode()
        metrics.PUSH_IN_FLIGHT.inc()
        started = time.monotonic()
        try:
            outcome = await self.client.deliver(key, body)
        finally:
            metrics.PUSH_IN_FLIGHT.dec()
        if outcome.accepted:
            metrics.PUSH_LATENCY.observe(time.monotonic() - started)
            return self._count(outcome.verdict.value)
        log.warning("push: alert %s dead-lettered: %s %s", alert.alert_id, outcome.error_class, outcome.reason)
        await self._dead_letter(msg, InputError(outcome.error_class, outcome.reason))
        return self._count("dead_letter")

    def _count(self, outcome: str) -> str:
        self.stats[outcome] += 1
        metrics.PUSH_DELIVERIES.labels(outcome=outcome).inc()
        return outcome

    async def _dead_letter(self, msg: Any, error: InputError) -> None:
        """Write the dead letter and wait for the broker's ack; retry until it is written (or cancelled)."""
        assert self._producer is not None
        letter = dead_letter(
            source_topic=msg.topic, partition=msg.partition, offset=msg.offset, key=msg.key, raw=msg.value,
            error=error, record_ts=msg.timestamp / 1000 if msg.timestamp and msg.timestamp > 0 else None,
        )
        value = letter.model_dump_json().encode()
        for retry in range(sys.maxsize):
            try:
                # keyed by source topic, as the worker's dead letters (README, Topics)
                await (await self._producer.send(self.settings.topics.dlq, value=value, key=msg.topic.encode()))
                break
            except KafkaError as exc:
                delay = backoff_delay(retry, 0.5, 10.0)
                log.warning("push: dead letter for %s[%d]@%d not written (%s); retry in %.1f s",
                            msg.topic, msg.partition, msg.offset, exc, delay)
                await asyncio.sleep(delay)
        metrics.DEAD_LETTERS.labels(topic=msg.topic, reason=error.error_class).inc()


def run_push(settings: Settings) -> int:
    """Run the push gateway until SIGINT or SIGTERM; serves metrics on ``push.metrics_port``. Returns 0."""
    from streams.topics import ensure_topics

    settings.check_secrets("push.webhook_secret")  # before anything connects: refuse demo keys in production

    async def main() -> None:
        await ensure_topics(settings)
        gateway = PushGateway(settings)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, gateway.stop)
        await gateway.run()

    metrics.serve(settings.metrics.host, settings.push.metrics_port)
    if settings.push.metrics_port:
        log.info("push: metrics on http://%s:%d/metrics", settings.metrics.host, settings.push.metrics_port)
    asyncio.run(main())
    return 0


if __name__ == "__main__":
    from streams import safe_logging

    safe_logging.install()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sys.exit(run_push(Settings()))
