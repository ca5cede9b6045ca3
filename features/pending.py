"""Trip records waiting to be sealed: one per second, in second order, 16 bytes each.

A record is ``[ts_ms, status, speed_q, flags]`` (see :mod:`features.trip_time`); here it is
packed into one int64 beside its second, so ~120 waiting records take about 2 KB instead of
a dict of lists (about 27 KB). Records mostly arrive in order: they are appended at the end
and sealed from the front.

>>> p = PendingTrips()
>>> p.merge(11, [11_250, 1, 20_000, 0]); p.merge(10, [10_999, 2, 0, 64]); p.merge(11, [11_100, 1, 5_000, 1])
>>> p.items()  # second order; second 11 keeps its later record's status and speed, flags OR-ed
[(10, [10999, 2, 0, 64]), (11, [11250, 1, 20000, 1])]
>>> p.pop_before(11), len(p), p.first()
([(10, [10999, 2, 0, 64])], 1, 11)
"""

from __future__ import annotations

from array import array
from bisect import bisect_left

_MS_BITS, _STATUS_BITS, _FLAG_BITS = 11, 2, 7  # ms within the second is 0..1000 (ts rounds up to the next second)
_STATUS_AT, _FLAGS_AT, _SPEED_AT = _MS_BITS, _MS_BITS + _STATUS_BITS, _MS_BITS + _STATUS_BITS + _FLAG_BITS


def _pack(sec: int, entry: list) -> int:
    ts_ms, status, speed_q, flags = entry
    return (ts_ms - sec * 1000) | status << _STATUS_AT | flags << _FLAGS_AT | speed_q << _SPEED_AT


def _unpack(sec: int, value: int) -> list:
    return [sec * 1000 + (value & (1 << _MS_BITS) - 1), value >> _STATUS_AT & (1 << _STATUS_BITS) - 1,
            value >> _SPEED_AT, value >> _FLAGS_AT & (1 << _FLAG_BITS) - 1]


class PendingTrips:
    """Waiting trip records by second (see the module docstring)."""

    __slots__ = ("secs", "values")

    def __init__(self) -> None:
        self.secs = array("q")
        self.values = array("q")

    def __len__(self) -> int:
        return len(self.secs)

    def first(self) -> int | None:
        """The oldest waiting second, None if none waits."""
        return self.secs[0] if self.secs else None

    def get(self, sec: int) -> list | None:
        i = bisect_left(self.secs, sec)
        return _unpack(sec, self.values[i]) if i < len(self.secs) and self.secs[i] == sec else None

    def merge(self, sec: int, entry: list) -> None:
        """Keep one record per second: flags are OR-ed, status and speed come from the later one (order-free)."""
        secs = self.secs
        if not secs or sec > secs[-1]:
            secs.append(sec)
            self.values.append(_pack(sec, entry))
            return
        i = bisect_left(secs, sec)
        if secs[i] != sec:
            secs.insert(i, sec)
            self.values.insert(i, _pack(sec, entry))
            return
        old = _unpack(sec, self.values[i])
        later = max(old, entry, key=lambda e: (e[0], e[1], e[2]))
        self.values[i] = _pack(sec, [later[0], later[1], later[2], old[3] | entry[3]])

    def pop_before(self, upto: int) -> list[tuple[int, list]]:
        """Remove and return the records of seconds before ``upto``, oldest first."""
        n = bisect_left(self.secs, upto)
        out = [(self.secs[i], _unpack(self.secs[i], self.values[i])) for i in range(n)]
        del self.secs[:n], self.values[:n]
        return out

    def items(self) -> list[tuple[int, list]]:
        """Every waiting ``(second, record)``, oldest first."""
        return [(sec, _unpack(sec, value)) for sec, value in zip(self.secs, self.values)]

    def copy(self) -> PendingTrips:
        out = PendingTrips()
        out.secs, out.values = array("q", self.secs), array("q", self.values)
        return out
