"""The Faust app: topics, tables and thin agents. All logic lives in :mod:`streams.processor`, driven by
:class:`streams.driver.Driver` into a :class:`KafkaSink`.

- ``telemetry`` reads ``telemetry.wearable``, ``telemetry.trip`` and ``incidents`` (all keyed
  by rider id, co-partitioned) as raw bytes in batches, hands them to the driver, which sends
  the processor's outputs and writes the changed riders' state to the changelogged ``rider-state``
  table, each to the changelog partition of the rider's input records, and waits until the
  broker has those writes before the agent asks for the next batch (so committed offsets never
  run ahead of state; docs/recovery.md).
- Every worker reads the whole weather topic itself, outside the consumer group
  (:class:`streams.weather_feed.WeatherFeed`), into the processor's zone store, and rescores
  its own riders when a zone's weather changes; ``telemetry`` waits for that backlog at start.
  The ``weather`` agent (one worker: the group gives it the partition) only dead-letters bad
  weather records and counts them, once across workers. Why: docs/weather-feed.md.
- A timer publishes gauges and reloads a new model artifact without a restart.

Crash-only: a failure on one record is the processor's to dead-letter. Any exception that
reaches an agent is not a record's fault (a send or table write failed, a bug outside one
record) and stops the worker at once, without a graceful shutdown: Faust acks the events of
a ``take_events`` batch when the agent asks for the next batch *or leaves the loop*, and
commits acked offsets on its commit timer, so an agent that merely crashed would have its
unprocessed batch committed. Exiting the process before that keeps the batch uncommitted; a
restarted worker reads it again from the last committed offset.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, NoReturn

import faust

from streams import metrics, stall
from streams.batch import input_partition
from streams.commit_guard import guard_commits, rewind_to_states
from streams.driver import Driver
from streams.kafka import faust_settings
from streams.processor import Processor, RawRecord, RiderStore
from streams.reconcile import RIDER_ROLES
from streams.settings import Settings
from streams.weather_feed import WeatherFeed

log = logging.getLogger(__name__)


#: Exit status of a worker stopped by a failure that is not a record's fault (EX_SOFTWARE).
EXIT_UNCOMMITTED_FAILURE = 70
#: Seconds a batch in progress may take to finish when the worker is told to stop (:func:`run_batch`).
BATCH_FINISH_TIMEOUT_S = 30.0


def stop_before_commit(agent: str, events: Sequence[Any], exc: BaseException) -> NoReturn:
    """Log what failed and which offsets will be read again, then end the process without committing them."""
    spans: dict[tuple[str, int], list[int]] = {}
    for ev in events:
        msg = ev.message
        span = spans.setdefault((msg.topic, msg.partition), [msg.offset, msg.offset])
        span[0], span[1] = min(span[0], msg.offset), max(span[1], msg.offset)
    where = ", ".join(f"{topic}[{partition}]@{lo}-{hi}" for (topic, partition), (lo, hi) in sorted(spans.items()))
    log.critical("agent %s: %s: %s while handling a batch of %d records (%s). This is not a record's fault: "
                 "stopping the worker before these offsets are committed; a restart resumes from the last committed "
                 "offset and processes them again", agent, type(exc).__name__, exc, len(events), where or "none",
                 exc_info=exc)
    logging.shutdown()  # flush the log: os._exit skips it
    os._exit(EXIT_UNCOMMITTED_FAILURE)  # no graceful stop: it would ack and commit the failed batch


async def run_batch(agent: str, events: Sequence[Any], work: Awaitable[Any], *,
                    finish_timeout_s: float = BATCH_FINISH_TIMEOUT_S,
                    stop: Callable[[str, Sequence[Any], BaseException], NoReturn] = stop_before_commit) -> None:
    """Run one batch's ``work`` to its end, or stop the worker before the batch's offsets are committed.

    An exception from ``work`` is not a record's fault (the processor dead-letters those): ``stop``. A stop of
    the worker (a signal, or a Faust service that crashed) cancels the agent; if that cancel reached the batch
    half-way, Faust would ack the whole batch in ``take_events``' ``finally`` and commit it on shutdown, with part
    of it never applied (records in no state, every offset committed). So the batch is shielded from the cancel
    and finished first (up to ``finish_timeout_s``); only a finished batch lets the cancel go on, anything else
    ``stop`` stops the process before a commit.

    >>> async def ok(): await asyncio.sleep(0.05); done.append("batch")
    >>> async def main():
    ...     task = asyncio.ensure_future(run_batch("t", [], ok()))
    ...     await asyncio.sleep(0.01); task.cancel()  # the worker stops mid-batch
    ...     try: await task
    ...     except asyncio.CancelledError: return "cancelled after " + done[0]
    >>> done = []; asyncio.run(main())
    'cancelled after batch'
    """
    task = asyncio.ensure_future(work)
    try:
        await asyncio.shield(task)
        return
    except asyncio.CancelledError as cancel:
        stopping = cancel
    except Exception as exc:
        stop(agent, events, exc)
    log.warning("agent %s: the worker is stopping while a batch of %d records is handled: finishing it first "
                "(up to %.0f s) so that its offsets are committed only once it is applied", agent, len(events),
                finish_timeout_s)
    try:
        await asyncio.wait({task}, timeout=finish_timeout_s)
    except asyncio.CancelledError:
        pass  # cancelled again: judge the batch as it is now
    if task.done() and not task.cancelled() and task.exception() is None:
        raise stopping  # finished: Faust may ack and commit it
    failure = (task.exception() if task.done() and not task.cancelled() else None) or TimeoutError(
        f"the batch did not finish within {finish_timeout_s:.0f} s of the stop")
    stop(agent, events, failure)


class RiderTable(faust.Table):
    """The ``rider-state`` table: each rider's state goes to the changelog partition its records come from.

    Faust's ``use_partitioner`` picks the changelog partition with the worker's partitioner (murmur2), but
    the producer of the input topics picked the rider's input partition with its own (librdkafka's default
    is CRC32). When they differ, the rider's state lives in a changelog partition that another worker owns
    and recovers: a worker taking over the rider's input partition after a crash or rebalance starts it from
    an empty or stale state, and the records in between are committed but never applied (issue 12,
    finding 4; docs/recovery.md). Writing to the input partition keeps state and input co-partitioned
    whatever the producer's partitioner.

    Its changelog writes can also be awaited (:meth:`written`): Faust commits a batch's offsets after
    ``producer.flush()``, and that flush gives up as soon as no send completes within 0.1 s, so after a
    broker stall offsets could be committed with their state still in the send buffer.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unsent: list[Any] = []
        self._partition: int | None = None

    def write(self, key: bytes, value: Any, partition: int | None) -> None:
        """``table[key] = value``, its changelog record in ``partition`` (None: the producer's partitioner)."""
        self._partition = partition
        try:
            self[key] = value
        finally:
            self._partition = None

    def delete(self, key: bytes, partition: int | None) -> None:
        """``del table[key]``, its tombstone in ``partition`` (where the rider's state was written)."""
        self._partition = partition
        try:
            del self[key]
        finally:
            self._partition = None

    def partition_for_key(self, key: Any) -> int | None:
        return self._partition

    def send_changelog(self, *args: Any, **kwargs: Any) -> Any:
        fut = super().send_changelog(*args, **kwargs)
        self._unsent.append(fut)
        return fut

    async def written(self) -> None:
        """Wait until every changelog write made so far is acknowledged by the broker (raises if one failed)."""
        while self._unsent:
            pending, self._unsent = self._unsent, []
            await asyncio.gather(*pending)


