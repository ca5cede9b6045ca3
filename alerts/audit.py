"""Turn decisions into output records: rider alerts, insurer scores and audit records.

Event ids are deterministic (UUIDv5 of rider or pseudonym, event time, kind and revision), so
replaying the same input after a crash produces the same ids and consumers can drop the repeat.
The revision tells apart records with the same rider, kind and event time that differ: a
rescore at the same event time (weather changed while the rider's device was silent) is a new
record with a new id, not a repeat (:class:`Revisions`).
The insurer record is built from the premium decision alone: it never sees a rider id,
a position or a biometric value.

>>> from alerts.premium import PremiumCalculator, PremiumState
>>> from riskstream.contracts.records import RiskScores
>>> d = PremiumCalculator().update(PremiumState(), RiskScores(injury=0.001, accident=0.0005), {}, 1.0, now=3600.0)
>>> rec = build_insurer_record("2d7aeef71b46a28ac05522cd9abc86ed", d, {"lgbm": "v1"})
>>> rec.ts.isoformat(), rec.period_start.isoformat(), rec.risk_band.value
('1970-01-01T01:00:00+00:00', '1970-01-01T00:00:00+00:00', 'low')
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from alerts.policy import AlertDecision, Suppressed
from alerts.premium import PremiumDecision
from riskstream.contracts.records import AuditRecord, InsurerRiskScore, RiderAlert, RiskScores

#: Namespace of riskstream's deterministic event ids.
_NAMESPACE = uuid.UUID("6f1c2a4e-0d7b-5c3a-9e21-8b4f7d0a6c15")


def _utc(now: float) -> datetime:
    return datetime.fromtimestamp(now, tz=timezone.utc)


def event_id(*parts: object) -> str:
    """Deterministic id from its parts.

    >>> event_id("alert", "r1", 0.0, "heat") == event_id("alert", "r1", 0.0, "heat")
    True
    """
    return str(uuid.uuid5(_NAMESPACE, "|".join(f"{p:.3f}" if isinstance(p, float) else str(p) for p in parts)))


def _revised(parts: tuple[object, ...], revision: int) -> tuple[object, ...]:
    """Revision 0 keeps the id a first record always had; later revisions add to it."""
    return parts if revision == 0 else (*parts, f"rev{revision}")


@dataclass
class Revisions:
    """Per rider: how many records of each identity went out at the rider's latest decision time.

    The processor decides at the rider's newest event time, which never goes back, so the
    counts of one time are enough and the state stays bounded. Kept in the rider's
    changelogged state: a replay from committed offsets numbers the same records the same.

    >>> r = Revisions()
    >>> r.next("premium", 10.0), r.next("premium", 10.0), r.next("alert|heat|danger", 10.0), r.next("premium", 11.0)
    (0, 1, 0, 0)
    >>> Revisions.from_dict(r.to_dict()).next("premium", 11.0)
    1
    """

    at: float | None = None
    counts: dict[str, int] = field(default_factory=dict)

    def next(self, identity: str, now: float) -> int:
        """The revision of the next record of ``identity`` at event time ``now``, counted."""
        if self.at != now:
            self.at, self.counts = float(now), {}
        revision = self.counts.get(identity, 0)
        self.counts[identity] = revision + 1
        return revision

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at, "counts": dict(self.counts)}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Revisions:
        data = data or {}
        return cls(at=data.get("at"), counts=dict(data.get("counts") or {}))


def alert_identity(decision: AlertDecision | Suppressed) -> str:
    """What makes two alerts at the same event time the same decision: kind and severity."""
    return f"alert|{decision.kind}|{decision.severity.value}"


#: The identity of a premium signal at an event time (see :class:`Revisions`).
PREMIUM_IDENTITY = "premium"


def _finite_or_none(values: dict[str, float | None]) -> dict[str, float | None]:
    return {k: (v if v is not None and math.isfinite(v) else None) for k, v in values.items()}


def build_rider_alert(
    rider_id: str,
    decision: AlertDecision,
    now: float,
    model_versions: dict[str, str],
    risk: RiskScores | None = None,
    conservative_mode: bool = False,
    revision: int = 0,
) -> RiderAlert:
    """The ``rider.alerts`` record for an alert decision made at event time ``now``."""
    eid = event_id(*_revised(("alert", rider_id, float(now), decision.kind, decision.severity.value), revision))
    return RiderAlert(
        event_id=eid,
        ts=_utc(now),
        rider_id=rider_id,
        alert_id=eid,
        kind=decision.kind,
        severity=decision.severity,
        title=decision.title,
        message=decision.message,
        reasons=decision.reasons,
        risk=risk,
        model_versions=model_versions,
        conservative_mode=conservative_mode,
        requires_response=decision.requires_response,
    )


def build_insurer_record(
    rider_pseudonym: str,
    decision: PremiumDecision,
    model_versions: dict[str, str],
    conservative_mode: bool = False,
    period_start: float | None = None,
    revision: int = 0,
) -> InsurerRiskScore:
    """The ``insurer.risk-scores`` record; ``period_start`` overrides the decision's (e.g. last publish).

    ``revision``: how many premium records of this rider went out before at the same event time.
    """
    return InsurerRiskScore(
        event_id=event_id(*_revised(("premium", rider_pseudonym, decision.period_end), revision)),
        ts=_utc(decision.period_end),
        rider_pseudonym=rider_pseudonym,
        period_start=_utc(decision.period_start if period_start is None else period_start),
        period_end=_utc(decision.period_end),
        risk=decision.risk,
        risk_score=decision.risk_score,
        risk_band=decision.risk_band,
        expected_loss=decision.expected_loss,
        premium_multiplier=decision.multiplier,
        previous_multiplier=decision.previous_multiplier,
        credibility=decision.credibility,
        exposure_hours=decision.exposure_hours,
        reasons=decision.reasons,
        model_versions=model_versions,
        conservative_mode=conservative_mode,
    )


def audit_for_alert(
    rider_id: str,
    decision: AlertDecision | Suppressed,
    now: float,
    model_versions: dict[str, str],
    conservative_mode: bool = False,
    revision: int = 0,
) -> AuditRecord:
    """Audit record of a sent alert (its ``decision_id`` is the alert's id) or of one held back (with why)."""
    what = f"alert {decision.kind}/{decision.severity.value}"
    thresholds = decision.thresholds if isinstance(decision, AlertDecision) else {}
    return AuditRecord(
        event_id=event_id(*_revised(("audit", "alert", rider_id, float(now), decision.kind, decision.severity.value),
                                    revision)),
        ts=_utc(now),
        decision_id=event_id(*_revised(("alert", rider_id, float(now), decision.kind, decision.severity.value),
                                       revision)),
        decision_type="alert",
        rider_id=rider_id,
        outcome=f"{what} sent" if isinstance(decision, AlertDecision) else f"{what} suppressed: {decision.why}",
        inputs=_finite_or_none(decision.values),
        thresholds=thresholds,
        reasons=decision.reasons,
        model_versions=model_versions,
        conservative_mode=conservative_mode,
    )


def audit_for_premium(
    rider_id: str,
    decision: PremiumDecision,
    model_versions: dict[str, str],
    published: bool = True,
    conservative_mode: bool = False,
    decision_id: str | None = None,
    revision: int = 0,
) -> AuditRecord:
    """Audit record of a premium decision; pass the insurer record's ``event_id`` as ``decision_id``
    and its ``revision``."""
    prev = "new" if decision.previous_multiplier is None else f"{decision.previous_multiplier:.3f}"
    outcome = (
        f"premium multiplier {prev} -> {decision.multiplier:.3f}, band {decision.risk_band.value}, "
        f"{'published' if published else 'not published'}"
    )
    inputs = dict(decision.inputs, expected_loss=decision.expected_loss, credibility=decision.credibility)
    return AuditRecord(
        event_id=event_id(*_revised(("audit", "premium", rider_id, decision.period_end), revision)),
        ts=_utc(decision.period_end),
        decision_id=decision_id or event_id(*_revised(("premium-decision", rider_id, decision.period_end), revision)),
        decision_type="premium_signal",
        rider_id=rider_id,
        outcome=outcome,
        inputs=_finite_or_none(inputs),
        thresholds=decision.thresholds,
        reasons=decision.reasons,
        model_versions=model_versions,
        conservative_mode=conservative_mode,
    )
