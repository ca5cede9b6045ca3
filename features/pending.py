"""Trip records waiting to be sealed: one per second, in second order, 8 bytes a second.

A record is ``[ts_ms, status, speed_q, flags]`` (see :mod:`features.trip_time`); here it is
packed into one int64 in a dense run of seconds from the oldest waiting one (an empty second
is -1), so ~120 waiting records take about 1 KB instead of a dict of lists (about 27 KB).
Records mostly arrive in order: they are appended at the end and sealed from the front. The run
spans the allowed lateness, because a record that jumps further ahead seals the older ones
first (:func:`features.rider_state.update_trip`).

>>> p = PendingTrips()
>>> p.merge(11, [11_250, 1, 20_000, 0]); p.merge(10, [10_999, 2, 0, 64]); p.merge(11, [11_100, 1, 5_000, 1])
>>> p.items()  # second order; second 11 keeps its later record's status and speed, flags OR-ed
[(10, [10999, 2, 0, 64]), (11, [11250, 1, 20000, 1])]
>>> p.merge(14, [14_000, 0, 0, 0]); len(p), p.get(12), p.get(14)
(3, None, [14000, 0, 0, 0])
>>> p.pop_before(11), len(p), p.first()
([(10, [10999, 2, 0, 64])], 2, 11)
>>> p.pop_before(13), p.first(), p.vals.tolist()  # the empty seconds before the oldest waiting one go too
([(11, [11250, 1, 20000, 1])], 14, [0])
"""

from __future__ import annotations

from array import array

_MS_BITS, _STATUS_BITS, _FLAG_BITS = 11, 2, 7  # ms within the second is 0..1000 (ts rounds up to the next second)
_STATUS_AT, _FLAGS_AT, _SPEED_AT = _MS_BITS, _MS_BITS + _STATUS_BITS, _MS_BITS + _STATUS_BITS + _FLAG_BITS
_EMPTY = array("q", [-1])  # a second without a record (a packed record is never negative: speed_q >= 0)


def _pack(sec: int, entry: list) -> int:
    ts_ms, status, speed_q, flags = entry
    return (ts_ms - sec * 1000) | status << _STATUS_AT | flags << _FLAGS_AT | speed_q << _SPEED_AT


def _unpack(sec: int, value: int) -> list:
    return [sec * 1000 + (value & (1 << _MS_BITS) - 1), value >> _STATUS_AT & (1 << _STATUS_BITS) - 1,
            value >> _SPEED_AT, value >> _FLAGS_AT & (1 << _FLAG_BITS) - 1]


class PendingTrips:
    """Waiting trip records by second (see the module docstring): ``vals[i]`` is second ``lo + i``."""

    __slots__ = ("lo", "vals", "n")

    def __init__(self) -> None:
        self.lo = 0  # the oldest waiting second (vals[0] is never empty)
        self.vals = array("q")
        self.n = 0  # waiting records

    def __len__(self) -> int:
        return self.n

    def first(self) -> int | None:
        """The oldest waiting second, None if none waits."""
        return self.lo if self.n else None

    def get(self, sec: int) -> list | None:
        i = sec - self.lo
        if 0 <= i < len(self.vals) and self.vals[i] >= 0:
            return _unpack(sec, self.vals[i])
        return None

    def merge(self, sec: int, entry: list) -> None:
        """Keep one record per second: flags are OR-ed, status and speed come from the later one (order-free)."""
        vals = self.vals
        value = _pack(sec, entry)
        if not self.n:
            self.lo = sec
            vals.append(value)
            self.n = 1
            return
        i = sec - self.lo
        if i >= len(vals):
            if i > len(vals):
                vals.extend(_EMPTY * (i - len(vals)))
            vals.append(value)
        elif i < 0:
            vals[0:0] = _EMPTY * -i
            vals[0] = value
            self.lo = sec
        elif vals[i] < 0:
            vals[i] = value
        else:
            old = _unpack(sec, vals[i])
            later = max(old, entry, key=lambda e: (e[0], e[1], e[2]))
            vals[i] = _pack(sec, [later[0], later[1], later[2], old[3] | entry[3]])
            return
        self.n += 1

    def pop_before(self, upto: int) -> list[tuple[int, list]]:
        """Remove and return the records of seconds before ``upto``, oldest first."""
        k = min(upto - self.lo, len(self.vals))
        if k <= 0 or not self.n:
            return []
        lo, vals = self.lo, self.vals
        out = [(lo + i, _unpack(lo + i, vals[i])) for i in range(k) if vals[i] >= 0]
        while k < len(vals) and vals[k] < 0:  # the next record starts the run
            k += 1
        del vals[:k]
        self.lo += k
        self.n -= len(out)
        return out

    def items(self) -> list[tuple[int, list]]:
        """Every waiting ``(second, record)``, oldest first."""
        lo = self.lo
        return [(lo + i, _unpack(lo + i, v)) for i, v in enumerate(self.vals) if v >= 0]

    def packed(self) -> tuple[list[int], list[int]]:
        """``(seconds, packed records)`` of every waiting record, oldest first (the changelog form)."""
        lo = self.lo
        held = [(lo + i, v) for i, v in enumerate(self.vals) if v >= 0]
        return [s for s, _ in held], [v for _, v in held]

    @classmethod
    def from_packed(cls, secs: list[int] | array[int], values: list[int] | array[int]) -> PendingTrips:
        """Inverse of :meth:`packed` (seconds ascending)."""
        out = cls()
        if len(secs):
            out.lo = secs[0]
            out.vals = _EMPTY * (secs[-1] - secs[0] + 1)
            for sec, value in zip(secs, values):
                out.vals[sec - out.lo] = value
            out.n = len(secs)
        return out

    def copy(self) -> PendingTrips:
        out = PendingTrips()
        out.lo, out.vals, out.n = self.lo, array("q", self.vals), self.n
        return out