class Utf8Keys:
    """Read-only view of a bytes-keyed table by ``str`` key."""

    def __init__(self, table: Any, owned: Callable[[], set[int]] | None = None) -> None:
        self.table = table
        self.owned = owned  # the partitions this worker owns (not standby copies); None: every key

    def get(self, key: str, default: Any = None) -> Any:
        return self.table.get(key.encode(), default)

    def keys(self) -> Iterator[str]:
        """Keys of riders in the partitions this worker owns: a state lives in its input partition (RiderTable)."""
        owned = self.owned() if self.owned is not None else None
        for key in list(self.table.keys()):
            if owned is None or input_partition(self.table.get(key)) in owned:
                yield key.decode("utf-8", "replace")


class KafkaSink:
    """The driver's sink in the worker: outputs to their topics, rider states to the ``rider-state`` table,
    each in the changelog partition of the rider's input records (:class:`RiderTable`)."""

    def __init__(self, out: dict[str, faust.TopicT], riders: RiderTable, store: RiderStore) -> None:
        self.out = out
        self.riders = riders
        self.store = store

    async def send(self, role: str, key: str, value: bytes) -> None:
        await self.out[role].send(key=key, value=value)

    async def write(self, rider_id: str, state: dict[str, Any] | None) -> None:
        key = rider_id.encode()
        if state is not None:
            self.riders.write(key, state, input_partition(state))
        elif key in self.riders:  # a tombstone in the changelog, where the state was: the rider expired
            self.riders.delete(key, input_partition(self.riders[key]))

    async def written(self) -> None:
        await self.riders.written()  # before the agent takes the next batch, which acks (lets Faust commit) this one


