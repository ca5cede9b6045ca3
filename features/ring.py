"""Fixed rings of time buckets: the only shape per-rider state may grow into.

A ring has ``n`` slots; slot ``key % n`` holds bucket ``key`` (a minute, hour or day
number) and its tag says which. Writing a newer key resets the slot; a key older than
the one a slot holds cannot be written (it fell out of the ring). Sums are integers
(fixed-point), so they are exact and do not depend on the order events arrive in.
Tags and rows are flat arrays (not a Python object a value): tags ``array('q')``, rows ``array('q')``
(8 bytes) or, for the rings whose every value is a count of seconds or events in its bucket and so far
below 2**31 (brakes a minute, online seconds an hour, seconds a day), ``array('i')`` (4 bytes, exact);
a row is a view into its slot.

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
from typing import cast

#: Tag of an empty slot: below every bucket a ``datetime`` can give (year 1 is minute -1.04e9),
#: so no real key equals it and every real key is newer than it.
EMPTY = -(2**63)
Row = MutableSequence[int]  # one bucket's fields: a view into its ring's flat array('q'), or an array('q')
MINUTE_SLOTS = 61  # a 60-min window = the current minute + 60 whole minutes
WEAR_SLOTS = 17  # wearable minutes: the 15-min windows + the minute before them (skin trend), + the current one
TRIP_SLOTS = 13  # full trip minutes: the 10-min windows + the minutes sealing writes behind the newest record
BRAKE_SLOTS = MINUTE_SLOTS  # harsh-brake counts alone, for the 60-min window
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
_ZEROS = {code: array(code, bytes(8 * max(WEAR_WIDTH, TRIP_WIDTH))) for code in "qi"}
SMALL = "i"  # the typecode of rings whose values are counts below 2**31 (see the module docstring)


def new_ring(n: int, typecode: str = "q") -> tuple[array[int], array[int]]:
    """Empty ring of ``n`` slots: (tags, rows). The rows are one flat array of ``typecode``, allocated at the
    first write."""
    return array("q", [EMPTY]) * n, array(typecode)


def _view(rows: array[int], i: int, width: int) -> Row:
    return cast(Row, memoryview(rows)[i * width:(i + 1) * width])


def read_row(tags: array[int], rows: array[int], key: int) -> Row | None:
    """The row of bucket ``key``, or None if the ring does not hold it."""
    i = key % len(tags)
    return _view(rows, i, len(rows) // len(tags)) if tags[i] == key else None


def write_row(tags: array[int], rows: array[int], key: int, width: int) -> Row | None:
    """The row of bucket ``key`` for writing (reset if the slot held an older key); None if too old."""
    n = len(tags)
    i = key % n
    tag = tags[i]
    if tag == key:
        return _view(rows, i, width)
    if tag > key:
        return None
    if not rows:
        rows.frombytes(bytes(rows.itemsize * n * width))
    tags[i] = key
    row = _view(rows, i, width)
    row[:] = _ZEROS[rows.typecode][:width]
    return row


def write_at(tags: array[int], rows: array[int], key: int, width: int) -> int:
    """As :func:`write_row`, the row's offset in ``rows`` instead of a view (-1: too old); no view is made.

    >>> tags, rows = new_ring(3)
    >>> b = write_at(tags, rows, 7, 2); rows[b] += 5
    >>> b, list(rows[b:b + 2]), write_at(tags, rows, 4, 2)
    (2, [5, 0], -1)
    """
    n = len(tags)
    i = key % n
    tag = tags[i]
    b = i * width
    if tag == key:
        return b
    if tag > key:
        return -1
    if not rows:
        rows.frombytes(bytes(rows.itemsize * n * width))
    tags[i] = key
    rows[b:b + width] = _ZEROS[rows.typecode][:width]
    return b


def window_rows(tags: array[int], rows: array[int], newest: int, whole: int) -> list[Row]:
    """Rows of buckets ``newest - whole .. newest``: the current bucket plus ``whole`` whole ones."""
    lo, width = newest - whole, len(rows) // len(tags)
    return [_view(rows, i, width) for i, tag in enumerate(tags) if lo <= tag <= newest]


def ring_to_list(tags: array[int], rows: array[int], oldest: int) -> list[list[int]]:
    """Compact JSON form: ``[key, *row]`` for held buckets not older than ``oldest`` with any nonzero value."""
    width = len(rows) // len(tags)
    return sorted([tag, *_view(rows, i, width)] for i, tag in enumerate(tags)
                  if tag >= oldest and any(_view(rows, i, width)))


def ring_from_list(n: int, items: list[list[int]], typecode: str = "q") -> tuple[array[int], array[int]]:
    """Inverse of :func:`ring_to_list`."""
    tags, rows = new_ring(n, typecode)
    for key, *values in items:
        row = write_row(tags, rows, key, len(values))
        if row is not None:  # None: two keys of one slot, the newer already written (sorted input has none)
            row[:] = array(typecode, values)
    return tags, rows


def frozen_sums(tags: array[int], rows: array[int], fields: tuple[int, ...], whole: int, spare: int,
                top: int | None = None) -> list[int]:
    """Sums for windows of ``whole + 1`` buckets over a ring no write will change before the next call here.

    ``[top, *total, *cut(1), ..., *cut(spare)]``: ``top`` is the ring's newest key (or the newest of the
    buckets that can no longer change, given: newer ones are left out), ``total`` each of
    ``fields`` summed over the buckets ``top - whole .. top``, ``cut(d)`` over ``top - whole .. top - whole + d - 1``.
    A window ``lo .. hi`` with ``hi >= top`` and ``lo = top - whole + d`` then sums to ``total - cut(d)``
    (:func:`window_from_frozen`): no pass over the ring per call. One pass over the tags here.

    >>> tags, rows = new_ring(4)
    >>> for key, v in ((5, 1), (6, 10), (7, 100)): write_row(tags, rows, key, 1)[0] += v
    >>> frozen_sums(tags, rows, (0,), 2, 2)  # top 7; 5..7 = 111; 5..5 = 1; 5..6 = 11
    [7, 111, 1, 11]
    """
    nf = len(fields)
    if top is None:
        top = max(tags)
    out = [top, *[0] * (nf * (spare + 1))]
    if top == EMPTY or not rows:
        return out
    width, base = len(rows) // len(tags), top - whole
    for i, tag in enumerate(tags):
        d = tag - base
        if d < 0 or tag > top:
            continue
        b = i * width
        for j, f in enumerate(fields):
            value = rows[b + f]
            out[1 + j] += value
            for cut in range(d + 1, spare + 1):  # cut(cut) holds this bucket when it is before top - whole + cut
                out[1 + cut * nf + j] += value
    return out


def window_from_frozen(frozen: list[int] | array[int], at: int, nf: int, whole: int, spare: int, lo: int,
                       hi: int) -> list[int] | None:
    """The ``nf`` sums of the window ``lo .. hi`` from :func:`frozen_sums` stored at ``frozen[at:]``; None if
    they cannot say (the window ends before the ring's newest key, or starts more than ``spare`` after its oldest).

    >>> frozen = [7, 111, 1, 11]
    >>> window_from_frozen(frozen, 0, 1, 2, 2, 5, 7), window_from_frozen(frozen, 0, 1, 2, 2, 6, 8)
    ([111], [110])
    >>> window_from_frozen(frozen, 0, 1, 2, 2, 9, 11), window_from_frozen(frozen, 0, 1, 2, 2, 4, 6)
    ([0], None)
    """
    top = frozen[at]
    if top == EMPTY or lo > top:
        return [0] * nf
    d = lo - (top - whole)
    if hi < top or d < 0 or d > spare:
        return None
    total = frozen[at + 1:at + 1 + nf]
    if d == 0:
        return list(total)
    cut = at + 1 + d * nf
    return [t - c for t, c in zip(total, frozen[cut:cut + nf])]
