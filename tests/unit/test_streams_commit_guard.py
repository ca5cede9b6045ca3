"""The consumer guard (issue 12): no commit runs past an input record that was not delivered."""

from __future__ import annotations

import asyncio
from collections import namedtuple

import faust
import pytest
from faust.types import TP

from streams.commit_guard import SkippedRecords, behind_after_recovery, guard_commits, rewind_to_states


def consumer(guarded: set[str]):
    app = faust.App("t-commit-guard", broker="kafka://localhost:1")  # nothing connects: the consumer is not started
    guard_commits(app, guarded)
    return app.consumer


def test_a_gap_at_the_head_holds_the_commit_where_faust_would_skip_one_record() -> None:
    c = consumer({"in"})
    guarded, other = TP("in", 0), TP("other", 0)
    for tp in (guarded, other):
        c._committed_offset[tp] = 10
        c._acked[tp].extend([11, 12])  # record 10 not acknowledged yet
    assert c._new_offset(other) == 13  # Faust's rule: a head gap of one passes, record 10 would be committed unread
    assert c._new_offset(guarded) is None
    c._acked[guarded].insert(0, 10)
    assert c._new_offset(guarded) == 13


def test_records_a_fetch_skipped_stop_the_worker_unless_retention_deleted_them() -> None:
    c = consumer({"in"})
    starts = {TP("in", 0): 0, TP("in", 1): 20}  # partition 1: records before @20 were deleted by retention

    async def log_start(tp):
        return starts[tp]

    c._log_start = log_start
    guarded, deleted, other = TP("in", 0), TP("in", 1), TP("other", 0)
    for tp in (guarded, deleted, other):
        c._committed_offset[tp] = 11
    with pytest.raises(SkippedRecords, match=r"in\[0\]: records @11..@19"):
        asyncio.run(c._add_gap(guarded, 11, 20))  # delivered up to 10, then 20 was fetched
    for tp in (deleted, other):
        asyncio.run(c._add_gap(tp, 11, 20))
        c._acked[tp].append(20)
        assert c._new_offset(tp) == 21  # Faust counts 11..19 as done: right for deleted or compacted records
    c._acked[guarded].append(20)
    assert c._new_offset(guarded) is None  # 11..19 exist and were not delivered: nothing to commit past them


def test_no_rewind_when_the_states_reach_the_committed_offset() -> None:
    TP_ = namedtuple("TP_", "topic partition")
    states = [{"offsets": {"trip": [0, 99], "wearable": [0, 41]}}, None, {"offsets": {}}]
    committed = {TP_("t", 0): 100, TP_("w", 0): 42, TP_("t", 1): 7}  # t[1]: no state holds an offset there
    assert rewind_to_states(states, committed, {"t": "trip", "w": "wearable"}) == {}


def test_rewind_to_the_newest_offset_the_states_hold_per_partition() -> None:
    TP_ = namedtuple("TP_", "topic partition")
    states = [{"offsets": {"trip": [0, 50]}}, {"offsets": {"trip": [0, 60]}}, {"offsets": {"trip": [1, 5, 2]}}]
    committed = {TP_("t", 0): 100, TP_("t", 1): 6}
    assert rewind_to_states(states, committed, {"t": "trip"}) == {TP_("t", 0): 61}
    assert behind_after_recovery(states, {("trip", 0): 100, ("trip", 1): 6}) == {("trip", 0): 39}


def test_a_partition_never_committed_is_read_from_its_first_offset_and_its_head_checked(monkeypatch) -> None:
    """Issue 12: a worker took over a partition its killed owner had never committed and read it from the log's
    end (@446, another time @397); the records before were committed unread, or looked like replays. Every
    guarded partition is now sought explicitly: never committed -> its first offset, which is also the head the
    commit check starts from."""
    from faust.transport.drivers.aiokafka import Consumer as FaustConsumer

    c = consumer({"in"})
    never, at_zero, committed, other = TP("in", 0), TP("in", 1), TP("in", 2), TP("other", 0)

    async def faust_perform_seek(self):  # what Faust reads from the broker: in[0] was never committed
        self._read_offset.update({never: None, at_zero: 0, committed: 40, other: 7})

    async def earliest(*tps):
        return {tp: 3 for tp in tps}

    monkeypatch.setattr(FaustConsumer, "perform_seek", faust_perform_seek)
    fetch, seeks = fetching(monkeypatch, c, [], {})
    c.assignment = lambda: {never, at_zero, committed, other}
    c.earliest_offsets = earliest
    asyncio.run(c.perform_seek())
    assert dict(seeks) == {never: 3, at_zero: 0, committed: 40}  # Faust's own seek skips 0 and never-committed
    assert c._next_offsets == {never: 3, at_zero: 0, committed: 40}
    assert c._committed_offset[never] == 3
    c._acked[never].extend([446, 447])  # what the taken-over worker acknowledged first
    assert c._new_offset(never) is None  # 3..445 not delivered: no commit past them