def create_app(settings: Settings, processor: Processor | None = None) -> faust.App:
    """Build the app with its agents. ``processor`` may be injected (tests)."""
    app = faust.App(settings.worker.app_id, **faust_settings(settings))
    topics = settings.topics
    proc = processor or Processor(settings)
    app.processor = proc  # type: ignore[attr-defined]

    raw = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}
    rider_topics = app.topic(topics.wearable, topics.trip, topics.incidents, topics.responses,
                             partitions=topics.partitions, **raw)
    weather_topic = app.topic(topics.weather, partitions=1, **raw)
    out = {
        role: app.topic(name, key_type=str, value_type=bytes, key_serializer="raw", value_serializer="raw")
        for role, name in (("alerts", topics.alerts), ("risk_scores", topics.risk_scores),
                           ("escalations", topics.escalations), ("audit", topics.audit), ("dlq", topics.dlq))
    }

    # A rider's state goes to the changelog partition of its input records (RiderTable), so it moves
    # with them on a rebalance whatever partitioner the producers used.
    # Keys are raw bytes (Faust serializes a str key as JSON, with quotes), values JSON.
    riders = app.tables.add(RiderTable(app, name="rider-state", default=None, key_type=bytes,
                                       partitions=topics.partitions, beacon=app.tables.beacon))

    # Offsets are committed only over records delivered, and a partition whose recovered states stop short of its
    # committed offset is read again from where they stop (streams.commit_guard; docs/recovery.md).
    by_role = topics.by_role()
    roles = {by_role[role]: role for role in RIDER_ROLES}  # the role a state records each input topic's offsets under
    guard_commits(app, set(roles), lambda committed: rewind_to_states(riders.values(), committed, roles))

    def owned_partitions() -> set[int]:  # rider partitions are co-partitioned: the wearable topic's stand for all
        return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topics.wearable}

    driver = Driver(proc, KafkaSink(out, riders, Utf8Keys(riders, owned_partitions)))

    async def apply_weather(records: list[RawRecord]) -> None:
        await driver.weather(records, dead_letters=False)

    feed = app.add_dependency(WeatherFeed(settings, apply_weather))  # started with the app, before the agents
    stall.install(app, {topics.wearable, topics.trip, topics.incidents, topics.responses, topics.weather},
                  settings.worker.stall_timeout_s)

    @app.agent(rider_topics, name="telemetry")
    async def telemetry(stream: faust.StreamT) -> None:
        await feed.wait_loaded(settings.worker.weather_start_wait_s)  # score riders with their zone's weather
        log.info("telemetry agent running on the %s event loop", type(asyncio.get_running_loop()).__module__)
        async for events in stream.take_events(settings.worker.batch_size, settings.worker.batch_within_s):
            await run_batch("telemetry", events, driver.riders([RawRecord.from_event(ev) for ev in events]))

    @app.agent(weather_topic, name="weather")
    async def weather(stream: faust.StreamT) -> None:
        async for events in stream.take_events(settings.worker.batch_size, settings.worker.batch_within_s):
            await run_batch("weather", events, driver.check_weather([RawRecord.from_event(ev) for ev in events]))

    @app.timer(interval=settings.worker.model_reload_interval_s)
    async def reload_models() -> None:
        proc.maybe_reload_models()

    @app.timer(interval=settings.worker.online_save_interval_s)
    async def save_online_model() -> None:
        proc.save_online_model(if_changed=True)  # a crash loses at most this interval of online learning

    @app.timer(interval=5.0)
    async def publish_gauges() -> None:
        proc.publish_gauges()
        metrics.publish_consumer_lag(app.consumer)

    @app.timer(interval=2.0)
    async def escalations() -> None:
        await driver.escalations(time.time())

    @app.on_partitions_revoked.connect
    async def on_revoked(app_: faust.App, revoked: Any, **kwargs: Any) -> None:
        # The table holds every rider's latest state (written per batch): drop the hot copies,
        # riders still owned after the rebalance are reloaded from the table on their next event.
        proc.forget_riders()

    @app.on_before_shutdown.connect
    async def on_shutdown(app_: faust.App, **kwargs: Any) -> None:
        proc.save_online_model()

    return app
