"""Bounded per-rider state and its two update functions (wearable, trip), in event time.

State is fixed rings of buckets (61 minutes per stream, 32 ten-second HR buckets, 25 hours,
8 days), a few scalars, a 256-s fall bitmap, trip records still inside the allowed
lateness, and a ring of the last 512 event-id digests. Nothing grows with the number
of events or the length of a window.

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

import base64
import enum
import hashlib
import math
from array import array
from dataclasses import dataclass, field, fields
from typing import Any

from features.config import FeatureConfig
from features.physiology import fold_minutes, mark_fall_bits, qualify_stop, settle_recovery
from features.ring import (
    Row,
    BRAKES, DAY_SLOTS, DAY_WIDTH, G_SCALE, HOUR_SLOTS, HR10_SLOTS, HR_HIGH_S, HR_MAX, HR_N, HR_SCALE, HR_SUM,
    IMPACT_MAX, MINUTE_SLOTS, ON_BODY_S, SKIN_N, SKIN_SCALE, SKIN_SUM, SPEED_SCALE, TRIP_WIDTH, VALID_S,
    WEAR_WIDTH,
    new_ring, ring_from_list, ring_to_list, write_row,
)
from features.trip_tail import TripTail
from features.pending import PendingTrips
from features.trip_time import STATUS_CODE, seal_trip, trip_flags

SEEN_IDS = 512  # event-id digests kept for dedup: > 2 streams x 1 Hz x the 120 s lateness
_DIGEST = 6  # bytes of blake2b per id: a false duplicate has probability ~512/2**48 per event
STATE_VERSION = 2  # 2: one minute ring per stream (1: one shared ring, still read)
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


def _rows(n: int) -> Any:
    return field(default_factory=lambda: new_ring(n)[1])


@dataclass(slots=True)
class RiderState:
    """Everything the features of one rider need; see the module docstring for the bounds."""

    rider_id: str
    wear_tags: array[int] = _ring(MINUTE_SLOTS)  # wearable minutes
    wear_rows: array[int] = _rows(MINUTE_SLOTS)
    trip_tags: array[int] = _ring(MINUTE_SLOTS)  # trip minutes, written as trip seconds are sealed
    trip_rows: array[int] = _rows(MINUTE_SLOTS)
    hr10_tags: array[int] = _ring(HR10_SLOTS)
    hr10_rows: array[int] = _rows(HR10_SLOTS)
    hour_tags: array[int] = _ring(HOUR_SLOTS)
    hour_rows: array[int] = _rows(HOUR_SLOTS)
    day_tags: array[int] = _ring(DAY_SLOTS)
    day_rows: array[int] = _rows(DAY_SLOTS)
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
    seen: bytearray = field(default_factory=bytearray)  # ring of 6-byte digests, searched in C
    seen_pos: int = 0
    tail: TripTail | None = field(default=None, repr=False, compare=False)  # derived: never stored, rebuilt on need

    @classmethod
    def new(cls, rider_id: str) -> RiderState:
        """Empty state of one rider."""
        return cls(rider_id=rider_id)

    def scratch_copy(self) -> RiderState:
        """A copy to compute features on: buckets and trackers copied, the dedup ring shared (do not update it)."""
        out = RiderState.__new__(RiderState)
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, array):  # tags and rows of the rings
                value = value[:]
            elif f.name == "pending":
                value = value.copy()
            elif f.name == "seen":
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
        """Compact JSON-safe form for the changelog; only buckets that can still be read are kept."""
        wear_min = int(self.wearable_ts // 60) if self.wearable_ts is not None else 0  # each ring by its own clock
        trip_min = int(self.trip_ts // 60) if self.trip_ts is not None else 0
        d: dict[str, Any] = {"v": STATE_VERSION}
        for f in fields(self):
            name, value = f.name, getattr(self, f.name)
            if name.endswith("_tags") or name == "tail":
                continue
            if name.endswith("_rows"):
                prefix = name[: -len("_rows")]
                oldest = {"wear": wear_min - WEAR_READ_MINUTES, "hr10": wear_min * 6 - HR10_SLOTS,
                          "trip": trip_min - MINUTE_SLOTS + 1, "hour": trip_min // 60 - HOUR_SLOTS,
                          "day": trip_min // 1440 - DAY_SLOTS}[prefix]
                d[prefix] = ring_to_list(getattr(self, prefix + "_tags"), value, oldest)
                if prefix == "trip":  # minutes past the 10-min windows are read for harsh_brakes_60m only
                    recent = trip_min - TRIP_READ_MINUTES
                    d["brakes"] = [[key, row[BRAKES]] for key, *row in d[prefix] if key < recent and row[BRAKES]]
                    d[prefix] = [item for item in d[prefix] if item[0] >= recent]
            elif name == "pending":  # delta-encoded seconds, ms within the second
                prev, items = 0, []
                for k, (ts_ms, *rest) in value.items():
                    items.append([k - prev, ts_ms - k * 1000, *rest])
                    prev = k
                d[name] = items
            elif name in ("impact_bits", "still_bits"):
                d[name] = format(value, "x")
            elif name == "seen":
                d[name] = base64.b64encode(bytes(value)).decode("ascii")
            else:
                d[name] = value
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RiderState:
        """Inverse of :meth:`to_dict`; also reads version 1 (one minute ring shared by both streams)."""
        if d.get("v") == 1:
            d = _split_minutes(d)
        elif d.get("v") != STATE_VERSION:
            raise ValueError(f"rider state version {d.get('v')!r} is not one this worker reads (1 or "
                             f"{STATE_VERSION}): a newer riskstream wrote it; run that version or rebuild the state table")
        state = cls.new(d["rider_id"])
        for prefix, n in (("wear", MINUTE_SLOTS), ("trip", MINUTE_SLOTS), ("hr10", HR10_SLOTS), ("hour", HOUR_SLOTS),
                          ("day", DAY_SLOTS)):
            tags, rows = ring_from_list(n, d[prefix])
            setattr(state, prefix + "_tags", tags)
            setattr(state, prefix + "_rows", rows)
        for key, brakes in d.get("brakes", ()):
            row = state.trip_row(key)
            if row is not None:
                row[BRAKES] = brakes
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
            elif name == "seen":
                value = bytearray(base64.b64decode(value))
            setattr(state, name, value)
        return state


def _split_minutes(d: dict[str, Any]) -> dict[str, Any]:
    """A version-1 state with its shared minute rows split into the wearable and trip rings of version 2."""
    out = {k: v for k, v in d.items() if k != "minute"}
    out["wear"] = [[key, *row[:WEAR_WIDTH]] for key, *row in d["minute"] if any(row[:WEAR_WIDTH])]
    out["trip"] = [[key, *row[WEAR_WIDTH:]] for key, *row in d["minute"] if any(row[WEAR_WIDTH:])]
    out["v"] = STATE_VERSION
    return out


def _admit(state: RiderState, stream: str, event_id: str, ts: float, newest: float | None,
           cfg: FeatureConfig) -> tuple[UpdateResult | None, bytes]:
    digest = hashlib.blake2b(f"{stream}:{event_id}".encode(), digest_size=_DIGEST).digest()
    if _seen(state.seen, digest):
        return UpdateResult.DUPLICATE, digest
    if newest is not None and ts < newest - cfg.allowed_lateness_s:
        return UpdateResult.TOO_LATE, digest
    return None, digest


def _seen(ring: bytearray, digest: bytes) -> bool:
    i = ring.find(digest)
    while i >= 0:
        if i % _DIGEST == 0:  # only whole digests count, not a match straddling two
            return True
        i = ring.find(digest, i + 1)
    return False


def _remember(state: RiderState, digest: bytes) -> None:
    start = state.seen_pos * _DIGEST
    if len(state.seen) < SEEN_IDS * _DIGEST:
        state.seen += digest
    else:
        state.seen[start:start + _DIGEST] = digest
    state.seen_pos = (state.seen_pos + 1) % SEEN_IDS


def update_wearable(state: RiderState, rec: Any, cfg: FeatureConfig) -> UpdateResult:
    """Apply one ``WearableReading`` (per-second summary) to the state."""
    ts = rec.ts.timestamp()
    result, digest = _admit(state, "w", rec.event_id, ts, state.wearable_ts, cfg)
    if result is not None:
        return result
    sec = int(ts // 1)
    row = write_row(state.wear_tags, state.wear_rows, sec // 60, WEAR_WIDTH)
    if row is None:  # its minute already left the ring
        return UpdateResult.TOO_LATE
    _remember(state, digest)
    if rec.on_body:
        row[ON_BODY_S] += 1
        peak = rec.accel_peak_g
        if peak is not None:
            row[IMPACT_MAX] = max(row[IMPACT_MAX], round(peak * G_SCALE))
        hr = rec.heart_rate_bpm
        if hr is not None:
            hr_q = round(hr * HR_SCALE)
            row[HR_SUM] += hr_q
            row[HR_N] += 1
            row[VALID_S] += 1
            row[HR_MAX] = max(row[HR_MAX], hr_q)
            if hr > cfg.hr_high_fraction * cfg.default_hr_max_bpm:
                row[HR_HIGH_S] += 1
            hr10 = write_row(state.hr10_tags, state.hr10_rows, sec // 10, 2)
            if hr10 is not None:
                hr10[0] += hr_q
                hr10[1] += 1
        if rec.skin_temp_c is not None:
            row[SKIN_SUM] += round(rec.skin_temp_c * SKIN_SCALE)
            row[SKIN_N] += 1
        # unknown acceleration is neither an impact nor stillness: a fall needs both seen (features/physiology.py)
        var, mean = rec.accel_var, rec.accel_mean_g
        still = var is not None and mean is not None and var < cfg.fall_stillness_var_g2 and abs(
            mean - 1.0) <= cfg.fall_stillness_mean_tol_g
        mark_fall_bits(state, sec, peak is not None and peak >= cfg.fall_impact_g, still, cfg)
    if state.wearable_ts is None or ts > state.wearable_ts:
        state.wearable_ts = ts
        final_minute = math.floor((ts - cfg.allowed_lateness_s) / 60.0) - 1
        if state.folded_minute is None or final_minute > state.folded_minute:
            fold_minutes(state, final_minute, cfg)
        settle_recovery(state, cfg, final=True)
    return UpdateResult.APPLIED


def update_trip(state: RiderState, rec: Any, cfg: FeatureConfig, *, zone_heat_index_c: float | None = None) -> UpdateResult:
    """Apply one ``TripPoint``; ``zone_heat_index_c`` is the heat index of its zone now (None if unknown).

    The heat index feeds ``heat_exposure_min_today``: the caller looks it up in the
    zone weather table (``features.weather.zone_heat_index_c``) because trips and
    weather arrive on different topics.
    """
    ts = rec.ts.timestamp()
    result, digest = _admit(state, "t", rec.event_id, ts, state.trip_ts, cfg)
    if result is not None:
        return result
    sec = int(ts // 1)
    if state.sealed_upto is not None and sec < state.sealed_upto:
        return UpdateResult.TOO_LATE
    _remember(state, digest)
    status = rec.status.value if hasattr(rec.status, "value") else str(rec.status)
    entry = [round(ts * 1000), STATUS_CODE[status], round(rec.speed_kmh * SPEED_SCALE), trip_flags(rec, cfg, zone_heat_index_c)]
    state.pending.merge(sec, entry)
    if state.trip_ts is None or ts >= state.trip_ts:
        state.trip_ts, state.zone_id, state.status = ts, rec.zone_id, status
    tail = state.tail
    if tail is not None:
        if sec > tail.done if tail.done is not None else sec >= tail.cursor:
            tail.add([(sec, entry)], cfg)
        else:  # out of order, or a second merged with one the tail has walked: rebuild when features need it
            state.tail = None
    seal_trip(state, math.floor(state.trip_ts - cfg.allowed_lateness_s), cfg)
    tail = state.tail  # walked to this record above, so sealing (120 s behind it) never passes it
    if tail is not None and state.sealed_upto is not None and state.sealed_upto // 60 != tail.pruned_minute:
        tail.drop_sealed(state.sealed_upto, cfg)  # rows end on whole minutes: look once a minute
    settle_recovery(state, cfg, final=True)
    return UpdateResult.APPLIED


__all__ = ["DAY_WIDTH", "RiderState", "UpdateResult", "update_trip", "update_wearable"]
