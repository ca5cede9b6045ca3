"""Delayed labels for the online learner: per-rider feature snapshots kept for the horizon.

A snapshot taken at ``t`` is *positive* for a target when an incident of that target's
kind happens in ``(t, t + horizon]``; a snapshot that ages past the horizon (plus an
optional grace for late-reported incidents) with no incident is a *negative*. Accident =
``crash`` (:data:`streams.schemas.ACCIDENT_KINDS`); injury = fall, heat illness, exhaustion.

State per rider is bounded: at most one snapshot per ``snapshot_every_s``, so at most
``ceil((horizon + grace) / snapshot_every_s)`` of them, kept as plain lists and dicts so
the worker can store them in its changelogged rider state (:meth:`LabelBuffer.to_dict`).

>>> buf = LabelBuffer(horizon_min=60, snapshot_every_s=300)
>>> for k in range(4):
...     _ = buf.add_snapshot("r1", 1000.0 + 300 * k, {"heat_index_c": 30.0 + k})
>>> len(buf.add_snapshot("r1", 1100.0, {"heat_index_c": 99.0}))  # within 5 min of the last: ignored
0
>>> [(x["heat_index_c"], inj, acc) for x, inj, acc in buf.on_incident("r1", 1800.0, "crash")]
[(30.0, False, True), (31.0, False, True), (32.0, False, True)]
>>> [(x["heat_index_c"], inj, acc) for x, inj, acc in buf.expire(1900.0 + 3601)]
[(33.0, False, False)]
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Mapping

from streams.schemas import ACCIDENT_KINDS, IncidentKind

Example = tuple[dict[str, float | None], bool, bool]


def _epoch(ts: float | datetime) -> float:
    return ts.timestamp() if isinstance(ts, datetime) else float(ts)


def _plain(x: Mapping[str, Any]) -> dict[str, float | None]:
    """A JSON-friendly copy: floats, with ``None`` for missing or non-finite values."""
    out: dict[str, float | None] = {}
    for k, v in x.items():
        try:
            f = float(v) if v is not None else math.nan
        except (TypeError, ValueError):
            continue
        out[str(k)] = f if math.isfinite(f) else None
    return out


def is_accident(kind: IncidentKind | str) -> bool:
    """True for incident kinds that label the accident target (a crash)."""
    return IncidentKind(kind) in ACCIDENT_KINDS


class LabelBuffer:
    """Bounded per-rider snapshots awaiting their label (see the module docstring)."""

    def __init__(self, horizon_min: float = 60, snapshot_every_s: float = 300, grace_s: float = 0.0) -> None:
        self.horizon_s = float(horizon_min) * 60.0
        self.snapshot_every_s = float(snapshot_every_s)
        self.grace_s = float(grace_s)
        self._riders: dict[str, dict[str, list[Any]]] = {}

    @property
    def max_per_rider(self) -> int:
        """The bound on snapshots kept per rider."""
        return math.ceil((self.horizon_s + self.grace_s) / self.snapshot_every_s) + 1

    def __len__(self) -> int:
        return sum(len(s["ts"]) for s in self._riders.values())

    def riders(self) -> list[str]:
        return list(self._riders)

    def add_snapshot(self, rider_id: str, ts: float | datetime, x: Mapping[str, Any]) -> list[Example]:
        """Keep a copy of ``x`` if the rider's last snapshot is ≥ ``snapshot_every_s`` older.

        Returns the rider's snapshots that aged out (negatives), so nothing is dropped unlearned.
        """
        t = _epoch(ts)
        snaps = self._riders.setdefault(rider_id, {"ts": [], "x": []})
        if snaps["ts"] and t - snaps["ts"][-1] < self.snapshot_every_s:
            return []
        aged = self._expire_rider(rider_id, t)
        snaps = self._riders.setdefault(rider_id, {"ts": [], "x": []})
        snaps["ts"].append(t)
        snaps["x"].append(_plain(x))
        while len(snaps["ts"]) > self.max_per_rider:  # only if snapshot_every_s was changed at runtime
            snaps["ts"].pop(0)
            aged.append((snaps["x"].pop(0), False, False))
        return aged

    def on_incident(self, rider_id: str, ts: float | datetime, kind: IncidentKind | str) -> list[Example]:
        """Label the rider's snapshots in ``[ts - horizon, ts)`` positive for the incident's target.

        They leave the buffer (learned once); the other target is labelled negative for them.
        """
        t = _epoch(ts)
        accident = is_accident(kind)
        snaps = self._riders.get(rider_id)
        if not snaps:
            return []
        out: list[Example] = []
        keep_ts, keep_x = [], []
        for st, x in zip(snaps["ts"], snaps["x"]):
            if st < t and t - st <= self.horizon_s:
                out.append((x, not accident, accident))
            else:
                keep_ts.append(st)
                keep_x.append(x)
        snaps["ts"], snaps["x"] = keep_ts, keep_x
        return out

    def _expire_rider(self, rider_id: str, now: float) -> list[Example]:
        snaps = self._riders.get(rider_id)
        if not snaps:
            return []
        cutoff = now - self.horizon_s - self.grace_s
        n = 0
        while n < len(snaps["ts"]) and snaps["ts"][n] < cutoff:
            n += 1
        out = [(x, False, False) for x in snaps["x"][:n]]
        del snaps["ts"][:n], snaps["x"][:n]
        if not snaps["ts"]:
            del self._riders[rider_id]
        return out

    def expire(self, now_or_rider: float | datetime | str, now: float | datetime | None = None) -> list[Example]:
        """Snapshots older than horizon (+ grace) with no incident, as negatives.

        ``expire(now)`` sweeps every rider; ``expire(rider_id, now)`` only that rider (O(1) per call).
        """
        if isinstance(now_or_rider, str):
            if now is None:
                raise TypeError("expire(rider_id, now) needs the time")
            return self._expire_rider(now_or_rider, _epoch(now))
        t = _epoch(now_or_rider)
        return [ex for rid in list(self._riders) for ex in self._expire_rider(rid, t)]

    def to_dict(self, rider_id: str) -> dict[str, list[Any]]:
        """The rider's snapshots as plain JSON-serialisable lists (``{"ts": [...], "x": [...]}``)."""
        snaps = self._riders.get(rider_id, {"ts": [], "x": []})
        return {"ts": list(snaps["ts"]), "x": [dict(x) for x in snaps["x"]]}

    rider_dict = to_dict  # the worker's name for it

    def from_dict(self, rider_id: str, data: Mapping[str, list[Any]]) -> None:
        """Restore one rider's snapshots from :meth:`to_dict` output (replacing what was there)."""
        ts = [float(t) for t in data.get("ts", [])]
        xs = [_plain(x) for x in data.get("x", [])]
        if len(ts) != len(xs):
            raise ValueError("snapshot lists 'ts' and 'x' differ in length")
        if ts:
            self._riders[rider_id] = {"ts": ts[-self.max_per_rider :], "x": xs[-self.max_per_rider :]}
        else:
            self._riders.pop(rider_id, None)

    load_rider = from_dict  # the worker's name for it
