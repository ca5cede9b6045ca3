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
from features.ring import DAY_WIDTH, TRIP_WIDTH, Row
from features.trip_time import walk

if TYPE_CHECKING:
    from features.rider_state import RiderState


def _overlay_row(overlay: dict[int, Row], tags: array[int], rows: array[int], key: int, width: int) -> Row | None:
    row = overlay.get(key)
    if row is not None:
        return row
    i = key % len(tags)
    if tags[i] > key:  # the state's ring holds a newer bucket there: as write_row, too old
        return None
    row = overlay[key] = rows[i * width:(i + 1) * width] if tags[i] == key else array("q", bytes(8 * width))
    return row


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
        """Walk in records newer than :attr:`done`, in order."""
        if items:
            self.cursor = walk(self, self.cursor, items, None, cfg)
            self.done = items[-1][0]

    def ahead(self, upto: int, cfg: FeatureConfig) -> TripTail:
        """A copy sealed on to ``upto`` (the feature call's clock); this tail is not changed."""
        out = TripTail(self.base, self.cursor, self.done, None if self.carry is None else self.carry[:], self.off_since,
                       self.online_since_break_s, self.prev_riding, self.stop_candidate, self.stops[:],
                       {k: array("q", r) for k, r in self.trip.items()}, {k: array("q", r) for k, r in self.hour.items()},
                       {k: array("q", r) for k, r in self.day.items()},
                       {k: array("q", r) for k, r in self.brakes.items()})
        if upto > out.cursor:
            out.cursor = walk(out, out.cursor, [], upto, cfg)
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
