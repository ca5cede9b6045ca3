"""Suspected falls: the rider is asked "Are you OK?"; no answer in time, or a call for help, escalates.

A collaborator the processor owns: it is handed the rider's slot and the batch's result, and
asks the model versions of whoever scores (a callable). The deadline runs in event time (the
device keeps reporting) and in wall time (the device went silent), whichever comes first.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timezone

from alerts import event_id
from riskstream.contracts.reasons import reason_text
from riskstream.contracts.records import AuditRecord, Reason, RiderResponse, SafetyEscalation
from streams import metrics
from streams.batch import BatchResult, RawRecord, RiderSlot

log = logging.getLogger(__name__)

#: Reason code of an escalation by its reason, and of a cancelled one; texts in the reason catalog.
ESCALATION_CODES = {"no_response": "NO_RESPONSE", "rider_needs_help": "RIDER_NEEDS_HELP"}
ANSWERED_OK_CODE = "RIDER_ANSWERED_OK"


class Escalations:
    """Ask, wait, escalate or cancel (see the module docstring)."""

    def __init__(self, timeout_s: float, model_versions: Callable[[], dict[str, str]]) -> None:
        self.timeout_s = timeout_s  # worker.fall_response_timeout_s
        self.model_versions = model_versions

    def ask(self, slot: RiderSlot, alert_id: str, now: float) -> None:
        """Remember an "Are you OK?" alert sent at event time ``now``, unless one is already open."""
        if slot.pending is None:
            slot.pending = {"alert_id": alert_id, "asked_at": now, "asked_wall": time.time()}

    def answer(self, result: BatchResult, rec: RawRecord, slot: RiderSlot, answer: RiderResponse) -> None:
        """The rider answered: ``need_help`` escalates at once, ``ok`` cancels the open question."""
        pending = slot.pending
        if pending is None or pending["alert_id"] != answer.alert_id:
            log.info("response from rider %s to alert %s with nothing pending (%s[%d]@%d)",
                     answer.rider_id, answer.alert_id, rec.topic, rec.partition, rec.offset)
            return
        if answer.answer == "need_help":
            self.escalate(result, slot, "rider_needs_help", answer.epoch)
        else:
            slot.pending = None
            metrics.ESCALATIONS.labels(outcome="cancelled").inc()
            waited = answer.epoch - pending["asked_at"]
            result.audit(answer.rider_id, self._escalation_audit(
                answer.rider_id, pending["alert_id"], answer.ts, waited,
                f"escalation cancelled: rider answered OK after {waited:.0f} s",
                [Reason(code=ANSWERED_OK_CODE, text=reason_text(ANSWERED_OK_CODE, None))],
                self.model_versions(),
            ))

    def escalate_if_overdue(self, result: BatchResult, slot: RiderSlot, wall_now: float | None = None) -> None:
        """Escalate the rider's unanswered question if its time ran out, in event time or (a silent device) wall
        time."""
        if slot.pending is None:
            return
        newest = slot.features.newest_ts() or slot.pending["asked_at"]
        waited_event = newest - slot.pending["asked_at"]
        waited_wall = (wall_now - slot.pending["asked_wall"]) if wall_now is not None else 0.0
        if waited_event >= self.timeout_s or waited_wall >= self.timeout_s:
            self.escalate(result, slot, "no_response", slot.pending["asked_at"] + max(waited_event, waited_wall))

    def escalate(self, result: BatchResult, slot: RiderSlot, reason: str, now: float) -> None:
        rider_id = slot.features.rider_id
        pending, slot.pending = slot.pending, None
        assert pending is not None
        versions = self.model_versions()
        code = ESCALATION_CODES[reason]
        waited = max(0.0, now - pending["asked_at"])
        escalation_id = event_id("escalation", rider_id, pending["alert_id"])
        escalation = SafetyEscalation(
            event_id=escalation_id,
            ts=datetime.fromtimestamp(now, timezone.utc),
            escalation_id=escalation_id,
            rider_id=rider_id, alert_id=pending["alert_id"], reason=reason,
            asked_at=datetime.fromtimestamp(pending["asked_at"], timezone.utc), waited_s=waited,
            zone_id=slot.features.zone_id,
            reasons=[Reason(code=code, value=waited, text=reason_text(code, waited))], model_versions=versions,
        )
        result.outputs.append(("escalations", rider_id, escalation.model_dump_json().encode()))
        metrics.ESCALATIONS.labels(outcome="escalated").inc()
        log.warning("escalated rider %s to the safety team: %s after %.0f s (alert %s)",
                    rider_id, reason, waited, pending["alert_id"])
        result.audit(rider_id, self._escalation_audit(
            rider_id, pending["alert_id"], escalation.ts, waited,
            f"escalated to the safety team: {reason} after {waited:.0f} s", escalation.reasons, versions,
        ))

    def _escalation_audit(self, rider_id: str, alert_id: str, ts: datetime, waited: float, outcome: str,
                          reasons: list[Reason], versions: dict[str, str]) -> AuditRecord:
        """The audit record closing a fall question, escalated or cancelled (one per question)."""
        return AuditRecord(
            event_id=event_id("audit", "escalation", rider_id, alert_id), ts=ts,
            decision_id=event_id("escalation", rider_id, alert_id), decision_type="escalation", rider_id=rider_id,
            outcome=outcome, inputs={"waited_s": waited},
            thresholds={"fall_response_timeout_s": self.timeout_s},
            reasons=reasons, model_versions=versions,
        )
