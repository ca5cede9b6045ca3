"""The trip seconds not yet sealed, sealed ahead on the side, so features do not replay them.

A rider's trip records wait ``allowed_lateness_s`` (120 s) before they are sealed into the
state's buckets (:mod:`features.trip_time`). Features must see them at once, so they used
to seal a copy of the whole state on every call: about 120 records, most of the cost of a
call. The tail keeps that provisional result instead, updated as records arrive in order:
an overlay of the few minute/hour/day rows the unsealed seconds touch (each a full row:
the state's row when first touched plus the provisional seconds) and the trackers as of
the newest record. Sealing is order-free and can be split anywhere, so the final sealing
that follows later writes the same values the overlay holds; overlay rows whose seconds
are all sealed are dropped. A record that arrives before the newest one (out of order)
discards the tail, and the next feature call rebuilds it from the pending records.

Each record is walked once. The state seals on whole minutes (:func:`sealable`), and the
tail keeps a mark at every whole minute it walks past (:data:`MARK_WIDTH`): the trackers there, the
qualified stops before it, and its hour and day rows' values there (the minute's own trip and
brake rows are final once it is past). Sealing adopts the marks (:meth:`TripTail.adopt`)
instead of walking the same records again; without a tail it walks them, to the same state.

Stops that qualify for an HR-recovery reading are kept as a list, not evaluated: their
value reads heart rates that may still arrive, so a feature call evaluates them with the
heart rates it sees, as the replay did.

>>> from features.config import FeatureConfig
>>> from features.rider_state import RiderState
>>> state = RiderState.new("r1")
>>> state.pending.merge(100, [100_000, 1, 20_000, 0]); state.pending.merge(101, [101_000, 1, 20_000, 0])
>>> tail = TripTail.build(state, FeatureConfig())
>>> tail.done, tail.cursor, sorted(tail.trip), list(tail.trip[1])[:3]  # second 100 sealed, 101 is the carry
(101, 101, [1], [1, 1, 20000])
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from features.config import FeatureConfig
from features.physiology import qualify_stop
from features.ring import DAY_WIDTH, TRIP_WIDTH, Row
from features.state_codec import NONE
from features.trip_time import advance, seal_trip, walk

if TYPE_CHECKING:
    from features.rider_state import RiderState


def _overlay_row(overlay: dict[int, Row], tags: array[int], rows: array[int], key: int, width: int) -> Row | None:
    row = overlay.get(key)
    if row is not None:
        return row
    i = key % len(tags)
    if tags[i] > key:  # the state's ring holds a newer bucket there: as write_row, too old
        return None
    row = overlay[key] = (rows[i * width:(i + 1) * width] if tags[i] == key
                          else array(rows.typecode, bytes(rows.itemsize * width)))  # the ring's typecode: adopted as is
    return row


def sealable(trip_ts: float, cfg: FeatureConfig) -> int:
    """Where the state seals to when its newest trip record is at ``trip_ts``: the whole minute at or before
    the lateness behind it (every second before it can no longer change).

    >>> sealable(1000.5, FeatureConfig())  # 880.5 s behind: sealed up to 840 (minute 14)
    840
    """
    return int((trip_ts - cfg.allowed_lateness_s) // 60) * 60


# A mark: the tail at a whole minute ``at`` it walked past, what sealing up to ``at`` leaves in the state,
# as MARK_WIDTH integers in :attr:`TripTail.marks` (no object per value): ``at``, the carry record (4; NONE
# first if none), off_since, online_since_break_s, prev_riding, stop_candidate, the stops qualified before
# ``at`` (counted from the tail's start), the minute's hour row (hour, online seconds) and its day rows (one,
# or two across local midnight: day, 4 values), as of ``at``; NONE where there is none.
MARK_WIDTH = 22
_AT, _CARRY, _OFF, _ONLINE, _PREV, _STOP, _QUALIFIED, _HOUR, _DAYS = 0, 1, 5, 6, 7, 8, 9, 10, 12


def _opt(value: int | None) -> int:
    return NONE if value is None else value


def _val(value: int) -> int | None:
    return None if value == NONE else value


@dataclass(slots=True)
class TripTail:
    """The state's trip side sealed up to its newest record (see the module docstring)."""

    base: RiderState = field(repr=False, compare=False)
    cursor: int  # seconds before it are sealed here
    done: int | None  # the newest record walked in (the carry); None: none yet
    carry: list | None
    off_since: int | None
    online_since_break_s: int
    prev_riding: bool
    stop_candidate: int | None
    stops: list[int] = field(default_factory=list)  # qualified here, not yet by the state
    trip: dict[int, Row] = field(default_factory=dict)  # minute -> full provisional row
    hour: dict[int, Row] = field(default_factory=dict)
    day: dict[int, Row] = field(default_factory=dict)
    brakes: dict[int, Row] = field(default_factory=dict)  # minute -> [harsh brakes]
    pruned_minute: int | None = None  # sealed_upto // 60 at the last drop_sealed
    marks: array[int] = field(default_factory=lambda: array("q"))  # at the minutes walked past, not adopted yet
    qualified: int = 0  # stops qualified here since the start
    handed: int = 0  # of them, stops the state has taken (the rest are ``stops``)

    @classmethod
    def build(cls, state: RiderState, cfg: FeatureConfig) -> TripTail | None:
        """Seal the state's pending records on the side; None if it has no trip seconds at all."""
        cursor = state.sealed_upto
        if cursor is None:
            cursor = state.pending.first()
            if cursor is None:
                return None
        tail = cls(state, cursor, None, None if state.carry is None else state.carry[:], state.off_since,
                   state.online_since_break_s, state.prev_riding, state.stop_candidate)
        tail.add(state.pending.items(), cfg)
        return tail

    def add(self, items: list[tuple[int, list]], cfg: FeatureConfig) -> None:
        """Walk in records newer than :attr:`done`, in order, with a mark at each whole minute."""
        if not items:
            return
        cap = cfg.trip_gap_cap_s
        cursor = self.cursor
        for item in items:
            k = item[0]
            at = (cursor // 60 + 1) * 60
            while at <= k:  # walk to the minute (split there, as sealing would), mark it
                cursor = self.cursor = advance(self, cursor, at, cap, cfg)
                self._mark(at, cfg)
                at += 60
            cursor = walk(self, cursor, [item], None, cfg)
        self.cursor = cursor
        self.done = items[-1][0]

    def _mark(self, at: int, cfg: FeatureConfig) -> None:
        hour = (at - 1) // 3600
        row = self.hour.get(hour)
        mark = [at, *(self.carry or (NONE, 0, 0, 0)), _opt(self.off_since), self.online_since_break_s,
                int(self.prev_riding), _opt(self.stop_candidate), self.qualified,
                NONE if row is None else hour, 0 if row is None else row[0]]
        offset = cfg.local_utc_offset_h * 3600.0
        first, last = int((at - 60 + offset) // 86400), int((at - 1 + offset) // 86400)
        for day in (first, last) if last != first else (first, None):
            day_row = self.day.get(day) if day is not None else None
            mark += [NONE, 0, 0, 0, 0] if day_row is None else [day, *day_row]
        self.marks.extend(mark)

    def adopt(self, upto: int, cfg: FeatureConfig) -> None:
        """Seal the state up to the whole minute ``upto`` from the marks (no walk); walks only where a mark
        is missing, after discarding the tail (not expected: the tail has walked past ``upto``)."""
        state, marks = self.base, self.marks
        used = 0
        while used < len(marks) and marks[used + _AT] <= upto:
            m = marks[used:used + MARK_WIDTH]
            used += MARK_WIDTH
            at = m[_AT]
            if state.sealed_upto is not None and at <= state.sealed_upto:
                continue
            state.pending.pop_before(at)
            minute = at // 60 - 1
            row = self.trip.get(minute)
            if row is not None and (into := state.trip_row(minute)) is not None:
                into[:] = row
            row = self.brakes.get(minute)
            if row is not None and (into := state.brake_row(minute)) is not None:
                into[0] = row[0]
            if m[_HOUR] != NONE and (into := state.hour_row(m[_HOUR])) is not None:
                into[0] = m[_HOUR + 1]
            for d in (_DAYS, _DAYS + 5):
                if m[d] != NONE and (into := state.day_row(m[d])) is not None:
                    into[:] = array(state.day_rows.typecode, m[d + 1:d + 5])
            state.carry = None if m[_CARRY] == NONE else list(m[_CARRY:_CARRY + 4])
            state.off_since, state.online_since_break_s = _val(m[_OFF]), m[_ONLINE]
            state.prev_riding, state.stop_candidate = bool(m[_PREV]), _val(m[_STOP])
            for _ in range(m[_QUALIFIED] - self.handed):
                qualify_stop(state, self.stops.pop(0))
            self.handed = m[_QUALIFIED]
            state.sealed_upto = at
        del marks[:used]
        first = state.pending.first()
        if (first is not None and first < upto) if state.sealed_upto is None else state.sealed_upto < upto:
            state.tail = None
            seal_trip(state, upto, cfg)

    def ahead(self, upto: int, cfg: FeatureConfig) -> TripTail:
        """A copy sealed on to ``upto`` (the feature call's clock); this tail is not changed.

        The copy shares the rows the walk to ``upto`` cannot write: it writes only the minute, hour and day rows
        of the seconds ``cursor .. upto - 1``, and no brake row (no record is walked in, so no harsh onset).
        """
        trip, hour, day = dict(self.trip), dict(self.hour), dict(self.day)
        cursor = self.cursor
        if upto > cursor:
            last, offset = upto - 1, cfg.local_utc_offset_h * 3600.0
            for rows, lo, hi in ((trip, cursor // 60, last // 60), (hour, cursor // 3600, last // 3600),
                                 (day, int((cursor + offset) // 86400), int((last + offset) // 86400))):
                for key, row in rows.items():
                    if lo <= key <= hi:
                        rows[key] = array("q", row)
        out = TripTail(self.base, cursor, self.done, None if self.carry is None else self.carry[:], self.off_since,
                       self.online_since_break_s, self.prev_riding, self.stop_candidate, self.stops[:],
                       trip, hour, day, dict(self.brakes))
        if upto > cursor:
            out.cursor = walk(out, cursor, [], upto, cfg)
        return out

    def drop_sealed(self, sealed_upto: int, cfg: FeatureConfig) -> None:
        """Forget overlay rows whose seconds the state has all sealed (it holds the same values)."""
        self.pruned_minute = sealed_upto // 60
        offset = cfg.local_utc_offset_h * 3600.0
        for overlay, end in ((self.trip, lambda k: (k + 1) * 60), (self.brakes, lambda k: (k + 1) * 60),
                             (self.hour, lambda k: (k + 1) * 3600),
                             (self.day, lambda k: (k + 1) * 86400 - offset)):
            for key in [k for k in overlay if end(k) <= sealed_upto]:
                del overlay[key]

    def trip_row(self, minute: int) -> Row | None:
        return _overlay_row(self.trip, self.base.trip_tags, self.base.trip_rows, minute, TRIP_WIDTH)

    def brake_row(self, minute: int) -> Row | None:
        return _overlay_row(self.brakes, self.base.brake_tags, self.base.brake_rows, minute, 1)

    def hour_row(self, hour: int) -> Row | None:
        return _overlay_row(self.hour, self.base.hour_tags, self.base.hour_rows, hour, 1)

    def day_row(self, day: int) -> Row | None:
        return _overlay_row(self.day, self.base.day_tags, self.base.day_rows, day, DAY_WIDTH)

    def qualify(self, stop: int) -> None:
        self.stops.append(stop)
        self.qualified += 1
