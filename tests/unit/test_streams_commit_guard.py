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


def test_a_partition_never_committed_is_read_from_its_first_offset_and_its_head_checked() -> None:
    """Issue 12: a worker took over a partition its killed owner had never committed and read it from the log's
    end (@446); the records before were committed unread. It must start at the partition's first offset."""
    c = consumer({"in"})
    never, committed, other = TP("in", 0), TP("in", 1), TP("other", 0)
    c._committed_offset[committed] = 40
    seeks: list[tuple[TP, int]] = []

    async def earliest(*tps):
        return {tp: 0 for tp in tps}

    async def seek(tp, offset):
        seeks.append((tp, offset))

    c.assignment = lambda: {never, committed, other}
    c.earliest_offsets = earliest
    c._seek_and_wait = seek
    asyncio.run(c._seek_uncommitted_to_start())
    assert seeks == [(never, 0)]
    assert c._committed_offset[never] == 0
    c._acked[never].extend([446, 447])  # what the taken-over worker acknowledged first
    assert c._new_offset(never) is None  # 0..445 not delivered: no commit past them
