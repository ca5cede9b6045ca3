"""Delayed labels for the online learner: per-rider feature snapshots kept for the horizon.

A snapshot taken at ``t`` is *positive* for a target when an incident of that target's
kind happens in ``(t, t + horizon]``. Every snapshot, positive or not, is released (learned)
once it is older than the horizon plus a *grace* for late reports
(:attr:`LabelBuffer.grace_s`, the longest delay between an incident and its report that is
still counted). An incident report only *marks* the snapshots it labels.

Releasing positives at the same age as negatives matters: a learner fed positives as soon
as they are reported and negatives an hour later sees a positive-rich stream whenever
incidents cluster, learns too high a rate, and scores better than it is on the examples it
is judged on (the paired edge of :mod:`models.online`). With one release age, the labelled
stream is the snapshot stream delayed by ``horizon + grace``, in the same order.

State per rider is bounded: at most one snapshot per ``snapshot_every_s``, so at most
``ceil((horizon + grace) / snapshot_every_s) + 1`` of them, kept as plain lists and dicts so
the worker can store them in its changelogged rider state (:meth:`LabelBuffer.to_dict`).
A rider who goes silent (often after a crash) keeps snapshots until :meth:`LabelBuffer.sweep`
is called with a later time; the worker and the drift replay call :meth:`LabelBuffer.sweep_due`
with the stream's event time, which sweeps once per ``snapshot_every_s`` of it.

>>> buf = LabelBuffer(horizon_min=60, snapshot_every_s=300, grace_s=0)
>>> for k in range(4):
...     _ = buf.add_snapshot("r1", 1000.0 + 300 * k, {"heat_index_c": 30.0 + k})
>>> len(buf.add_snapshot("r1", 1100.0, {"heat_index_c": 99.0}))  # within 5 min of the last: ignored
0
>>> buf.on_incident("r1", 1800.0, "crash")  # marks the snapshots at 1000, 1300 and 1600
Marked(labelled=3, too_late=False)
>>> [(x["heat_index_c"], inj, acc) for x, inj, acc in buf.expire(1900.0 + 3601)]
[(30.0, False, True), (31.0, False, True), (32.0, False, True), (33.0, False, False)]
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Mapping, NamedTuple

from riskstream.contracts.records import ACCIDENT_KINDS, IncidentKind

Example = tuple[dict[str, float | None], bool, bool]
#: Default grace for late incident reports: the simulator reports within 20 min; claims filed
#: later than this are counted as too late (:attr:`Marked.too_late`) rather than held for.
DEFAULT_GRACE_S = 1800.0


class Marked(NamedTuple):
    """What an incident report did: snapshots marked positive; whether some in its window were learned unmarked."""

    labelled: int
    too_late: bool


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

    def __init__(self, horizon_min: float = 60, snapshot_every_s: float = 300,
                 grace_s: float = DEFAULT_GRACE_S) -> None:
        self.horizon_s = float(horizon_min) * 60.0
        self.snapshot_every_s = float(snapshot_every_s)
        self.grace_s = float(grace_s)
        # per rider: parallel lists of snapshot times, features, and [injury, accident] marks
        self._riders: dict[str, dict[str, list[Any]]] = {}
        # per rider: the newest time up to which snapshots were released (a report for an incident
        # before it comes too late for some of them)
        self._released_until: dict[str, float] = {}
        self._watermark = -math.inf  # newest time given to sweep_due, and when it last swept
        self._last_sweep = -math.inf

    @property
    def max_per_rider(self) -> int:
        """The bound on snapshots kept per rider."""
        return math.ceil((self.horizon_s + self.grace_s) / self.snapshot_every_s) + 1

    def __len__(self) -> int:
        return sum(len(s["ts"]) for s in self._riders.values())

    def riders(self) -> list[str]:
        return list(self._riders)

    def _new(self, rider_id: str) -> dict[str, list[Any]]:
        return self._riders.setdefault(rider_id, {"ts": [], "x": [], "y": []})

    def add_snapshot(self, rider_id: str, ts: float | datetime, x: Mapping[str, Any]) -> list[Example]:
        """Keep a copy of ``x`` if the rider's last snapshot is ≥ ``snapshot_every_s`` older.

        Returns the rider's snapshots that aged out (with their labels), so nothing is dropped unlearned.
        """
        t = _epoch(ts)
        snaps = self._riders.get(rider_id)
        if snaps and snaps["ts"] and t - snaps["ts"][-1] < self.snapshot_every_s:
            return []
        aged = self._expire_rider(rider_id, t)
        snaps = self._new(rider_id)
        snaps["ts"].append(t)
        snaps["x"].append(_plain(x))
        snaps["y"].append([False, False])
        while len(snaps["ts"]) > self.max_per_rider:  # only if snapshot_every_s was changed at runtime
            aged.append(self._pop_oldest(rider_id, snaps))
        return aged

    def on_incident(self, rider_id: str, ts: float | datetime, kind: IncidentKind | str) -> Marked:
        """Mark the rider's snapshots in ``[ts - horizon, ts)`` positive for the incident's target.

        They stay in the buffer and are learned when they age out, like every snapshot.
        ``too_late`` says snapshots in that window may already have been learned unmarked (the
        report came later than the grace allows; they stay learned as negatives).
        """
        t = _epoch(ts)
        k = 1 if is_accident(kind) else 0
        labelled = 0
        snaps = self._riders.get(rider_id)
        for st, y in zip(snaps["ts"], snaps["y"]) if snaps else ():
            if st < t and t - st <= self.horizon_s:
                labelled += not y[k]
                y[k] = True
        too_late = self._released_until.get(rider_id, -math.inf) >= t - self.horizon_s
        return Marked(labelled, too_late)

    def _pop_oldest(self, rider_id: str, snaps: dict[str, list[Any]]) -> Example:
        ts = snaps["ts"].pop(0)
        y = snaps["y"].pop(0)
        self._released_until[rider_id] = ts  # a rider's snapshots are in time order
        return snaps["x"].pop(0), bool(y[0]), bool(y[1])

    def _expire_rider(self, rider_id: str, now: float) -> list[Example]:
        snaps = self._riders.get(rider_id)
        if not snaps:
            return []
        cutoff = now - self.horizon_s - self.grace_s
        out = []
        while snaps["ts"] and snaps["ts"][0] < cutoff:
            out.append(self._pop_oldest(rider_id, snaps))
        if not snaps["ts"]:
            del self._riders[rider_id]
        return out

    def expire(self, now_or_rider: float | datetime | str, now: float | datetime | None = None) -> list[Example]:
        """Snapshots older than horizon + grace, with their labels.

        ``expire(now)`` sweeps every rider; ``expire(rider_id, now)`` only that rider (O(1) per call).
        """
        if isinstance(now_or_rider, str):
            if now is None:
                raise TypeError("expire(rider_id, now) needs the time")
            return self._expire_rider(now_or_rider, _epoch(now))
        return [ex for examples in self.sweep(now_or_rider).values() for ex in examples]

    def sweep_due(self, now: float | datetime) -> dict[str, list[Example]]:
        """:meth:`sweep` at the newest time seen so far, once per ``snapshot_every_s`` of it; else nothing.

        The caller hands in the stream's event time as it goes (it may step back: the newest is kept).
        """
        self._watermark = max(self._watermark, _epoch(now))
        if self._watermark - self._last_sweep < self.snapshot_every_s:
            return {}
        self._last_sweep = self._watermark
        return self.sweep(self._watermark)

    def clear(self) -> None:
        """Forget every rider (their snapshots live on in the stored rider state); the sweep clock stays."""
        self._riders.clear()
        self._released_until.clear()

    def sweep(self, now: float | datetime) -> dict[str, list[Example]]:
        """Every rider's snapshots older than horizon + grace at ``now``, by rider (riders with none left out)."""
        t = _epoch(now)
        out = {}
        for rid in list(self._riders):
            examples = self._expire_rider(rid, t)
            if examples:
                out[rid] = examples
        return out

    def to_dict(self, rider_id: str) -> dict[str, Any]:
        """The rider's snapshots as plain JSON-serialisable data (``{"ts", "x", "y", "released_until"}``)."""
        snaps = self._riders.get(rider_id, {"ts": [], "x": [], "y": []})
        out: dict[str, Any] = {"ts": list(snaps["ts"]), "x": [dict(x) for x in snaps["x"]],
                               "y": [list(y) for y in snaps["y"]]}
        released = self._released_until.get(rider_id)
        if released is not None:
            out["released_until"] = released
        return out

    rider_dict = to_dict  # the worker's name for it

    def from_dict(self, rider_id: str, data: Mapping[str, Any]) -> None:
        """Restore one rider's snapshots from :meth:`to_dict` output (replacing what was there).

        State written before marks were kept (no ``"y"``) restores as unmarked snapshots.
        """
        ts = [float(t) for t in data.get("ts", [])]
        xs = [_plain(x) for x in data.get("x", [])]
        ys = [[bool(a), bool(b)] for a, b in data.get("y", [[False, False]] * len(ts))]
        if not len(ts) == len(xs) == len(ys):
            raise ValueError("snapshot lists 'ts', 'x' and 'y' differ in length")
        if data.get("released_until") is not None:
            self._released_until[rider_id] = float(data["released_until"])
        else:
            self._released_until.pop(rider_id, None)
        n = self.max_per_rider
        if ts:
            self._riders[rider_id] = {"ts": ts[-n:], "x": xs[-n:], "y": ys[-n:]}
        else:
            self._riders.pop(rider_id, None)

    load_rider = from_dict  # the worker's name for it
