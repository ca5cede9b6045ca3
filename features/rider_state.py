"""Bounded per-rider state and its two update functions (wearable, trip), in event time.

State is fixed rings of buckets (17 wearable minutes, 13 trip minutes and 61 minutes of harsh-brake
counts, 32 ten-second HR buckets, 25 hours, 8 days), a few scalars, a 256-s fall bitmap, trip records still inside
the allowed lateness or its last unsealed minute, and per stream one event-id digest per second of the lateness window.
Nothing grows with the number of events or the length of a window.

>>> from types import SimpleNamespace as W
>>> from datetime import datetime, timezone
>>> cfg = FeatureConfig()
>>> state = RiderState.new("r1")
>>> t0 = datetime(2026, 7, 1, 4, 0, 0, tzinfo=timezone.utc)
>>> rec = W(event_id="w1", ts=t0, heart_rate_bpm=120.0, skin_temp_c=34.0, accel_peak_g=1.1,
...         accel_mean_g=1.0, accel_var=0.02, on_body=True)
>>> update_wearable(state, rec, cfg).name, update_wearable(state, rec, cfg).name
('APPLIED', 'DUPLICATE')
"""

from __future__ import annotations

import enum
import functools
import math
import zlib
from array import array
from dataclasses import dataclass, field, fields
from typing import Any

from features.config import FeatureConfig
from features.physiology import fold_minutes, mark_fall_bits, qualify_stop, settle_recovery
from features.ring import (
    Row,
    ACCELS, CORNERS, DAY_ONLINE_S, EBIKE_S, PHONE_S, SPEEDING_S,
    BRAKES, DAY_SLOTS, DAY_WIDTH, G_SCALE, HOUR_SLOTS, HR10_SLOTS, HR_HIGH_S, HR_MAX, HR_N, HR_SCALE, HR_SUM,
    BRAKE_SLOTS, IMPACT_MAX, ON_BODY_S, SKIN_N, SKIN_SCALE, SKIN_SUM, SPEED_SCALE, TRIP_SLOTS, TRIP_WIDTH,
    VALID_S, WEAR_SLOTS, WEAR_WIDTH,
    EMPTY, SMALL, frozen_sums, new_ring, ring_from_list, ring_to_list, write_at, write_row,
)
from features.state_codec import NONE, IntReader, Ints, pack, unpack
from features.trip_tail import TripTail, sealable
from features.pending import PendingTrips
from features.trip_time import STATUS_CODE, seal_trip, trip_flags

STATE_VERSION = 4  # 4: 2-byte dedup digests, base85 (3: 4-byte CRC32 digests, base64; 2: JSON lists, one minute
# ring per stream; 1: one shared ring; all read)
# The changelog keeps what features can still read: wearable minutes of the 15-min windows and the
# few unfolded ones; trip minutes of the 10-min windows in full, older ones only their harsh brakes.
WEAR_READ_MINUTES = 16
TRIP_READ_MINUTES = 10


