"""What the processor exchanges with its driver, what it keeps per rider, and one batch's working values."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from alerts import AlertState, PremiumState, Revisions
from features import RiderState
from riskstream.contracts.records import AuditRecord
from streams import metrics

Output = tuple[str, str, bytes]  # (topic role, key, value)
ONLINE_STATUSES = frozenset({"riding", "waiting"})


@dataclass(frozen=True, slots=True)
class RawRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: float | None  # Kafka record timestamp, seconds
    index: int | None = None  # position in its envelope; None: a single record
    decoded: Any = field(default=None, compare=False, repr=False)  # an envelope's record, decoded (value: None)

    def payload(self) -> bytes | None:
        """The record's bytes: its value, or an envelope's record encoded again (for a dead letter's excerpt)."""
        if self.index is None or self.decoded is None:
            return self.value
        return json.dumps(self.decoded, ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_event(cls, event: Any) -> RawRecord:
        msg = event.message
        return cls(msg.topic, msg.partition, msg.offset, event.key, event.value, msg.timestamp)


@dataclass(slots=True)
class BatchResult:
    outputs: list[Output] = field(default_factory=list)
    states: dict[str, Any] = field(default_factory=dict)  # rider id -> state for the rider table (None: delete)

    def audit(self, rider_id: str, record: AuditRecord) -> None:
        """Add the audit record of one decision, counted by decision type."""
        self.outputs.append(("audit", rider_id, record.model_dump_json().encode()))
        metrics.AUDIT_RECORDS.labels(decision_type=record.decision_type).inc()


@dataclass(slots=True)
class ScorePoint:
    """One rider's features at one event time, waiting for the batch's model call and then its decisions.

    ``online`` is the rider's trip status at ``now`` (riding or waiting); ``stale`` says the zone's
    weather at ``now`` is stale or unknown (the decisions carry WEATHER_STALE); ``floor`` is the row
    with the zone's last known weather as current, scored too so that stale weather never lowers risk.
    """

    rider_id: str
    now: float
    row: dict[str, float]
    online: bool
    stale: bool = False
    floor: dict[str, float] | None = None


@dataclass(slots=True)
class Batch:
    """One batch's working values, passed down as the first argument (never kept on the processor).

    >>> batch = Batch()
    >>> batch.touch("r1", 10.0); batch.touch("r1", 5.0); batch.touched
    {'r1': 10.0}
    """

    result: BatchResult = field(default_factory=BatchResult)
    touched: dict[str, float] = field(default_factory=dict)  # rider id -> newest event time: state to write
    urgent: set[str] = field(default_factory=set)  # riders with a fall flagged since their last score point
    points: list[ScorePoint] = field(default_factory=list)  # in event-time order, not scored yet
    pointed: set[str] = field(default_factory=set)  # riders with a point in ``points``
    falls: set[str] = field(default_factory=set)  # riders whose point in ``points`` is a newly flagged fall
    lateness: list[float] = field(default_factory=list)  # event lateness of each applied record, observed once

    def touch(self, rider_id: str, newest: float) -> None:
        """The rider's state changed; ``newest`` is its newest event time (the scoring clock)."""
        self.touched[rider_id] = max(self.touched.get(rider_id, -math.inf), newest)


@dataclass(slots=True)
class RiderSlot:
    """Everything the worker keeps per rider; bounded, and JSON-safe through ``to_dict``.

    One owner per fact: the premium state owns the last premium update's time and band
    (``premium.last_period_end``, ``premium.last_band``) and the model host's
    :class:`models.LabelBuffer` owns the rider's pending labels (``labels`` in the stored state, see
    :meth:`streams.processor.Processor.stored_state`). Keys of older stored states that now have
    another owner (``last_premium``, ``band``) are ignored when read.
    """

    features: RiderState
    alerts: AlertState
    premium: PremiumState
    last_scored: float = -math.inf
    last_snapshot: float = -math.inf
    pending: dict[str, Any] | None = None  # an unanswered "Are you OK?": alert_id, asked_at, asked_wall
    last_risk: list[float] | None = None  # [injury, accident] of the latest score
    held: dict[str, Any] = field(default_factory=dict)  # stream -> a record ahead of it, until confirmed
    # [zone id, ts of its observation] the rider's last score used: a material change from it scores the rider
    weather_at: list[Any] | None = None
    revisions: Revisions = field(default_factory=Revisions)  # tells apart records at the same event time
    # input role -> outcome (applied, duplicate, too_late) -> records: what this state has absorbed,
    # changelogged with it, so `riskstream reconcile` can check exactly-once across crashes
    records: dict[str, dict[str, int]] = field(default_factory=dict)
    # input role -> [partition, offset] of the newest record this state absorbed: a record read again
    # after a crash (its offset was not committed, its effect was) is recognised by offset, not only by id
    offsets: dict[str, list[int]] = field(default_factory=dict)

    def count(self, role: str, outcome: str) -> None:
        """Count one input record of ``role`` (wearable, trip, incidents, responses) with its ``outcome``."""
        by_outcome = self.records.setdefault(role, {})
        by_outcome[outcome] = by_outcome.get(outcome, 0) + 1

    def absorb(self, role: str, partition: int, offset: int, index: int | None = None) -> bool:
        """Note an input record's position; False if this state has absorbed it already (a replay).

        ``index`` is a record's position in its envelope: records of one message share its offset and are
        told apart by it; a position without one is a whole message.

        >>> slot = RiderSlot.new("r1")
        >>> slot.absorb("trip", 2, 10), slot.absorb("trip", 2, 10), slot.absorb("trip", 2, 11)
        (True, False, True)
        >>> slot.absorb("trip", 3, 5)  # another partition (the topic was repartitioned): offsets do not compare
        True
        >>> slot.absorb("trip", 3, 6, 0), slot.absorb("trip", 3, 6, 1), slot.absorb("trip", 3, 6, 0)
        (True, True, False)
        """
        last = self.offsets.get(role)
        at = (offset, math.inf if index is None else index)
        if last is not None and last[0] == partition and at <= (last[1], last[2] if len(last) > 2 else math.inf):
            return False
        self.offsets[role] = [partition, offset] if index is None else [partition, offset, index]
        return True

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": self.features.to_dict(),
            "alerts": self.alerts.to_dict(),
            "premium": self.premium.to_dict(),
            "last_scored": _finite_or_none(self.last_scored),
            "last_snapshot": _finite_or_none(self.last_snapshot),
            "pending": self.pending,
            "last_risk": self.last_risk,
            "held": self.held,
            "weather_at": self.weather_at,
            "revisions": self.revisions.to_dict(),
            "records": {role: dict(n) for role, n in self.records.items()},  # a copy: the table keeps it
            "offsets": {role: list(at) for role, at in self.offsets.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RiderSlot:
        return cls(
            features=RiderState.from_dict(data["features"]),
            alerts=AlertState.from_dict(data["alerts"]),
            premium=PremiumState.from_dict(data["premium"]),
            last_scored=_or_neg_inf(data.get("last_scored")),
            last_snapshot=_or_neg_inf(data.get("last_snapshot")),
            pending=data.get("pending"),
            last_risk=data.get("last_risk"),
            held=data.get("held") or {},
            weather_at=data.get("weather_at"),
            revisions=Revisions.from_dict(data.get("revisions")),
            records={role: dict(n) for role, n in (data.get("records") or {}).items()},  # never the table's dict
            offsets={role: list(at) for role, at in (data.get("offsets") or {}).items()},
        )

    @classmethod
    def new(cls, rider_id: str) -> RiderSlot:
        return cls(RiderState.new(rider_id), AlertState(), PremiumState())

    @property
    def band(self) -> str | None:
        """The risk band of the rider's last premium update (for the fleet gauges)."""
        return self.premium.last_band


def input_partition(state: dict[str, Any] | None) -> int | None:
    """The input partition of a rider's records, from its stored state (None before any record, or no state).

    Every rider-keyed topic is co-partitioned, so any topic's partition is the rider's.

    >>> input_partition({"offsets": {"trip": [2, 41], "wearable": [2, 40]}}), input_partition({})
    (2, None)
    """
    for at in ((state or {}).get("offsets") or {}).values():
        return int(at[0])
    return None


def stored_offsets(state: dict[str, Any] | None) -> dict[str, tuple[int, int]]:
    """Role -> (partition, offset) of the newest input record a rider's stored state has absorbed.

    >>> stored_offsets({"offsets": {"trip": [2, 41], "wearable": [2, 40, 3]}})
    {'trip': (2, 41), 'wearable': (2, 40)}
    """
    return {role: (int(at[0]), int(at[1])) for role, at in ((state or {}).get("offsets") or {}).items()}


def _finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _or_neg_inf(x: float | None) -> float:
    return -math.inf if x is None else float(x)
