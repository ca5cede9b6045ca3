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
reads it from the committed offset. After a rebalance every guarded partition is sought explicitly (to its
committed offset, its first offset if never committed, or back to where its recovered rider states stop short
of the committed offset: :meth:`GuardedConsumer.perform_seek`), and from then on its records are delivered only
in offset order with none missing: a fetch that resumes past records is not delivered but read again from the
first one missing (:meth:`GuardedConsumer.getmany`), so no record is applied before the records it follows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer

from streams import metrics
from streams.batch import stored_offsets

log = logging.getLogger(__name__)

#: Seconds a guarded partition may hold records past its next offset with none delivered before it is sought again.
STALL_S = 5.0


class SkippedRecords(RuntimeError):
    """A fetch skipped input records that exist: the worker stops before Faust can commit past them."""


class GuardedConsumer(AIOKafkaConsumer):
    """Faust's aiokafka consumer; on :attr:`guarded` topics, no commit runs past a record not delivered."""

    #: Topics whose offsets are contiguous (set by the app before the consumer starts).
    guarded: frozenset[str] = frozenset()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: guarded partition -> the offset of the next record to deliver, set where the consumer is sought
        #: (None: wherever the client is); a guarded partition not in it is not delivered until it is sought
        self._next_offsets: dict[Any, int | None] = {}
        self._seeking = False  # perform_seek is running
        #: guarded partitions with records fetched and not delivered while the consumer sought them: the client's
        #: position is past those records, so they are sought again to their next record once the seek is done
        self._dropped: set[Any] = set()
        #: guarded partition -> monotonic time its last record was delivered or it was sought (see _seek_dropped)
        self._progress: dict[Any, float] = {}
        self._stall_checked = 0.0

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[Any, Any]]:
        """Faust's fetch, passing on a guarded partition's records only in offset order with none missing.

        A record past the next expected offset (a fetch that resumed past records after a seek or a rebalance,
        or a seek that lost a race) is not delivered: the partition is sought back to the expected offset and
        the rest of its records in this fetch are dropped, so no record is applied before the ones it follows
        and the commit check never has to hold a partition whose later records were already applied. Records
        before the expected offset (already delivered since the last seek) are dropped too, and so are the
        records of a partition not yet sought since it was assigned, or while :meth:`perform_seek` runs (Faust
        resumes fetching before it seeks: seen delivering @436 of a partition committed at @397). Records
        deleted by retention are skipped over, as Faust does. Faust's own fetch loop drops a record below its
        read offset, which a record delivered before a seek can set past the sought position after the seek
        (seen: @245 dropped, @246 on delivered): the record passed on here is made the read offset first."""
        held: set[Any] = set()  # partitions sought back during this fetch
        await self._seek_dropped()
        async for tp, message in super().getmany(timeout):
            if tp.topic in self.guarded:
                if self._seeking or tp not in self._next_offsets:
                    self._dropped.add(tp)  # not sought since it was assigned, or being sought: read again later
                    continue
                offset, expected = message.offset, self._next_offsets[tp]
                if expected is not None and offset != expected:
                    if tp in held or offset < expected:
                        continue
                    start = await self._log_start(tp)
                    if start is not None and start > expected:  # deleted by retention: nothing left to read there
                        _log_deleted(tp, expected, start)
                        expected = self._next_offsets[tp] = start
                    if offset > expected:
                        held.add(tp)
                        metrics.SKIPPED_OFFSETS.labels(topic=tp.topic).inc(offset - expected)
                        log.warning("fetched %s[%d]@%d while the next record to deliver is @%d: records @%d..@%d "
                                    "were skipped by the fetch; not delivering past them, reading the partition "
                                    "again from @%d", tp.topic, tp.partition, offset, expected, expected,
                                    offset - 1, expected)
                        await self._seek_and_wait({tp: expected})
                        continue
                self._next_offsets[tp] = offset + 1
                self._progress[tp] = time.monotonic()
                read = self._read_offset.get(tp)
                if read is not None and read > offset:
                    log.warning("delivering %s[%d]@%d in order although Faust's read offset says @%d (a record "
                                "delivered before the last seek finished after it); Faust would drop it",
                                tp.topic, tp.partition, offset, read)
                self._read_offset[tp] = offset  # this record is next: Faust's fetch loop must not drop it
            yield tp, message

    async def _seek_dropped(self) -> None:
        """Seek the partitions whose records were dropped while the consumer sought back to their next record.

        A record fetched while :meth:`perform_seek` runs is dropped, and the client's position moves past it; if
        it came after the seek (a record waiting at the sought offset is fetched at once), nothing fetches it
        again until a later record shows the gap. Seen in CI: a worker restarted, one record produced, fetched
        while the post-recovery seek finished, never delivered (120 s). Runs inside :meth:`getmany`, so no record
        is passed on while it seeks; a record delivered twice by the seek is below the next offset and dropped."""
        if self._seeking:
            return
        now = time.monotonic()
        stalled: dict[Any, int] = {}
        if now - self._stall_checked >= 1.0:  # at most once a second, not on every fetch
            self._stall_checked = now
            stalled = self._stalled(now)
        if not self._dropped and not stalled:
            return
        assigned = self.assignment()
        positions = {tp: self._next_offsets[tp] for tp in self._dropped
                     if tp in assigned and self._next_offsets.get(tp) is not None}
        self._dropped.clear()
        if positions:
            log.info("reading %s again: records fetched while the consumer was being sought were not delivered",
                     _from(positions))
        if stalled:
            log.warning("reading %s again: the partition holds records from there but none was delivered for %.0f s "
                        "(records dropped before they reached the guard, e.g. fetched while Faust had the partition "
                        "paused)", _from(stalled), STALL_S)
            positions.update(stalled)
        if positions:
            await self._seek_and_wait(positions)

    def _stalled(self, now: float) -> dict[Any, int]:
        """Guarded partitions whose log holds records from their next offset on, none delivered for ``STALL_S``.

        Faust's own fetch drops records before they reach :meth:`getmany` here (a partition not active at that
        moment, a generation change mid-fetch) and the client's position moves past them: a liveness backstop,
        whatever the cause. Seen in CI after the re-read of dropped records was added: a restarted worker's one
        new record still never delivered."""
        quiet = [(tp, expected) for tp, expected in self._next_offsets.items()
                 if expected is not None and now - self._progress.setdefault(tp, now) >= STALL_S]
        if not quiet:
            return {}
        assigned = self.assignment()
        stalled: dict[Any, int] = {}
        for tp, expected in quiet:
            if tp not in assigned:
                continue
            try:
                end = self.highwater(tp)
            except Exception:  # not known (yet) to the client: nothing to say
                continue
            if end is not None and end > expected:
                stalled[tp] = expected
                self._progress[tp] = now
        return stalled

    async def _add_gap(self, tp: Any, offset_from: int, offset_to: int) -> None:
        if tp.topic not in self.guarded:
            await super()._add_gap(tp, offset_from, offset_to)
            return
        earliest = await self._log_start(tp)
        if earliest is not None and earliest >= offset_to:  # deleted by retention: nothing left to read
            _log_deleted(tp, offset_from, offset_to)
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
        """Seek every guarded partition explicitly: to its committed offset, to its first offset if the group
        never committed it, or back to where the recovered rider states stop short of the committed offset. The
        offset sought is the next record :meth:`getmany` delivers from it.

        Faust's own seek leaves a partition the group never committed (or committed at 0) wherever the client
        put it. Seen in the three-worker test (issue 12): a worker killed before its first commit of a
        partition, and the worker that took it over read it from the log's end as it was then (@446, another
        time @397), although the reset policy is "earliest"; the records before were committed, or later looked
        like replays, unapplied."""
        self._seeking = True  # nothing of a guarded partition is delivered until it is sought
        try:
            await super().perform_seek()
            self._next_offsets.clear()
            guarded = [tp for tp in self.assignment() if tp.topic in self.guarded]
            if not guarded:
                return
            committed = await self._committed_or_first(guarded)
            positions = dict(committed)
            for tp, offset in (self.rewind(committed) if self.rewind is not None else {}).items():
                short = committed[tp] - offset
                metrics.RECOVERED_BEHIND.labels(topic=tp.topic).inc(short)
                log.warning("the recovered rider states of %s[%d] reach @%d but the group committed @%d: reading "
                            "the %d records in between again (those the states hold count as replayed; "
                            "docs/recovery.md)", tp.topic, tp.partition, offset - 1, committed[tp], short)
                positions[tp] = offset
            await self._seek_and_wait(positions)
            for tp in guarded:  # the broker could not tell where it starts: delivered from wherever it is
                self._next_offsets.setdefault(tp, None)
        finally:
            self._seeking = False

    async def _committed_or_first(self, partitions: list[Any]) -> dict[Any, int]:
        """Partition -> its committed offset, or its first offset if the group never committed it (then also its
        committed offset for the head check). A partition whose first offset the broker cannot tell is left out."""
        committed = {tp: self._read_offset.get(tp) for tp in partitions}  # the committed offsets Faust just read
        known = {tp: offset for tp, offset in committed.items() if offset is not None and offset >= 0}
        unknown = [tp for tp in partitions if tp not in known]
        if unknown:
            starts = await self.earliest_offsets(*unknown)
            first = {tp: starts[tp] for tp in unknown if starts.get(tp) is not None and starts[tp] >= 0}
            if first:
                log.info("no committed offset for %s: reading from the first offset",
                         ", ".join(f"{tp.topic}[{tp.partition}]@{offset}" for tp, offset in sorted(first.items())))
            for tp, offset in first.items():
                self._committed_offset[tp] = offset
            known.update(first)
        return known

    async def _seek_and_wait(self, positions: dict[Any, int]) -> None:
        """Seek in the consumer's own thread and wait until the positions are set.

        Faust's ``Consumer.seek`` calls aiokafka's ``seek`` from the app's thread while the client runs in its
        own: seen losing the race (issue 12: a partition sought to @0 went on delivering from @245)."""
        if not positions:
            return
        await self._thread.seek_wait(positions)
        self._next_offsets.update({tp: offset for tp, offset in positions.items() if tp.topic in self.guarded})
        now = time.monotonic()
        self._progress.update({tp: now for tp in positions if tp.topic in self.guarded})

    async def seek(self, partition: Any, offset: int) -> None:
        """Faust's seek; a guarded partition's next record to deliver is then the one at ``offset``."""
        await super().seek(partition, offset)
        if partition.topic in self.guarded:
            self._next_offsets[partition] = offset

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


def _from(positions: dict[Any, int]) -> str:
    """``topic[partition] from @offset, …`` for a log line."""
    return ", ".join(f"{tp.topic}[{tp.partition}] from @{offset}" for tp, offset in sorted(positions.items()))


def _log_deleted(tp: Any, first: int, end: int) -> None:
    """Log that offsets ``first``..``end - 1`` of ``tp`` were deleted by retention before they were read."""
    log.warning("%s[%d]: offsets %d..%d were deleted before they were read (retention); going on from @%d",
                tp.topic, tp.partition, first, end - 1, end)


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