class UpdateResult(enum.Enum):
    """What an update did with one record."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    TOO_LATE = "too_late"


def _ring(n: int) -> Any:
    return field(default_factory=lambda: new_ring(n)[0])


def _rows(n: int, typecode: str = "q") -> Any:
    return field(default_factory=lambda: new_ring(n, typecode)[1])


@dataclass(slots=True)
class RiderState:
    """Everything the features of one rider need; see the module docstring for the bounds."""

    rider_id: str
    wear_tags: array[int] = _ring(WEAR_SLOTS)  # wearable minutes
    wear_rows: array[int] = _rows(WEAR_SLOTS)
    trip_tags: array[int] = _ring(TRIP_SLOTS)  # trip minutes, written as trip seconds are sealed
    trip_rows: array[int] = _rows(TRIP_SLOTS)
    brake_tags: array[int] = _ring(BRAKE_SLOTS)  # harsh brakes per trip minute, for the 60-min window
    brake_rows: array[int] = _rows(BRAKE_SLOTS, SMALL)
    hr10_tags: array[int] = _ring(HR10_SLOTS)
    hr10_rows: array[int] = _rows(HR10_SLOTS)
    hour_tags: array[int] = _ring(HOUR_SLOTS)
    hour_rows: array[int] = _rows(HOUR_SLOTS, SMALL)
    day_tags: array[int] = _ring(DAY_SLOTS)
    day_rows: array[int] = _rows(DAY_SLOTS, SMALL)
    wearable_ts: float | None = None  # newest event time per stream
    trip_ts: float | None = None
    zone_id: str | None = None  # from the newest trip record
    status: str | None = None
    pending: PendingTrips = field(default_factory=PendingTrips)  # second -> [ts_ms, status, speed_q, flags]
    sealed_upto: int | None = None
    carry: list | None = None  # last sealed record: [second, status, speed_q, flags]
    off_since: int | None = None
    online_since_break_s: int = 0
    prev_riding: bool = False
    stop_candidate: int | None = None
    stop_pending: int | None = None
    hr_recovery_bpm: float | None = None
    hr_rest_bpm: float | None = None
    folded_minute: int | None = None
    core_temp_c: float | None = None
    core_temp_var: float = 0.0
    core_obs_minute: int | None = None
    fall_base: int | None = None
    impact_bits: int = 0
    still_bits: int = 0
    fall_ts: float | None = None
    # dedup, per stream: slot ``second % n`` holds the event-id digest applied at that second (0: none),
    # for the ``n`` seconds up to the stream's newest; more records in one second go to ``id_extra``
    wear_ids: array[int] = field(default_factory=lambda: array("H"))
    trip_ids: array[int] = field(default_factory=lambda: array("H"))
    id_extra: array[int] = field(default_factory=lambda: array("q"))  # pairs [second * 2 + stream, digest]
    tail: TripTail | None = field(default=None, repr=False, compare=False)  # derived: never stored, rebuilt on need
    # derived, never stored: window sums of the sealed trip rings (:func:`sealed_sums`), for ``sealed_upto`` in [0]
    sums: array[int] | None = field(default=None, repr=False, compare=False)
    wear_sums: array[int] | None = field(default=None, repr=False, compare=False)  # :func:`final_wear_sums`

    @classmethod
    def new(cls, rider_id: str) -> RiderState:
        """Empty state of one rider."""
        return cls(rider_id=rider_id)

    def scratch_copy(self) -> RiderState:
        """A copy to compute features on: buckets and trackers copied, the dedup slots shared (do not update them)."""
        out = RiderState.__new__(RiderState)
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, array) and not f.name.endswith(("_ids", "_extra")):  # tags and rows of the rings
                value = value[:]
            elif f.name == "pending":
                value = value.copy()
            elif f.name in ("wear_ids", "trip_ids", "id_extra"):
                pass  # features never touch dedup: share, do not copy
            elif f.name == "tail":
                value = None
            elif isinstance(value, (list, bytearray, set)):
                value = value.copy()
            object.__setattr__(out, f.name, value)
        return out

    def newest_ts(self) -> float | None:
        """Newest event time over both streams."""
        known = [t for t in (self.wearable_ts, self.trip_ts) if t is not None]
        return max(known) if known else None

    def trip_row(self, minute: int) -> Row | None:
        """The trip-minute row to seal into (see :class:`features.trip_time.TripSink`)."""
        return write_row(self.trip_tags, self.trip_rows, minute, TRIP_WIDTH)

    def brake_row(self, minute: int) -> Row | None:
        return write_row(self.brake_tags, self.brake_rows, minute, 1)

    def hour_row(self, hour: int) -> Row | None:
        return write_row(self.hour_tags, self.hour_rows, hour, 1)

    def day_row(self, day: int) -> Row | None:
        return write_row(self.day_tags, self.day_rows, day, DAY_WIDTH)

    def qualify(self, stop: int) -> None:
        """A stop qualified as sealing reached it: evaluate the previous one; the tail had it already."""
        qualify_stop(self, stop)
        tail = self.tail
        if tail is not None:
            if tail.stops and tail.stops[0] == stop:
                tail.stops.pop(0)
            else:
                self.tail = None  # not the stop the tail expected: rebuild it rather than trust it

    def to_dict(self) -> dict[str, Any]:
        """The changelog form (version 4): the strings and the stream clocks readable, everything else one packed
        blob (:mod:`features.state_codec`); only buckets that can still be read are kept."""
        wear_min = int(self.wearable_ts // 60) if self.wearable_ts is not None else 0  # each ring by its own clock
        trip_min = int(self.trip_ts // 60) if self.trip_ts is not None else 0
        ints = Ints()
        _put_ring(ints, self.wear_tags, self.wear_rows, wear_min - WEAR_READ_MINUTES)
        _put_ring(ints, self.hr10_tags, self.hr10_rows, wear_min * 6 - HR10_SLOTS)
        _put_ring(ints, self.trip_tags, self.trip_rows, trip_min - TRIP_READ_MINUTES)
        recent = trip_min - TRIP_READ_MINUTES  # the brakes of later minutes are in the trip rows above
        brakes = [(key, n) for key, n in ring_to_list(self.brake_tags, self.brake_rows, trip_min - BRAKE_SLOTS + 1)
                  if key < recent]
        ints.put(len(brakes))
        for key, n in brakes:
            ints.put(key)
            ints.put(n)
        _put_ring(ints, self.hour_tags, self.hour_rows, trip_min // 60 - HOUR_SLOTS)
        _put_ring(ints, self.day_tags, self.day_rows, trip_min // 1440 - DAY_SLOTS)
        secs, values = self.pending.packed()
        ints.put(len(secs))
        prev = 0
        for sec in secs:  # deltas: mostly 1
            ints.put(sec - prev)
            prev = sec
        ints.data.extend(values)
        for value in (self.sealed_upto, self.off_since, self.stop_candidate, self.stop_pending, self.folded_minute,
                      self.core_obs_minute, self.fall_base):
            ints.opt(value)
        ints.put(self.online_since_break_s)
        ints.put(int(self.prev_riding))
        ints.put(-1 if self.carry is None else 1)
        ints.data.extend(self.carry or ())
        for bits in (self.impact_bits, self.still_bits):
            ints.data.extend((bits >> (32 * i)) & 0xFFFFFFFF for i in range(_FALL_WORDS))
        ints.put(len(self.wear_ids))
        ints.put(len(self.trip_ids))
        ints.put(len(self.id_extra))
        ints.data.extend(self.id_extra)
        floats = [self.hr_recovery_bpm, self.hr_rest_bpm, self.core_temp_c, self.core_temp_var, self.fall_ts]
        return {"v": STATE_VERSION, "rider_id": self.rider_id, "zone_id": self.zone_id, "status": self.status,
                "wearable_ts": self.wearable_ts, "trip_ts": self.trip_ts,
                "b": pack(ints, floats, self.wear_ids + self.trip_ids)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RiderState:
        """Inverse of :meth:`to_dict`; also reads version 3 (4-byte digests) and versions 1 and 2 (JSON lists)."""
        if d.get("v") in (3, STATE_VERSION):
            return _from_packed(cls.new(d["rider_id"]), d)
        if d.get("v") == 1:
            d = _split_minutes(d)
        elif d.get("v") != 2:
            raise ValueError(f"rider state version {d.get('v')!r} is not one this worker reads (1, 2, 3 or "
                             f"{STATE_VERSION}): a newer riskstream wrote it; run that version or rebuild the state table")
        state = cls.new(d["rider_id"])
        recent = (int(d["trip_ts"] // 60) if d.get("trip_ts") is not None else 0) - TRIP_READ_MINUTES
        older = [*d.get("brakes", ()), *((key, row[BRAKES]) for key, *row in d["trip"] if key < recent and row[BRAKES])]
        d = {**d, "trip": [item for item in d["trip"] if item[0] >= recent]}  # 61 full minutes then
        for prefix, n, code in (("wear", WEAR_SLOTS, "q"), ("trip", TRIP_SLOTS, "q"), ("hr10", HR10_SLOTS, "q"),
                                ("hour", HOUR_SLOTS, SMALL), ("day", DAY_SLOTS, SMALL)):
            tags, rows = ring_from_list(n, d[prefix], code)
            setattr(state, prefix + "_tags", tags)
            setattr(state, prefix + "_rows", rows)
        _set_brakes(state, older)
        for f in fields(cls):
            name = f.name
            if name.endswith(("_tags", "_rows")) or name in ("rider_id", "tail", "brakes") or name not in d:
                continue
            value = d[name]
            if name == "pending":
                sec, pending = 0, PendingTrips()
                for delta, ms, *rest in value:
                    sec += delta
                    pending.merge(sec, [sec * 1000 + ms, *rest])
                value = pending
            elif name in ("impact_bits", "still_bits"):
                value = int(value, 16)
            setattr(state, name, value)
        # version 2's dedup ring ("seen", 6-byte blake2b digests) is not carried over: its ids are not per second
        return state


_FALL_WORDS = 8  # 32-bit words of a 256-bit fall bitmap


def _set_brakes(state: RiderState, older: Any) -> None:
    """The brake ring from ``(minute, brakes)`` of minutes before the trip rows', then the trip rows' own."""
    recent = ((key, row[BRAKES]) for key, *row in ring_to_list(state.trip_tags, state.trip_rows, EMPTY + 1))
    items = sorted([*((int(k), int(n)) for k, n in older), *recent])
    for key, n in items:
        row = state.brake_row(key)
        if row is not None:
            row[0] = n


def _put_ring(ints: Ints, tags: array[int], rows: array[int], oldest: int) -> None:
    """Buckets not older than ``oldest`` with any nonzero value: count, then key deltas and rows."""
    items = ring_to_list(tags, rows, oldest)
    ints.put(len(items))
    prev = 0
    for key, *row in items:
        ints.put(key - prev)
        ints.data.extend(row)
        prev = key


def _get_ring(ints: IntReader, n: int, width: int, typecode: str = "q") -> tuple[array[int], array[int]]:
    tags, rows = new_ring(n, typecode)
    key = 0
    for _ in range(ints.get()):
        key += ints.get()
        row = write_row(tags, rows, key, width)
        values = ints.take(width)
        if row is not None:
            row[:] = values if typecode == "q" else array(typecode, values)
    return tags, rows


def _from_packed(state: RiderState, d: dict[str, Any]) -> RiderState:
    ints, floats, slots = unpack(d["b"], d["v"])
    state.zone_id, state.status = d.get("zone_id"), d.get("status")
    state.wearable_ts, state.trip_ts = d.get("wearable_ts"), d.get("trip_ts")
    state.wear_tags, state.wear_rows = _get_ring(ints, WEAR_SLOTS, WEAR_WIDTH)
    state.hr10_tags, state.hr10_rows = _get_ring(ints, HR10_SLOTS, 2)
    state.trip_tags, state.trip_rows = _get_ring(ints, TRIP_SLOTS, TRIP_WIDTH)
    _set_brakes(state, [(ints.get(), ints.get()) for _ in range(ints.get())])
    state.hour_tags, state.hour_rows = _get_ring(ints, HOUR_SLOTS, 1, SMALL)
    state.day_tags, state.day_rows = _get_ring(ints, DAY_SLOTS, DAY_WIDTH, SMALL)
    n = ints.get()
    secs = ints.take(n)
    for i in range(1, n):
        secs[i] += secs[i - 1]
    state.pending = PendingTrips.from_packed(secs, ints.take(n))
    (state.sealed_upto, state.off_since, state.stop_candidate, state.stop_pending, state.folded_minute,
     state.core_obs_minute, state.fall_base) = (ints.opt() for _ in range(7))
    state.online_since_break_s = ints.get()
    state.prev_riding = bool(ints.get())
    state.carry = list(ints.take(4)) if ints.get() == 1 else None
    state.impact_bits, state.still_bits = (sum(w << (32 * i) for i, w in enumerate(ints.take(_FALL_WORDS)))
                                           for _ in range(2))
    n_wear, n_trip = ints.get(), ints.get()
    state.wear_ids, state.trip_ids = slots[:n_wear], slots[n_wear:n_wear + n_trip]
    state.id_extra = ints.take(ints.get())
    if slots.typecode != "H":  # version 3: 32-bit CRCs, cut to the 16-bit digests of :func:`_digest`
        state.wear_ids, state.trip_ids = (array("H", (_short(v) for v in ids)) for ids in (state.wear_ids, state.trip_ids))
        for i in range(1, len(state.id_extra), 2):
            state.id_extra[i] = _short(state.id_extra[i])
    state.hr_recovery_bpm, state.hr_rest_bpm, state.core_temp_c, core_temp_var, state.fall_ts = floats
    state.core_temp_var = 0.0 if core_temp_var is None else core_temp_var
    return state


def _split_minutes(d: dict[str, Any]) -> dict[str, Any]:
    """A version-1 state with its shared minute rows split into the wearable and trip rings of version 2."""
    out = {k: v for k, v in d.items() if k != "minute"}
    out["wear"] = [[key, *row[:WEAR_WIDTH]] for key, *row in d["minute"] if any(row[:WEAR_WIDTH])]
    out["trip"] = [[key, *row[WEAR_WIDTH:]] for key, *row in d["minute"] if any(row[WEAR_WIDTH:])]
    out["v"] = STATE_VERSION
    return out


WEAR_STREAM, TRIP_STREAM = 0, 1


def id_slots(cfg: FeatureConfig) -> int:
    """Dedup slots per stream: a power of two above the seconds a record can be late (128 for 120 s)."""
    return _slots_for(cfg.allowed_lateness_s)


@functools.lru_cache(maxsize=8)
def _slots_for(lateness_s: float) -> int:
    return 1 << (math.ceil(lateness_s) + 2).bit_length()


def _digest(event_id: str) -> int:
    """16 bits of the event id's CRC32 (0 is "no record", so 1 stands for it).

    Compared only with the digests of the same second and stream, and only for a record at or before its
    stream's newest (a record ahead of it is new without a look): a false duplicate needs such a record
    in a second that already holds another record, with the same 16 bits, 1 in 65,535 of those
    records. At 1 Hz a second holds one record, so it takes a second record in an applied second (a
    device sending two in one second, or one with a new id for a reading already sent), not a late or
    re-sent one. docs/scaling.md has the rate at fleet scale.

    >>> _digest("w1") == zlib.crc32(b"w1") & 0xFFFF
    True
    """
    return _short(zlib.crc32(event_id.encode()))


def _short(crc: int) -> int:
    """A stored 32-bit CRC as its 16-bit digest (version 3 kept the whole CRC)."""
    return (crc & 0xFFFF) or (1 if crc else 0)


def _admit(state: RiderState, ids: array[int], stream: int, event_id: str, ts: float, newest: float | None,
           cfg: FeatureConfig) -> UpdateResult | None:
    """None if the record is new and in time. A record ahead of its stream's newest is new: the same event
    id is the same record, so it has the same event time as the one applied before."""
    if newest is None or ts > newest:
        return None
    if ts < newest - cfg.allowed_lateness_s:
        return UpdateResult.TOO_LATE
    if ids:
        sec = int(ts // 1)
        digest = _digest(event_id)
        if ids[sec % len(ids)] == digest:
            return UpdateResult.DUPLICATE
        extra = state.id_extra
        tag = sec * 2 + stream
        for i in range(0, len(extra), 2):
            if extra[i] == tag and extra[i + 1] == digest:
                return UpdateResult.DUPLICATE
    return None


def _remember(state: RiderState, ids: array[int], stream: int, event_id: str, sec: int, newest: float | None,
              cfg: FeatureConfig) -> None:
    """Keep the digest of an applied record in its second's slot; ``newest`` is the stream's clock before it."""
    n = _slots_for(cfg.allowed_lateness_s)
    if len(ids) != n:  # first record, or the lateness setting changed: start the slots afresh
        ids[:] = array("H", bytes(2 * n))
    if newest is not None:
        last = int(newest // 1)
        if sec > last:  # the clock moves on: free the slots of the seconds it passes
            if sec - last == 1:
                ids[sec % n] = 0
            elif sec - last >= n:
                ids[:] = array("H", bytes(2 * n))
            else:
                for s in range(last + 1, sec + 1):
                    ids[s % n] = 0
            extra = state.id_extra
            if extra and extra[0] // 2 <= sec - n:
                keep = [v for i in range(0, len(extra), 2) if extra[i] // 2 > sec - n for v in extra[i:i + 2]]
                state.id_extra = array("q", keep)
    digest = _digest(event_id)
    i = sec % n
    if ids[i]:
        state.id_extra.extend((sec * 2 + stream, digest))
    else:
        ids[i] = digest


def update_wearable(state: RiderState, rec: Any, cfg: FeatureConfig) -> UpdateResult:
    """Apply one ``WearableReading`` (per-second summary) to the state."""
    ts = rec.ts.timestamp()
    newest = state.wearable_ts
    if newest is not None and ts <= newest:  # a record ahead of its stream is new and in time: no look needed
        result = _admit(state, state.wear_ids, WEAR_STREAM, rec.event_id, ts, newest, cfg)
        if result is not None:
            return result
    sec = int(ts // 1)
    rows = state.wear_rows
    b = write_at(state.wear_tags, rows, sec // 60, WEAR_WIDTH)  # fields of the row are rows[b + field]
    if b < 0:  # its minute already left the ring
        return UpdateResult.TOO_LATE
    _remember(state, state.wear_ids, WEAR_STREAM, rec.event_id, sec, state.wearable_ts, cfg)
    if rec.on_body:
        rows[b + ON_BODY_S] += 1
        peak = rec.accel_peak_g
        if peak is not None:
            peak_q = round(peak * G_SCALE)
            if peak_q > rows[b + IMPACT_MAX]:
                rows[b + IMPACT_MAX] = peak_q
        hr = rec.heart_rate_bpm
        if hr is not None:
            hr_q = round(hr * HR_SCALE)
            rows[b + HR_SUM] += hr_q
            rows[b + HR_N] += 1
            rows[b + VALID_S] += 1
            if hr_q > rows[b + HR_MAX]:
                rows[b + HR_MAX] = hr_q
            if hr > cfg.hr_high_fraction * cfg.default_hr_max_bpm:
                rows[b + HR_HIGH_S] += 1
            h = write_at(state.hr10_tags, state.hr10_rows, sec // 10, 2)
            if h >= 0:
                state.hr10_rows[h] += hr_q
                state.hr10_rows[h + 1] += 1
        if rec.skin_temp_c is not None:
            rows[b + SKIN_SUM] += round(rec.skin_temp_c * SKIN_SCALE)
            rows[b + SKIN_N] += 1
        # unknown acceleration is neither an impact nor stillness: a fall needs both seen (features/physiology.py)
        var, mean = rec.accel_var, rec.accel_mean_g
        still = var is not None and mean is not None and var < cfg.fall_stillness_var_g2 and abs(
            mean - 1.0) <= cfg.fall_stillness_mean_tol_g
        mark_fall_bits(state, sec, peak is not None and peak >= cfg.fall_impact_g, still, cfg)
    if newest is None or ts > newest:
        state.wearable_ts = ts
        final_minute = math.floor((ts - cfg.allowed_lateness_s) / 60.0) - 1
        if state.folded_minute is None or final_minute > state.folded_minute:
            fold_minutes(state, final_minute, cfg)
            state.wear_sums = final_wear_sums(state)
        if state.stop_pending is not None:
            settle_recovery(state, cfg, final=True)
    return UpdateResult.APPLIED


def update_trip(state: RiderState, rec: Any, cfg: FeatureConfig, *, zone_heat_index_c: float | None = None) -> UpdateResult:
    """Apply one ``TripPoint``; ``zone_heat_index_c`` is the heat index of its zone now (None if unknown).

    The heat index feeds ``heat_exposure_min_today``: the caller looks it up in the
    zone weather table (``features.weather.zone_heat_index_c``) because trips and
    weather arrive on different topics.
    """
    ts = rec.ts.timestamp()
    sealed_before = state.sealed_upto
    if state.trip_ts is not None and ts <= state.trip_ts:  # a record ahead of its stream is new and in time
        result = _admit(state, state.trip_ids, TRIP_STREAM, rec.event_id, ts, state.trip_ts, cfg)
        if result is not None:
            return result
    sec = int(ts // 1)
    if state.sealed_upto is not None and sec < state.sealed_upto:
        return UpdateResult.TOO_LATE
    _remember(state, state.trip_ids, TRIP_STREAM, rec.event_id, sec, state.trip_ts, cfg)
    status = rec.status.value if hasattr(rec.status, "value") else str(rec.status)
    entry = [round(ts * 1000), STATUS_CODE[status], round(rec.speed_kmh * SPEED_SCALE), trip_flags(rec, cfg, zone_heat_index_c)]
    if state.trip_ts is not None and ts - cfg.allowed_lateness_s > state.trip_ts:
        # a jump past the lateness: seal what waits first (as sealing after the merge would: this record's
        # second is not before it), so the waiting seconds never span more than the lateness; the tail
        # would walk the whole gap, so it is rebuilt when features need it
        state.tail = None
        seal_trip(state, sealable(ts, cfg), cfg)
    state.pending.merge(sec, entry)
    if state.trip_ts is None or ts >= state.trip_ts:
        state.trip_ts, state.zone_id, state.status = ts, rec.zone_id, status
    tail = state.tail
    if tail is None and state.sealed_upto is None and len(state.pending) == 1:
        # a rider's first trip record: start the tail now (one record to walk), so sealing adopts from the start
        # and the first feature call does not walk the minute before it
        state.tail = TripTail.build(state, cfg)
    elif tail is not None:
        if sec > tail.done if tail.done is not None else sec >= tail.cursor:
            tail.add([(sec, entry)], cfg)
        else:  # out of order, or a second merged with one the tail has walked: rebuild when features need it
            state.tail = None
    tail = state.tail  # walked to this record above, so sealing (120 s behind it) never passes it
    if tail is not None:
        tail.adopt(sealable(state.trip_ts, cfg), cfg)  # the records it walked are not walked again
        tail = state.tail
    else:
        seal_trip(state, sealable(state.trip_ts, cfg), cfg)
    if tail is not None and state.sealed_upto is not None and state.sealed_upto // 60 != tail.pruned_minute:
        tail.drop_sealed(state.sealed_upto, cfg)  # rows end on whole minutes: look once a minute
    if state.stop_pending is not None:
        settle_recovery(state, cfg, final=True)
    if state.sealed_upto != sealed_before:  # the sealed rings changed (once a minute): their window sums with them
        state.sums = sealed_sums(state)
    return UpdateResult.APPLIED


# Window sums of the sealed trip rings (:func:`features.ring.frozen_sums`), one block per ring:
# (offset in the array, fields, whole buckets before the newest, spare starts after the oldest).
TEN_MIN_FIELDS = (SPEEDING_S, EBIKE_S, PHONE_S, BRAKES, ACCELS, CORNERS)
SUM_SPARE = 4  # a window may start up to 4 buckets after the kept sums' oldest (a feature call is ~3 minutes ahead)
SUMS_TRIP = (1, TEN_MIN_FIELDS, 10, SUM_SPARE)
SUMS_BRAKES = (SUMS_TRIP[0] + 1 + 6 * (SUM_SPARE + 1), (0,), 60, SUM_SPARE)
SUMS_HOUR = (SUMS_BRAKES[0] + 1 + (SUM_SPARE + 1), (0,), 24, 2)
SUMS_DAY = (SUMS_HOUR[0] + 1 + 3, (DAY_ONLINE_S,), 7, 2)


WEAR_15_FIELDS = (HR_SUM, HR_N, HR_HIGH_S)
SUMS_WEAR = (1, WEAR_15_FIELDS, 15, SUM_SPARE)


def final_wear_sums(state: RiderState) -> array[int]:
    """``[folded_minute, *block]``: the 15-min window sums of the wearable minutes up to ``folded_minute``,
    which no record can change any more (they are older than the lateness); kept current by the updates."""
    top = state.folded_minute
    out = array("q", [NONE if top is None else top])
    if top is not None:
        out.extend(frozen_sums(state.wear_tags, state.wear_rows, WEAR_15_FIELDS, 15, SUM_SPARE, top))
    return out


def sealed_sums(state: RiderState) -> array[int]:
    """``[sealed_upto, *trip block, *brake block, *hour block, *day block]``: kept current by the updates, so
    a feature call reads its 10-min, 60-min, 24-h and 7-d windows without a pass over the rings. The sealed
    rings change only where ``sealed_upto`` moves on (once a minute), so that is the key of their validity."""
    out = array("q", [NONE if state.sealed_upto is None else state.sealed_upto])
    for tags, rows, (_, flds, whole, spare) in ((state.trip_tags, state.trip_rows, SUMS_TRIP),
                                                 (state.brake_tags, state.brake_rows, SUMS_BRAKES),
                                                 (state.hour_tags, state.hour_rows, SUMS_HOUR),
                                                 (state.day_tags, state.day_rows, SUMS_DAY)):
        out.extend(frozen_sums(tags, rows, flds, whole, spare))
    return out


__all__ = ["DAY_WIDTH", "RiderState", "UpdateResult", "update_trip", "update_wearable"]
