"""Rider alert policy and messages, premium signals, pseudonyms and audit records.

Pure and synchronous: no Kafka, no faust. Every decision carries reason codes.
"""

from __future__ import annotations

from alerts.audit import (
    PREMIUM_IDENTITY,
    Revisions,
    alert_identity,
    audit_for_alert,
    audit_for_premium,
    build_insurer_record,
    build_rider_alert,
    event_id,
)
from alerts.config import AlertConfig, PremiumConfig
from alerts.messages import LOCALES, reason_text, render_alert
from alerts.policy import AlertDecision, AlertPolicy, AlertState, Suppressed
from alerts.premium import PremiumCalculator, PremiumDecision, PremiumState, combined_probability, should_publish
from alerts.pseudonym import pseudonymize

__all__ = [
    "LOCALES",
    "PREMIUM_IDENTITY",
    "AlertConfig",
    "AlertDecision",
    "AlertPolicy",
    "AlertState",
    "PremiumCalculator",
    "PremiumConfig",
    "PremiumDecision",
    "PremiumState",
    "Revisions",
    "Suppressed",
    "alert_identity",
    "audit_for_alert",
    "audit_for_premium",
    "build_insurer_record",
    "build_rider_alert",
    "combined_probability",
    "event_id",
    "pseudonymize",
    "reason_text",
    "render_alert",
    "should_publish",
]
