"""Faust's consumer, made to never commit an input offset whose record was not delivered (issue 12).

Faust decides what to commit from the offsets its streams acknowledged (``Consumer._new_offset``), and two of
its rules can move a partition's committed offset past records no agent ever saw:

* **Gap filling.** When a fetched record's offset is more than one past the last one delivered for its
  partition, Faust assumes the offsets in between do not exist (a compacted topic, transaction markers) and
  counts them as acknowledged (``Consumer._add_gap``). On the rider topics (not compacted, no transactions)
  they do exist: a fetch that resumes past them after a rebalance, or a record prefetched before one, makes
  Faust commit records that were never processed.
* **A gap at the head.** Faust refuses a commit when the lowest acknowledged offset is more than one past the
  committed one — so a single missing record at the head passes — and checks nothing while the committed offset
  is unknown or 0 (just after a partition was assigned, before Faust reads it from the broker).

:class:`GuardedConsumer` keeps Faust's rules for every other topic (the changelog, the weather topic) and, on
the topics it guards, commits only a contiguous run that starts at the committed offset. A range a fetch skipped
(records that exist: not deleted by retention) is logged with its topic, partition and offsets, counted in
``riskstream_skipped_offsets_total``, and stops the worker before anything past it can be committed: a restart
reads it from the committed offset. After a rebalance, a partition whose recovered rider states stop short of
the committed offset is read again from where they stop (:meth:`GuardedConsumer.perform_seek`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer

from streams import metrics
from streams.batch import stored_offsets

log = logging.getLogger(__name__)


class SkippedRecords(RuntimeError):
    """A fetch skipped input records that exist: the worker stops before Faust can commit past them."""


class GuardedConsumer(AIOKafkaConsumer):
    """Faust's aiokafka consumer; on :attr:`guarded` topics, no commit runs past a record not delivered."""

    #: Topics whose offsets are contiguous (set by the app before the consumer starts).
    guarded: frozenset[str] = frozenset()

    async def _add_gap(self, tp: Any, offset_from: int, offset_to: int) -> None:
        if tp.topic not in self.guarded:
            await super()._add_gap(tp, offset_from, offset_to)
            return
        earliest = await self._log_start(tp)
        if earliest is not None and earliest >= offset_to:  # deleted by retention: nothing left to read
            log.warning("%s[%d]: offsets %d..%d were deleted before they were read (retention); going on from @%d",
                        tp.topic, tp.partition, offset_from, offset_to - 1, offset_to)
            gap = self._gap[tp]  # done without a record (Faust's own version starts one past the committed offset)
            gap.addi(offset_from, offset_to)
            gap.merge_overlaps()
            return
        metrics.SKIPPED_OFFSETS.labels(topic=tp.topic).inc(offset_to - offset_from)
        log.critical("fetched %s[%d]@%d while the last record delivered was @%d: records @%d..@%d exist but were "
                     "skipped by the fetch; stopping before they could be committed unread (a restart reads them "
                     "from the committed offset @%s)", tp.topic, tp.partition, offset_to, offset_from - 1,
                     offset_from, offset_to - 1, self._committed_offset[tp])
        raise SkippedRecords(f"{tp.topic}[{tp.partition}]: records @{offset_from}..@{offset_to - 1} skipped by a fetch")

    async def _log_start(self, tp: Any) -> int | None:
        """The partition's first offset still stored (None if the broker cannot say)."""
        try:
            return (await self.earliest_offsets(tp)).get(tp)
        except Exception:  # the broker cannot say: assume the records exist (stopping loses nothing)
            log.exception("could not read the first offset of %s[%d]", tp.topic, tp.partition)
            return None

    #: Given the committed offsets of the guarded partitions just assigned (after their states are recovered),
    #: the offsets to read them from instead (set by :func:`guard_commits`).
    rewind: Callable[[dict[Any, int]], dict[Any, int]] | None = None

    async def perform_seek(self) -> None:
        """Seek to the committed offsets (a partition never committed: to its first offset), then back to where the
        recovered states stop short of them."""
        await super().perform_seek()
        committed = {tp: offset for tp, offset in self._read_offset.items()
                     if tp.topic in self.guarded and offset is not None}
        await self._seek_uncommitted_to_start()
        if self.rewind is None:
            return
        for tp, offset in self.rewind(committed).items():
            short = committed[tp] - offset
            metrics.RECOVERED_BEHIND.labels(topic=tp.topic).inc(short)
            log.warning("the recovered rider states of %s[%d] reach @%d but the group committed @%d: reading the "
                        "%d records in between again (those the states hold count as replayed; docs/recovery.md)",
                        tp.topic, tp.partition, offset - 1, committed[tp], short)
            await self._seek_and_wait(tp, offset)

    async def _seek_uncommitted_to_start(self) -> None:
        """A guarded partition the group never committed is read from its first offset, and that offset is its
        committed offset for the head check.

        Seen in the three-worker test (issue 12): a worker killed before its first commit of a partition, and
        the worker that took the partition over started reading it at the log's end as it was then (@446), not
        at its start, although the consumer's reset policy is "earliest"; the records in between, applied by
        nobody or only in part, were committed from there on. Faust leaves such a partition wherever the client
        put it, and checks no head gap while the committed offset is unknown."""
        unknown = [tp for tp in self.assignment() if tp.topic in self.guarded and self._committed_offset[tp] is None]
        if not unknown:
            return
        starts = await self.earliest_offsets(*unknown)
        for tp in unknown:
            start = starts.get(tp)
            if start is None or start < 0:
                continue
            log.info("%s[%d] has no committed offset: reading it from its first offset @%d", tp.topic, tp.partition,
                     start)
            await self._seek_and_wait(tp, start)
            self._committed_offset[tp] = start

    async def _seek_and_wait(self, tp: Any, offset: int) -> None:
        """Seek in the consumer's own thread and wait until the position is set.

        Faust's ``Consumer.seek`` calls aiokafka's ``seek`` from the app's thread while the client runs in its
        own: seen losing the race (issue 12: a partition sought to @0 went on delivering from @245)."""
        await self._thread.seek_wait({tp: offset})

    def _new_offset(self, tp: Any) -> int | None:
        if tp.topic in self.guarded:
            acked = self._acked[tp]
            committed = self._committed_offset[tp]
            # the lowest offset done: acknowledged, or deleted by retention before it was read (a gap Faust fills)
            head = min([*acked, *(iv.begin for iv in self._gap[tp])]) if acked else None
            if head is not None and committed is not None and head > committed:
                log.warning("not committing %s[%d]: acknowledged from @%d but committed up to @%d; records "
                            "@%d..@%d were not acknowledged", tp.topic, tp.partition, head, committed,
                            committed, head - 1)
                return None
            if acked and committed is None:
                log.warning("committing %s[%d] from @%d with no committed offset known", tp.topic, tp.partition,
                            min(acked))
        return super()._new_offset(tp)


