"""What the processor exchanges with the Faust agents, and what it keeps per rider."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from alerts import AlertState, PremiumState, Revisions
from features import RiderState

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

    @classmethod
    def from_event(cls, event: Any) -> RawRecord:
        msg = event.message
        return cls(msg.topic, msg.partition, msg.offset, event.key, event.value, msg.timestamp)


@dataclass(slots=True)
class BatchResult:
    outputs: list[Output] = field(default_factory=list)
    states: dict[str, Any] = field(default_factory=dict)  # rider id -> state for the rider table (None: delete)


@dataclass(slots=True)
class RiderSlot:
    """Everything the worker keeps per rider; bounded, and JSON-safe through ``to_dict``."""

    features: RiderState
    alerts: AlertState
    premium: PremiumState
    labels: dict[str, Any]
    last_scored: float = -math.inf
    last_premium: float = -math.inf
    last_snapshot: float = -math.inf
    band: str | None = None
    pending: dict[str, Any] | None = None  # an unanswered "Are you OK?": alert_id, asked_at, asked_wall
    last_risk: list[float] | None = None  # [injury, accident] of the latest score
    held: dict[str, Any] = field(default_factory=dict)  # stream -> a record ahead of it, until confirmed
    revisions: Revisions = field(default_factory=Revisions)  # tells apart records at the same event time

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": self.features.to_dict(),
            "alerts": self.alerts.to_dict(),
            "premium": self.premium.to_dict(),
            "labels": self.labels,
            "last_scored": _finite_or_none(self.last_scored),
            "last_premium": _finite_or_none(self.last_premium),
            "last_snapshot": _finite_or_none(self.last_snapshot),
            "band": self.band,
            "pending": self.pending,
            "last_risk": self.last_risk,
            "held": self.held,
            "revisions": self.revisions.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RiderSlot:
        return cls(
            features=RiderState.from_dict(data["features"]),
            alerts=AlertState.from_dict(data["alerts"]),
            premium=PremiumState.from_dict(data["premium"]),
            labels=data.get("labels") or {},
            last_scored=_or_neg_inf(data.get("last_scored")),
            last_premium=_or_neg_inf(data.get("last_premium")),
            last_snapshot=_or_neg_inf(data.get("last_snapshot")),
            band=data.get("band"),
            pending=data.get("pending"),
            last_risk=data.get("last_risk"),
            held=data.get("held") or {},
            revisions=Revisions.from_dict(data.get("revisions")),
        )

    @classmethod
    def new(cls, rider_id: str) -> RiderSlot:
        return cls(RiderState.new(rider_id), AlertState(), PremiumState(), {})


def _finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _or_neg_inf(x: float | None) -> float:
    return -math.inf if x is None else float(x)
