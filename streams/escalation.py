"""Suspected falls: the rider is asked "Are you OK?"; no answer in time, or a call for help, escalates.

A mixin of :class:`streams.processor.Processor`: it uses the processor's rider slots, scorer,
settings and audit helper. The deadline runs in event time (the device keeps reporting) and in
wall time (the device went silent), whichever comes first.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from alerts import event_id
from streams import metrics
from streams.batch import BatchResult, RawRecord
from riskstream.contracts.reasons import reason_text
from riskstream.contracts.records import AuditRecord, Reason, RiderResponse, SafetyEscalation

if TYPE_CHECKING:
    from streams.batch import RiderSlot

log = logging.getLogger(__name__)

#: Reason code of an escalation by its reason, and of a cancelled one; texts in the reason catalog.
ESCALATION_CODES = {"no_response": "NO_RESPONSE", "rider_needs_help": "RIDER_NEEDS_HELP"}
ANSWERED_OK_CODE = "RIDER_ANSWERED_OK"


class FallEscalation:
    """Ask, wait, escalate or cancel (see the module docstring)."""

    hot: dict[str, RiderSlot]
    settings: Any
    scorer: Any

    def ask(self, slot: RiderSlot, alert_id: str, now: float) -> None:
        """Remember an "Are you OK?" alert sent at event time ``now``, unless one is already open."""
        if slot.pending is None:
            slot.pending = {"alert_id": alert_id, "asked_at": now, "asked_wall": time.time()}

    def _response(self, rec: RawRecord, result: BatchResult, touched: dict[str, float]) -> None:
        answer = self._parse_rider(rec, RiderResponse, result)
        if answer is None:
            return
        slot = self.slot(answer.rider_id)
        if self._replayed(rec, answer.rider_id, slot, touched):
            return
        metrics.RECORDS.labels(topic=rec.topic, outcome="processed").inc()
        slot.count("responses", "applied")
        touched.setdefault(answer.rider_id, -math.inf)  # its state is written with the new count
        pending = slot.pending
        if pending is None or pending["alert_id"] != answer.alert_id:
            log.info("response from rider %s to alert %s with nothing pending (%s[%d]@%d)",
                     answer.rider_id, answer.alert_id, rec.topic, rec.partition, rec.offset)
            return
        if answer.answer == "need_help":
            self._escalate(answer.rider_id, "rider_needs_help", answer.epoch, result)
        else:
            slot.pending = None
            metrics.ESCALATIONS.labels(outcome="cancelled").inc()
            waited = answer.epoch - pending["asked_at"]
            self._audit(result, answer.rider_id, self._escalation_audit(
                answer.rider_id, pending["alert_id"], answer.ts, waited,
                f"escalation cancelled: rider answered OK after {waited:.0f} s",
                [Reason(code=ANSWERED_OK_CODE, text=reason_text(ANSWERED_OK_CODE, None))],
                self.scorer.model_versions(),
            ))
        newest = slot.features.newest_ts()
        if newest is not None:
            touched[answer.rider_id] = max(touched[answer.rider_id], newest)

    def _escalate_overdue(self, riders: Iterable[str], result: BatchResult, wall_now: float | None = None) -> None:
        """Escalate unanswered questions whose time ran out, in event time or (a silent device) wall time."""
        timeout = self.settings.worker.fall_response_timeout_s
        for rider_id in list(riders):
            slot = self.hot.get(rider_id)
            if slot is None or slot.pending is None:
                continue
            newest = slot.features.newest_ts() or slot.pending["asked_at"]
            waited_event = newest - slot.pending["asked_at"]
            waited_wall = (wall_now - slot.pending["asked_wall"]) if wall_now is not None else 0.0
            if waited_event >= timeout or waited_wall >= timeout:
                self._escalate(rider_id, "no_response", slot.pending["asked_at"] + max(waited_event, waited_wall),
                               result)

    def check_escalations(self, wall_now: float) -> BatchResult:
        """Timer hook: escalate questions left unanswered while the rider's device went silent."""
        result = BatchResult()
        self._escalate_overdue([r for r, s in self.hot.items() if s.pending], result, wall_now)
        for rider_id in {key for role, key, _ in result.outputs if role == "escalations"}:
            result.states[rider_id] = self.hot[rider_id].to_dict()
        return result

    def _escalate(self, rider_id: str, reason: str, now: float, result: BatchResult) -> None:
        slot = self.hot[rider_id]
        pending, slot.pending = slot.pending, None
        assert pending is not None
        versions = self.scorer.model_versions()
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
        self._audit(result, rider_id, self._escalation_audit(
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
            thresholds={"fall_response_timeout_s": self.settings.worker.fall_response_timeout_s},
            reasons=reasons, model_versions=versions,
        )