def guard_commits(app: Any, topics: set[str], rewind: Callable[[dict[Any, int]], dict[Any, int]] | None = None) -> None:
    """Make ``app``'s consumer a :class:`GuardedConsumer` for ``topics`` (call before the app starts)."""
    for topic in topics:  # the series exist from the start (at 0), so dashboards and alert rules see them
        metrics.SKIPPED_OFFSETS.labels(topic=topic)
        metrics.RECOVERED_BEHIND.labels(topic=topic)
    app.transport.Consumer = type("GuardedConsumer", (GuardedConsumer,),
                                  {"guarded": frozenset(topics), "rewind": staticmethod(rewind) if rewind else None})


def rewind_to_states(states: Iterable[dict[str, Any] | None], committed: dict[Any, int],
                     roles: dict[str, str]) -> dict[Any, int]:
    """The input partitions whose recovered states stop short of the committed offset -> where to read from.

    ``committed``: topic partition -> committed offset; ``roles``: input topic -> the role states record
    offsets under. A partition no state holds an offset of is left where it is (nothing to compare with).

    >>> from collections import namedtuple
    >>> TP = namedtuple("TP", "topic partition")
    >>> states = [{"offsets": {"trip": [1, 440]}}, {"offsets": {"trip": [1, 445], "wearable": [1, 300]}}]
    >>> rewind_to_states(states, {TP("t.trip", 1): 446, TP("t.wear", 1): 380, TP("t.trip", 2): 9},
    ...                  {"t.trip": "trip", "t.wear": "wearable"})
    {TP(topic='t.wear', partition=1): 301}
    """
    first = {(roles[tp.topic], tp.partition): offset for tp, offset in committed.items() if tp.topic in roles}
    short = behind_after_recovery(states, first)
    return {tp: offset - short[roles[tp.topic], tp.partition] for tp, offset in committed.items()
            if tp.topic in roles and (roles[tp.topic], tp.partition) in short}


def behind_after_recovery(states: Iterable[dict[str, Any] | None],
                          first: dict[tuple[str, int], int]) -> dict[tuple[str, int], int]:
    """(role, partition) -> how many offsets the recovered states stop short of the first record read after a
    rebalance, for the partitions where they do (``first``: (role, partition) -> the first offset read).

    The last record before the committed offset was applied to some rider (or dead-lettered), so the newest
    offset any recovered state holds should be the first offset read minus one. A shortfall means either
    records were committed without being applied, or the recovery did not see the states written for them
    (docs/recovery.md). Dead letters just before the committed offset also show up here, as a small shortfall.

    >>> states = [{"offsets": {"trip": [1, 440]}}, {"offsets": {"trip": [1, 445], "wearable": [1, 300]}}]
    >>> behind_after_recovery(states, {("trip", 1): 446, ("wearable", 1): 380, ("trip", 2): 10})
    {('wearable', 1): 79}
    """
    newest: dict[tuple[str, int], int] = {}
    for state in states:
        for role, (partition, offset) in stored_offsets(state).items():
            key = (role, partition)
            if key in first and offset > newest.get(key, -1):
                newest[key] = offset
    return {key: offset - newest[key] - 1 for key, offset in first.items()
            if key in newest and offset - newest[key] - 1 > 0}
