"""A partition with records to read whose read offset does not move: stop, so a restart re-assigns it.

Faust (faust-streaming issue 629, open) can leave a partition assigned after a rebalance with no fetch
request ever sent for it: the worker looks healthy, the partition's records wait forever, and nothing
says so. The worker is crash-only (``streams.app``), so the remedy is the same as for any failure that
is not a record's fault: log what is stuck and exit without committing; the supervisor's restart
triggers a rebalance that assigns the partition again, and it resumes from its last committed offset.

End offsets are asked of the broker (a ListOffsets request), not taken from the fetcher, which has no
news of a partition it never fetches. Nothing is judged during a rebalance or table recovery, when
partitions are paused on purpose.

>>> watch = StallWatch(limit_s=60)
>>> watch.observe({"t/0": (10, 50), "t/1": (49, 50)}, now=0.0)
[]
>>> watch.observe({"t/0": (10, 50), "t/1": (49, 50)}, now=59.0)  # t/1: read up to its end; t/0 not yet 60 s
[]
>>> watch.observe({"t/0": (10, 50), "t/1": (49, 50)}, now=61.0)
['t/0']
>>> watch.observe({"t/0": (11, 50)}, now=62.0)  # it moved: the clock starts again
[]
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Hashable, Mapping
from typing import Any

log = logging.getLogger(__name__)

#: Exit status of a worker that stopped because a partition stalled (EX_TEMPFAIL: a restart helps).
EXIT_STALLED_PARTITION = 75


class StallWatch:
    """Which partitions have records to read and a read offset that has not moved for ``limit_s`` seconds."""

    def __init__(self, limit_s: float) -> None:
        self.limit_s = limit_s
        self._since: dict[Hashable, tuple[int | None, float]] = {}

    def observe(self, positions: Mapping[Hashable, tuple[int | None, int]], now: float) -> list[Hashable]:
        """``positions``: partition -> (last offset read or None, end offset). Returns the stalled partitions."""
        stalled, since = [], {}
        for tp, (read, end) in positions.items():
            if end <= (read + 1 if read is not None else 0):
                continue  # nothing waiting
            first = self._since.get(tp)
            if first is None or first[0] != read:
                since[tp] = (read, now)
                continue
            since[tp] = first
            if now - first[1] >= self.limit_s:
                stalled.append(tp)
        self._since = since
        return stalled

    def reset(self) -> None:
        self._since.clear()


def install(app: Any, topics: set[str], limit_s: float, every_s: float = 10.0) -> StallWatch:
    """Check the consumer's partitions of ``topics`` every ``every_s``; exit the process if one stalls."""
    watch = StallWatch(limit_s)

    @app.timer(interval=every_s)
    async def stalled_partitions() -> None:
        consumer = app.consumer
        if app.rebalancing or app.in_recovery:
            watch.reset()
            return
        tps = [tp for tp in consumer.assignment() if tp.topic in topics]
        if not tps:
            return
        ends = await consumer.highwaters(*tps)
        read = consumer._read_offset  # noqa: SLF001 - Faust keeps no public accessor
        stuck = watch.observe({tp: (read.get(tp), ends[tp]) for tp in tps if tp in ends}, time.monotonic())
        if stuck:
            where = ", ".join(f"{tp.topic}[{tp.partition}] read to {read.get(tp)}, end {ends[tp]}" for tp in stuck)
            log.critical("partition(s) with records to read made no progress for %.0f s (RISKSTREAM_WORKER__"
                         "STALL_TIMEOUT_S): %s. Faust can leave a partition unfetched after a rebalance "
                         "(faust-streaming issue 629); stopping without a commit so a restart re-assigns it and "
                         "it resumes from its last committed offset", limit_s, where)
            logging.shutdown()
            os._exit(EXIT_STALLED_PARTITION)

    return watch