def test_a_partition_whose_states_stop_short_is_sought_back_to_them(monkeypatch) -> None:
    from faust.transport.drivers.aiokafka import Consumer as FaustConsumer

    c = consumer({"in"})
    tp, fine = TP("in", 0), TP("in", 1)
    type(c).rewind = staticmethod(lambda committed: {tp: 61} if committed[tp] == 100 else {})

    async def faust_perform_seek(self):
        self._read_offset.update({tp: 100, fine: 9})

    monkeypatch.setattr(FaustConsumer, "perform_seek", faust_perform_seek)
    fetch, seeks = fetching(monkeypatch, c, [], {})
    c.assignment = lambda: {tp, fine}
    asyncio.run(c.perform_seek())
    assert dict(seeks) == {tp: 61, fine: 9}
    assert c._next_offsets == {tp: 61, fine: 9}


Record = namedtuple("Record", "offset")


def fetching(monkeypatch: pytest.MonkeyPatch, c, fetches: list[list[tuple[TP, int]]], starts: dict[TP, int]):
    """Make ``c`` fetch ``fetches`` (one list of (partition, offset) per fetch) and record its seeks."""
    from faust.transport.drivers.aiokafka import Consumer as FaustConsumer

    async def faust_getmany(self, timeout):
        for tp, offset in fetches.pop(0):
            yield tp, Record(offset)

    async def log_start(tp):
        return starts.get(tp, 0)

    seeks: list[tuple[TP, int]] = []

    async def seek_wait(offsets):
        seeks.extend(offsets.items())

    monkeypatch.setattr(FaustConsumer, "getmany", faust_getmany)
    c._log_start = log_start
    c._thread = type("Thread", (), {"seek_wait": staticmethod(seek_wait)})()

    def fetch() -> list[tuple[TP, int]]:
        async def run():
            return [(tp, message.offset) async for tp, message in c.getmany(timeout=1.0)]
        return asyncio.run(run())

    return fetch, seeks


def test_records_past_a_missing_one_are_not_delivered_and_the_partition_is_read_again(monkeypatch) -> None:
    """Issue 12: a seek to @0 lost a race and the fetch went on from @245; those records were applied before the
    ones they follow. Now nothing past a missing record is delivered; the partition is read again from it."""
    from streams import metrics

    c = consumer({"in"})
    tp, other = TP("in", 0), TP("other", 0)
    c._next_offsets[tp] = 10
    skipped = metrics.SKIPPED_OFFSETS.labels(topic="in")
    before = skipped._value.get()
    fetch, seeks = fetching(monkeypatch, c, [
        [(tp, 10), (tp, 11), (other, 5), (tp, 14), (other, 9), (tp, 15)],  # 12 and 13 skipped by the fetch
        [(tp, 12), (tp, 13), (tp, 14)],
    ], {})
    assert fetch() == [(tp, 10), (tp, 11), (other, 5), (other, 9)]  # other topics: Faust's rules, untouched
    assert seeks == [(tp, 12)]
    assert skipped._value.get() - before == 2
    assert fetch() == [(tp, 12), (tp, 13), (tp, 14)]
    assert c._next_offsets[tp] == 15


def test_records_already_delivered_are_dropped_and_retention_gaps_are_skipped(monkeypatch) -> None:
    c = consumer({"in"})
    again, deleted, anywhere, unsought = TP("in", 0), TP("in", 1), TP("in", 2), TP("in", 3)
    c._next_offsets.update({again: 10, deleted: 11, anywhere: None})  # in[2]: sought, its start unknown
    fetch, seeks = fetching(monkeypatch, c, [
        [(again, 8), (again, 9), (again, 10), (deleted, 20), (deleted, 21), (anywhere, 7), (anywhere, 8),
         (unsought, 4)],
    ], {deleted: 20})  # records of in[1] before @20 were deleted by retention
    assert fetch() == [(again, 10), (deleted, 20), (deleted, 21), (anywhere, 7), (anywhere, 8)]
    assert seeks == []
    assert c._next_offsets == {again: 11, deleted: 22, anywhere: 9}


