"""Fixed rings of time buckets: the only shape per-rider state may grow into.

A ring has ``n`` slots; slot ``key % n`` holds bucket ``key`` (a minute, hour or day
number) and its tag says which. Writing a newer key resets the slot; a key older than
the one a slot holds cannot be written (it fell out of the ring). Sums are integers
(fixed-point), so they are exact and do not depend on the order events arrive in.
Rows are ``array('q')`` (8 bytes a value, not a Python int object each).

>>> tags, rows = new_ring(3)
>>> write_row(tags, rows, 7, 2)[0] += 5
>>> list(read_row(tags, rows, 7)), read_row(tags, rows, 4), write_row(tags, rows, 4, 2)
([5, 0], None, None)

An empty slot's tag is :data:`EMPTY`, lower than any bucket number an event time can give,
so bucket -1 (the minute before the Unix epoch) is a bucket like any other, not "empty":

>>> tags, rows = new_ring(3)
>>> read_row(tags, rows, -1), window_rows(tags, rows, 0, 2)
(None, [])
>>> write_row(tags, rows, -1, 1)[0] += 2
>>> list(read_row(tags, rows, -1)), [list(r) for r in window_rows(tags, rows, 0, 2)]
([2], [[2]])
"""

from __future__ import annotations

from array import array
from collections.abc import MutableSequence

#: Tag of an empty slot: below every bucket a ``datetime`` can give (year 1 is minute -1.04e9),
#: so no real key equals it and every real key is newer than it.
EMPTY = -(2**63)
Row = MutableSequence[int]  # array('q') of one bucket's fields
MINUTE_SLOTS = 61  # a 60-min window = the current minute + 60 whole minutes
HR10_SLOTS = 32  # 10-s HR buckets: 320 s, enough for lateness + the recovery minute
HOUR_SLOTS = 25  # 24-h window = the current hour + 24 whole hours
DAY_SLOTS = 8  # 7-day window = today + 7 whole days

# Minute bucket fields, one ring per stream (a stream running ahead cannot push the other's minutes
# out). Fixed-point: HR in 0.01 bpm, skin in 0.001 °C, speed in 0.001 km/h.
HR_SUM, HR_N, HR_MAX, HR_HIGH_S, SKIN_SUM, SKIN_N, VALID_S, ON_BODY_S, IMPACT_MAX = range(9)
WEAR_WIDTH = 9
ONLINE_S, RIDE_S, SPEED_SUM, SPEED_SQ, SPEEDING_S, EBIKE_S, PHONE_S, BRAKES, ACCELS, CORNERS = range(10)
TRIP_WIDTH = 10
HR_SCALE, SKIN_SCALE, SPEED_SCALE, G_SCALE = 100, 1000, 1000, 1000
# Day bucket fields
DAY_ONLINE_S, DAY_NIGHT_RIDE_S, DAY_HEAT_S, DAY_BREAKS = range(4)
DAY_WIDTH = 4


_NO_ROW: Row = []  # shared placeholder of empty slots; never written (write_row replaces it)


def new_ring(n: int) -> tuple[list[int], list[Row]]:
    """Empty ring of ``n`` slots: (tags, rows)."""
    return [EMPTY] * n, [_NO_ROW] * n


def read_row(tags: list[int], rows: list[Row], key: int) -> Row | None:
    """The row of bucket ``key``, or None if the ring does not hold it."""
    i = key % len(tags)
    return rows[i] if tags[i] == key else None


def write_row(tags: list[int], rows: list[Row], key: int, width: int) -> Row | None:
    """The row of bucket ``key`` for writing (reset if the slot held an older key); None if too old."""
    i = key % len(tags)
    tag = tags[i]
    if tag == key:
        return rows[i]
    if tag > key:
        return None
    tags[i] = key
    row = array("q", bytes(8 * width))
    rows[i] = row
    return row


def window_rows(tags: list[int], rows: list[Row], newest: int, whole: int) -> list[Row]:
    """Rows of buckets ``newest - whole .. newest``: the current bucket plus ``whole`` whole ones."""
    lo = newest - whole
    return [rows[i] for i, tag in enumerate(tags) if lo <= tag <= newest]


def ring_to_list(tags: list[int], rows: list[Row], oldest: int) -> list[list[int]]:
    """Compact JSON form: ``[key, *row]`` for held buckets not older than ``oldest`` with any nonzero value."""
    return sorted([tag, *rows[i]] for i, tag in enumerate(tags) if tag >= oldest and any(rows[i]))


def ring_from_list(n: int, items: list[list[int]]) -> tuple[list[int], list[Row]]:
    """Inverse of :func:`ring_to_list`."""
    tags, rows = new_ring(n)
    for key, *row in items:
        tags[key % n], rows[key % n] = key, array("q", row)
    return tags, rows
