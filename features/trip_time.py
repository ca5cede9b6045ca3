"""Trip time accounting: which second was online, riding, speeding; breaks, stops and the riding clock.

Trip records arrive about once a second and may arrive out of order. Each record
covers the seconds from its own until the next record, at most ``cfg.trip_gap_cap_s``
(so a dropout is not riding). Records wait in ``state.pending`` (one per second) until
they are older than the allowed lateness, then they are *sealed*, a whole minute at a time
(:func:`features.trip_tail.sealable`): their seconds are walked in event-time order into the
minute/hour/day buckets and the sequence trackers (off-run, break, stop). Nothing that arrives
within the lateness can change a sealed second, so the result does not depend on arrival order.
Features see the newest records without waiting through :class:`features.trip_tail.TripTail`,
the same walk run ahead into an overlay (:func:`walk` writes to either through :class:`TripSink`);
where the rider has a tail, sealing adopts what it walked instead of walking the records again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from features.config import FeatureConfig
from features.ring import (
    Row,
    BRAKES, ACCELS, CORNERS, DAY_BREAKS, DAY_HEAT_S, DAY_NIGHT_RIDE_S, DAY_ONLINE_S, DAY_WIDTH,
    EBIKE_S, ONLINE_S, PHONE_S, RIDE_S, SPEED_SQ, SPEED_SUM, SPEEDING_S,
)

if TYPE_CHECKING:
    from features.rider_state import RiderState
    from riskstream.contracts.records import TripPoint


class TripSink(Protocol):
    """Where sealed trip seconds go: the rider state (final) or its :class:`features.trip_tail.TripTail`."""

    carry: list | None
    off_since: int | None
    online_since_break_s: int
    prev_riding: bool
    stop_candidate: int | None

    def trip_row(self, minute: int) -> Row | None: ...
    def brake_row(self, minute: int) -> Row | None: ...
    def hour_row(self, hour: int) -> Row | None: ...
    def day_row(self, day: int) -> Row | None: ...
    def qualify(self, stop: int) -> None: ...

OFFLINE, RIDING, WAITING, ON_BREAK = 0, 1, 2, 3
STATUS_CODE = {"offline": OFFLINE, "riding": RIDING, "waiting": WAITING, "break": ON_BREAK}
F_BRAKE, F_ACCEL, F_CORNER, F_SPEEDING, F_EBIKE, F_PHONE, F_HOT = 1, 2, 4, 8, 16, 32, 64
_ONSET_FIELDS = ((F_BRAKE, BRAKES), (F_ACCEL, ACCELS), (F_CORNER, CORNERS))
_SECONDS_FIELDS = ((F_SPEEDING, SPEEDING_S), (F_EBIKE, EBIKE_S), (F_PHONE, PHONE_S))
# 30 mph: the common speeding rule switches from +5 mph to +10 mph tolerance above it.
LOW_LIMIT_MAX_KMH = 48.28


def is_online(status: int) -> bool:
    """Riding or waiting for an order counts as online (working)."""
    return status in (RIDING, WAITING)


def trip_flags(rec: TripPoint, cfg: FeatureConfig, zone_heat_index_c: float | None) -> int:
    """Bit flags of one ``TripPoint`` against the configured thresholds."""
    flags = 0
    speed = rec.speed_kmh
    along, alat = rec.accel_long_g, rec.accel_lat_g  # None: unknown, so no harsh event is counted from it
    if along is not None and along <= -cfg.harsh_brake_g:
        flags |= F_BRAKE
    if along is not None and along >= cfg.harsh_accel_g:
        flags |= F_ACCEL
    if alat is not None and abs(alat) >= cfg.harsh_corner_g:
        flags |= F_CORNER
    limit = rec.speed_limit_kmh
    if limit is not None:
        tol = cfg.speeding_tolerance_low_kmh if limit <= LOW_LIMIT_MAX_KMH else cfg.speeding_tolerance_high_kmh
        if speed > limit + tol:
            flags |= F_SPEEDING
    if speed > cfg.ebike_limit_kmh:
        flags |= F_EBIKE
    if rec.phone_handling and speed >= cfg.phone_handling_min_speed_kmh:
        flags |= F_PHONE
    if zone_heat_index_c is not None and zone_heat_index_c >= cfg.heat_exposure_hi_c:
        flags |= F_HOT
    return flags


def seal_trip(state: RiderState, upto: int, cfg: FeatureConfig) -> None:
    """Walk every second before ``upto`` into buckets and trackers; pending records before it are consumed."""
    if state.sealed_upto is None:
        first = state.pending.first()
        if first is None or first >= upto:
            return
        state.sealed_upto = first
    cursor = state.sealed_upto
    if upto <= cursor:
        return
    items = state.pending.pop_before(upto)
    state.sealed_upto = walk(state, cursor, items, upto, cfg)


def walk(sink: TripSink, cursor: int, items: list[tuple[int, list]], upto: int | None, cfg: FeatureConfig) -> int:
    """Seal records ``items`` (sorted ``(second, entry)``, none before ``cursor``) into ``sink``, then the seconds
    up to ``upto`` (None: stop at the last record, which stays the carry). Returns the new cursor."""
    cap = cfg.trip_gap_cap_s
    for k, (_ts_ms, status, speed_q, flags) in items:
        cursor = advance(sink, cursor, k, cap, cfg)
        _count_onsets(sink, k, flags, sink.carry, cap)
        sink.carry = [k, status, speed_q, flags]
    return cursor if upto is None else advance(sink, cursor, upto, cap, cfg)


def advance(sink: TripSink, cursor: int, k: int, cap: int, cfg: FeatureConfig) -> int:
    carry = sink.carry
    if carry is not None:
        end = min(k, carry[0] + cap)
        if end > cursor:
            _span(sink, cursor, end, carry, cfg)
            cursor = end
    if cursor < k:
        _gap(sink, cursor)
        cursor = k
    return cursor


def _count_onsets(state: TripSink, sec: int, flags: int, prev: list | None, cap: int) -> None:
    # A harsh event lasting several records is one event: count only where the previous record lacked it.
    prev_flags = prev[3] if prev is not None and sec - prev[0] <= cap else 0
    onsets = flags & (F_BRAKE | F_ACCEL | F_CORNER) & ~prev_flags
    if not onsets:
        return
    if onsets & F_BRAKE:  # the 60-min window reads brakes from their own longer ring
        brakes = state.brake_row(sec // 60)
        if brakes is not None:
            brakes[0] += 1
    row = state.trip_row(sec // 60)
    if row is None:
        return
    for bit, field in _ONSET_FIELDS:
        if onsets & bit:
            row[field] += 1


def _gap(state: TripSink, start: int) -> None:
    # No data: not online, and not a stop we can measure.
    if state.off_since is None:
        state.off_since = start
    state.prev_riding = False
    state.stop_candidate = None


def _span(state: TripSink, start: int, end: int, rec: list, cfg: FeatureConfig) -> None:
    """Seconds ``start..end-1`` covered by ``rec``: trackers once per span, buckets once per minute chunk."""
    _sec, status, speed_q, flags = rec
    online, riding = is_online(status), status == RIDING
    offset = cfg.local_utc_offset_h * 3600.0
    if online:
        if state.off_since is not None:
            if start - state.off_since >= cfg.break_min_minutes * 60.0:
                _day_row(state, start, offset)[DAY_BREAKS] += 1
                state.online_since_break_s = 0
            state.off_since = None
        state.online_since_break_s += end - start
    elif state.off_since is None:
        state.off_since = start
    if riding:
        state.stop_candidate = None
    elif state.prev_riding:
        state.stop_candidate = start
    if state.stop_candidate is not None and end - state.stop_candidate >= cfg.stop_min_seconds:
        state.qualify(state.stop_candidate)
        state.stop_candidate = None
    state.prev_riding = riding
    a = start
    while a < end:
        b = min(end, (a // 60 + 1) * 60)  # one minute chunk: same minute, hour, day and night flag
        n = b - a
        row = state.trip_row(a // 60)
        if row is not None:
            _add_chunk(state, row, a, n, online, riding, speed_q, flags, offset, cfg)
        a = b


def _add_chunk(state: TripSink, row: Row, a: int, n: int, online: bool, riding: bool, speed_q: int,
               flags: int, offset: float, cfg: FeatureConfig) -> None:
    if online:
        row[ONLINE_S] += n
        hour = state.hour_row(a // 3600)
        if hour is not None:
            hour[0] += n
        day = _day_row(state, a, offset)
        day[DAY_ONLINE_S] += n
        if flags & F_HOT:
            day[DAY_HEAT_S] += n
        if riding:
            row[RIDE_S] += n
            row[SPEED_SUM] += n * speed_q
            row[SPEED_SQ] += n * speed_q * speed_q
            local_hour = ((a + offset) % 86400.0) / 3600.0
            if cfg.night_start_hour <= local_hour < cfg.night_end_hour:
                day[DAY_NIGHT_RIDE_S] += n
    if flags:
        for bit, field in _SECONDS_FIELDS:
            if flags & bit:
                row[field] += n


def _day_row(state: TripSink, s: int, offset: float) -> Row:
    row = state.day_row(int((s + offset) // 86400))
    return row if row is not None else [0] * DAY_WIDTH  # too old: count nowhere