def test_nothing_of_a_guarded_partition_is_delivered_while_the_consumer_seeks(monkeypatch) -> None:
    """Seen in the three-worker test: Faust resumed fetching before its seek after a rebalance, and a partition
    committed at @397 delivered @436 (the worker stopped on the skipped range instead of losing it)."""
    c = consumer({"in"})
    tp, other = TP("in", 0), TP("other", 0)
    c._next_offsets[tp] = 397
    c._seeking = True
    fetch, seeks = fetching(monkeypatch, c, [[(tp, 436), (other, 3)], [(tp, 397)]], {})
    c.assignment = lambda: {tp, other}
    assert fetch() == [(other, 3)]
    c._seeking = False
    assert fetch() == [(tp, 397)]
    assert seeks == [(tp, 397)]  # the client had moved past @436: sought back to the next record first


def test_a_record_fetched_while_the_consumer_is_sought_is_read_again_after_the_seek(monkeypatch) -> None:
    """Seen in CI (test_event_ids, test_bounds): a worker restarted and one record was produced; the post-recovery
    seek to its offset finished in the client's thread, the record was fetched at once and dropped because the
    seek had not returned yet, and with no later record to show the gap it was never delivered (120 s). The
    partition is now sought again to its next record before the next fetch."""
    c = consumer({"in"})
    tp, revoked = TP("in", 0), TP("in", 1)
    c._next_offsets.update({tp: 7, revoked: 3})
    c._seeking = True
    fetch, seeks = fetching(monkeypatch, c, [[(tp, 7), (revoked, 3)], [], [(tp, 7)], []], {})
    c.assignment = lambda: {tp}
    assert fetch() == []  # dropped while seeking: the client's position is now @8
    assert fetch() == [] and seeks == []  # still seeking: nothing sought yet
    c._seeking = False
    assert fetch() == [(tp, 7)]  # before: [] (the fetch has nothing more: the record is never delivered)
    assert seeks == [(tp, 7)]  # in[1] was revoked meanwhile: not sought
    assert fetch() == [] and seeks == [(tp, 7)]  # sought once


def test_every_seek_of_a_guarded_partition_sets_the_next_record_to_deliver(monkeypatch) -> None:
    c = consumer({"in"})
    tp = TP("in", 3)
    fetch, seeks = fetching(monkeypatch, c, [], {})
    asyncio.run(c._seek_and_wait({tp: 42}))
    assert seeks == [(tp, 42)] and c._next_offsets[tp] == 42


def test_faust_does_not_drop_the_next_record_after_a_seek_back(monkeypatch) -> None:
    """Faust's fetch loop drops a record whose offset is below its read offset; a record delivered just before a
    seek back can set that read offset past the sought position once it is processed (seen: @245 sought, the
    read offset at @246, record @245 dropped, @246 on applied, @245 then taken for a replay)."""
    c = consumer({"in"})
    tp = TP("in", 0)
    c._next_offsets[tp] = 245
    c._read_offset[tp] = 246
    fetching(monkeypatch, c, [[(tp, 245), (tp, 246)]], {})

    async def faust_fetch_loop():  # what Faust's _drain_messages does with each record it gets
        delivered = []
        async for tp_, message in c.getmany(timeout=1.0):
            read = c._read_offset[tp_]
            if read is None or message.offset >= read:
                delivered.append(message.offset)
                c._read_offset[tp_] = message.offset
        return delivered

    assert asyncio.run(faust_fetch_loop()) == [245, 246]  # before: [246]


def test_a_partition_holding_records_none_delivered_for_a_while_is_read_again(monkeypatch) -> None:
    """Seen in CI after the re-read of records dropped while sought: a restarted worker's one new record was still
    never delivered (Faust's own fetch drops records of a partition it does not count active, before they reach
    the guard). A partition whose log holds records past its next offset, none delivered for ``STALL_S``, is
    sought again to its next record; a partition that is up to date, or delivering, is not."""
    from streams import commit_guard

    c = consumer({"in"})
    stuck, current, busy = TP("in", 0), TP("in", 1), TP("in", 2)
    c._next_offsets.update({stuck: 12, current: 5, busy: 40})
    ends = {stuck: 13, current: 5, busy: 90}
    c.highwater = lambda tp: ends[tp]
    c.assignment = lambda: {stuck, current, busy}
    clock = [1000.0]
    monkeypatch.setattr(commit_guard.time, "monotonic", lambda: clock[0])
    fetch, seeks = fetching(monkeypatch, c, [[], [(busy, 40)], [], [(stuck, 12)]], {})
    assert fetch() == [] and seeks == []  # the clock starts: nothing is stalled yet
    clock[0] += commit_guard.STALL_S - 1
    assert fetch() == [(busy, 40)] and seeks == []
    clock[0] += 1.5
    assert fetch() == []
    assert seeks == [(stuck, 12)]  # before: [] (the record @12 exists and is never fetched again)
    assert fetch() == [(stuck, 12)]
    assert seeks == [(stuck, 12)]  # sought once; in[2] delivered a record within the last STALL_S
