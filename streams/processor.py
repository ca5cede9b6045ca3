"""The glue between Kafka records and the pure code in ``features``, ``models`` and ``alerts``.

No Faust here: the app hands in :class:`RawRecord` batches and gets back outputs to send
and rider states to write to the changelogged table. That keeps the agents thin and lets
tests drive the whole decision path with plain objects.

Per batch: parse (bad → dead letter), update per-rider state in memory (duplicates and
too-late events counted, not applied), learn from incidents, then score, in ONE batched
model call, the riders whose last score is older than ``score_every_event_s`` of event
time, decide alerts and premium signals, and write one audit record per decision.
Model loading, reload, the online model's state and delayed labels are in
:mod:`streams.model_host`; suspected-fall escalation in :mod:`streams.escalation`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, MutableMapping
from pathlib import Path
from typing import Any

from alerts import (
    AlertConfig,
    AlertPolicy,
    PremiumCalculator,
    PremiumConfig,
    audit_for_alert,
    audit_for_premium,
    build_insurer_record,
    build_rider_alert,
    pseudonymize,
    should_publish,
)
from features import (
    FeatureConfig,
    UpdateResult,
    ZoneWeather,
    rider_features,
    update_trip,
    update_wearable,
    update_zone_weather,
    weather_features,
    zone_heat_index_c,
)
from models.labels import is_accident
from streams import metrics
from streams.batch import ONLINE_STATUSES, BatchResult, RawRecord, RiderSlot
from streams.errors import InputError
from streams.escalation import FallEscalation
from streams.model_host import ModelHost, population_of  # noqa: F401  (population_of: public here too)
from streams.parsing import dead_letter, parse_record
from streams.schemas import (
    Incident,
    RiskScores,
    TripPoint,
    WearableReading,
    WeatherObservation,
)
from streams.settings import Settings

log = logging.getLogger(__name__)

#: Weather features whose change makes the zone's riders be scored again at once.
MATERIAL_WEATHER = ("heat_category", "cn_heat_40", "road_flooding", "freezing", "rain_onset")


def weather_signature(zone: ZoneWeather | None, now: float, cfg: FeatureConfig) -> tuple[float, ...] | None:
    """What about a zone's weather must not wait for the rider's next scoring."""
    if zone is None:
        return None
    feats = weather_features(zone, now, cfg)
    heavy_rain = feats["precip_mm_h"] >= 7.6  # NWS heavy rain, mm/h
    low_visibility = feats["visibility_m"] < 200
    return tuple(feats[k] for k in MATERIAL_WEATHER) + (heavy_rain, low_visibility)


class Processor(FallEscalation, ModelHost):
    """Turns raw record batches into state updates and decisions."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topics = settings.topics
        self.role_by_topic = {v: k for k, v in settings.topics.by_role().items()}
        self.feature_cfg = settings.features
        self.policy = AlertPolicy(AlertConfig(**settings.alerts))
        self.premium = PremiumCalculator(PremiumConfig(**settings.premium))
        self.hmac_key = settings.privacy.hmac_key.get_secret_value().encode()
        self.hot: dict[str, RiderSlot] = {}
        self.urgent: set[str] = set()  # riders to score in this batch whatever their cadence
        self.zone_cache: dict[str, tuple[Any, ZoneWeather]] = {}
        self.zones_missing: set[str] = set()  # warned about once each
        self.zone_override: dict[str, ZoneWeather] = {}  # updated here, not yet in the table
        self.rider_store: MutableMapping[str, Any] = {}
        self.zone_store: MutableMapping[str, Any] = {}
        self.online_path = settings.worker.state_dir / "online-model.pkl"
        self._artifact_marker: tuple[Path, float] | None = None
        lgbm = self._load_first_lightgbm()
        self.online = self._load_online_model(lgbm.bundle if lgbm is not None else None)
        self._saved_n_learned = self.online.n_learned
        self.labels = self._label_buffer()
        self.scorer = self._build_scorer(lgbm)

    # ------------------------------------------------------------------ state
    def bind_state(self, rider_store: MutableMapping[str, Any], zone_store: MutableMapping[str, Any]) -> None:
        self.rider_store = rider_store
        self.zone_store = zone_store

    def slot(self, rider_id: str) -> RiderSlot:
        slot = self.hot.get(rider_id)
        if slot is None:
            stored = self.rider_store.get(rider_id)
            slot = RiderSlot.from_dict(stored) if stored else RiderSlot.new(rider_id)
            if slot.labels:
                self.labels.load_rider(rider_id, slot.labels)
            self.hot[rider_id] = slot
        return slot

    def forget_riders(self) -> None:
        self.hot.clear()
        self.labels.clear()

    def zone(self, zone_id: str | None) -> ZoneWeather | None:
        if zone_id is None:
            return None
        override = self.zone_override.get(zone_id)
        if override is not None:
            return override
        stored = self.zone_store.get(zone_id)
        if stored is None:
            return None
        cached = self.zone_cache.get(zone_id)
        if cached is not None and cached[0] is stored:
            return cached[1]
        zone = ZoneWeather.from_dict(stored)
        self.zone_cache[zone_id] = (stored, zone)
        return zone

    # ------------------------------------------------------------------ batches
    def process_weather(self, batch: Iterable[RawRecord]) -> BatchResult:
        """Update zone weather; riders of a zone whose weather changed materially are scored at once.

        That also covers weather arriving after the riders' telemetry (a backlog read faster on
        one topic than another): they are not left with "weather unknown" until their next event.
        """
        result = BatchResult()
        changed: set[str] = set()
        for rec in batch:
            obs = self._parse(rec, WeatherObservation, result)
            if obs is None:
                continue
            before = self.zone(obs.zone_id)
            zone = update_zone_weather(before, obs, self.feature_cfg)
            result.zones[obs.zone_id] = zone.to_dict()
            self.zone_override[obs.zone_id] = zone  # until the agent has written it to the table
            if weather_signature(before, obs.epoch, self.feature_cfg) != weather_signature(zone, obs.epoch, self.feature_cfg):
                changed.add(obs.zone_id)
            metrics.RECORDS.labels(topic=rec.topic, outcome="processed").inc()
        if changed:
            due = {rider_id: slot.features.newest_ts() for rider_id, slot in self.hot.items()
                   if slot.features.zone_id in changed}
            self._score({r: t for r, t in due.items() if t is not None}, result, force=True)
            for rider_id in due:
                result.states[rider_id] = self.hot[rider_id].to_dict()
        return result

    def zones_written(self, zone_ids: Iterable[str]) -> None:
        """The agent wrote these zones to the table: read them from there again."""
        for zone_id in zone_ids:
            self.zone_override.pop(zone_id, None)

    def process_batch(self, batch: Iterable[RawRecord]) -> BatchResult:
        result = BatchResult()
        touched: dict[str, float] = {}
        started = time.time()
        timestamps: list[float] = []
        for rec in batch:
            role = self.role_by_topic.get(rec.topic)
            if rec.timestamp:
                timestamps.append(rec.timestamp)
            try:
                if role == "wearable":
                    self._apply(rec, WearableReading, update_wearable, result, touched)
                elif role == "trip":
                    self._apply(rec, TripPoint, update_trip, result, touched)
                elif role == "incidents":
                    self._incident(rec, result, touched)
                elif role == "responses":
                    self._response(rec, result, touched)
                else:
                    log.warning("record from unexpected topic %s[%s]@%s", rec.topic, rec.partition, rec.offset)
            except Exception as exc:  # a bug must not stop the stream: dead-letter the record, keep going
                log.exception("processing %s[%d]@%d failed", rec.topic, rec.partition, rec.offset)
                self._dead_letter(rec, InputError("processing_error", f"{type(exc).__name__}: {exc}"), result)
        self._score(touched, result)
        self._escalate_overdue(touched, result)
        self._sweep_labels(touched, result)
        for rider_id in touched:
            result.states[rider_id] = self.hot[rider_id].to_dict()
        done = time.time()
        for ts in timestamps:
            metrics.PROCESSING_LATENCY.observe(max(0.0, done - ts))
        log.debug("batch of %d records took %.1f ms", len(timestamps), (done - started) * 1000)
        return result

    def _parse(self, rec: RawRecord, model: type, result: BatchResult) -> Any:
        try:
            parsed = parse_record(model, rec.value, self.settings.worker.max_payload_bytes)
            ahead = parsed.epoch - time.time()
            if ahead > self.settings.worker.max_future_skew_s:
                # it would move the rider's clock forward and make every true event "too late"
                raise InputError("future_timestamp", f"ts {parsed.ts.isoformat()} is {ahead:.0f} s ahead of this "
                                 f"worker's clock (limit {self.settings.worker.max_future_skew_s:.0f} s)")
            return parsed
        except InputError as err:
            self._dead_letter(rec, err, result)
            return None

    def _dead_letter(self, rec: RawRecord, err: InputError, result: BatchResult) -> None:
        letter = dead_letter(
            source_topic=rec.topic, partition=rec.partition, offset=rec.offset, key=rec.key, raw=rec.value, error=err,
        )
        result.outputs.append(("dlq", letter.source_topic, letter.model_dump_json().encode()))
        metrics.RECORDS.labels(topic=rec.topic, outcome="dead_letter").inc()
        metrics.DEAD_LETTERS.labels(topic=rec.topic, reason=err.error_class).inc()
        log.warning(
            "dead letter from %s[%d]@%d key=%s: %s: %s",
            rec.topic, rec.partition, rec.offset, letter.key, err.error_class, err.reason,
        )

    def _apply(self, rec: RawRecord, model: type, update: Any, result: BatchResult, touched: dict[str, float]) -> None:
        parsed = self._parse(rec, model, result)
        if parsed is None:
            return
        slot = self.slot(parsed.rider_id)
        if self._replayed(rec, parsed.rider_id, slot, touched):
            return
        fall_before = slot.features.fall_ts
        if model is TripPoint:
            hi = zone_heat_index_c(self.zone(parsed.zone_id))
            outcome = update(slot.features, parsed, self.feature_cfg, zone_heat_index_c=hi)
        else:
            outcome = update(slot.features, parsed, self.feature_cfg)
        label = {UpdateResult.APPLIED: "processed", UpdateResult.DUPLICATE: "duplicate"}.get(outcome, "too_late")
        metrics.RECORDS.labels(topic=rec.topic, outcome=label).inc()
        slot.count(self.role_by_topic[rec.topic], outcome.value)
        touched.setdefault(parsed.rider_id, -math.inf)  # its state is written with the new count
        newest = slot.features.newest_ts()
        if newest is None:
            return
        if outcome is UpdateResult.APPLIED:
            metrics.EVENT_LATENESS.observe(max(0.0, newest - parsed.epoch))
        touched[parsed.rider_id] = max(touched.get(parsed.rider_id, -math.inf), newest)
        if slot.features.fall_ts != fall_before:
            self.urgent.add(parsed.rider_id)  # a suspected fall is decided now, not at the next cadence

    def _replayed(self, rec: RawRecord, rider_id: str, slot: RiderSlot, touched: dict[str, float]) -> bool:
        """True, and counted, if the rider's state absorbed this record already (read again after a crash)."""
        role = self.role_by_topic[rec.topic]
        if slot.absorb(role, rec.partition, rec.offset):
            return False
        slot.count(role, "replayed")
        metrics.RECORDS.labels(topic=rec.topic, outcome="replayed").inc()
        touched.setdefault(rider_id, -math.inf)
        log.debug("rider %s: %s[%d]@%d is in its state already (read again after a restart)", rider_id, rec.topic,
                  rec.partition, rec.offset)
        return True

    def _incident(self, rec: RawRecord, result: BatchResult, touched: dict[str, float]) -> None:
        incident = self._parse(rec, Incident, result)
        if incident is None:
            return
        slot = self.slot(incident.rider_id)
        if self._replayed(rec, incident.rider_id, slot, touched):
            return
        metrics.INCIDENTS.labels(kind=incident.kind.value).inc()
        metrics.RECORDS.labels(topic=rec.topic, outcome="processed").inc()
        slot.count("incidents", "applied")
        touched.setdefault(incident.rider_id, -math.inf)  # replaced by the newest event time below, if known
        self._check_misjudgement(slot, incident)
        marked = self.labels.on_incident(incident.rider_id, incident.epoch, incident.kind.value)
        log.info("incident %s of rider %s at %s (%s[%d]@%d): feature snapshots marked positive: %d; the online "
                 "model learns them when they are %.0f min old", incident.kind.value, incident.rider_id,
                 incident.ts.isoformat(), rec.topic, rec.partition, rec.offset, marked.labelled,
                 (self.labels.horizon_s + self.labels.grace_s) / 60.0)
        if marked.too_late:
            target = "accident" if is_accident(incident.kind) else "injury"
            metrics.ONLINE_LATE_LABELS.labels(target=target).inc()
            log.warning("incident %s of rider %s at %s (%s[%d]@%d) reported after some of its snapshots were learned "
                        "as negatives (worker.label_grace_s = %.0f s)", incident.kind.value, incident.rider_id,
                        incident.ts.isoformat(), rec.topic, rec.partition, rec.offset, self.labels.grace_s)
        slot.labels = self.labels.rider_dict(incident.rider_id)
        newest = slot.features.newest_ts()
        if newest is not None:
            touched[incident.rider_id] = max(touched[incident.rider_id], newest)

    # ------------------------------------------------------------------ decisions
    def _score(self, touched: dict[str, float], result: BatchResult, force: bool = False) -> None:
        every = 0.0 if force else self.settings.worker.score_every_event_s
        urgent, self.urgent = self.urgent, set()
        due = [(r, now) for r, now in touched.items()
               if math.isfinite(now) and (r in urgent or now - self.hot[r].last_scored >= every)]
        if not due:
            return
        rows = []
        for rider_id, now in due:
            slot = self.hot[rider_id]
            zone_id = slot.features.zone_id
            zone = self.zone(zone_id)
            if zone is None and zone_id is not None and zone_id not in self.zones_missing:
                self.zones_missing.add(zone_id)
                log.warning("no weather for zone %s (rider %s): scored with weather unknown", zone_id, rider_id)
            rows.append(rider_features(slot.features, zone, now, self.feature_cfg))
        scored = self.scorer.score_batch(rows)
        metrics.SCORING_BATCH.observe(len(rows))
        versions = self.scorer.model_versions()
        for (rider_id, now), feats, risk_out in zip(due, rows, scored):
            try:
                self._decide(rider_id, now, feats, risk_out, versions, result)
            except Exception:  # one rider's failure must not stop the others or the stream
                metrics.PROCESSING_ERRORS.labels(stage="decide").inc()
                log.exception("deciding for rider %s at event time %s failed; skipped this round", rider_id, now)

    def _decide(self, rider_id: str, now: float, feats: dict[str, float], scored: Any,
                versions: dict[str, str], result: BatchResult) -> None:
        slot = self.hot[rider_id]
        slot.last_scored = now
        slot.last_risk = [scored.injury, scored.accident]
        risk = RiskScores(injury=scored.injury, accident=scored.accident)
        metrics.SCORES.observe(scored.any_event)
        conservative = scored.conservative
        for decision in self.policy.evaluate(slot.alerts, feats, risk, now, relative=not conservative):
            alert = build_rider_alert(rider_id, decision, now, versions, risk=risk, conservative_mode=conservative)
            if decision.requires_response:
                self.ask(slot, alert.alert_id, now)
            result.outputs.append(("alerts", rider_id, alert.model_dump_json().encode()))
            self._audit(result, rider_id, audit_for_alert(rider_id, decision, now, versions, conservative))
            metrics.ALERTS.labels(kind=decision.kind, severity=decision.severity.value,
                                  zone=slot.features.zone_id or metrics.UNKNOWN_ZONE).inc()
        for held in self.policy.last_suppressed:
            metrics.ALERTS_SUPPRESSED.labels(reason=held.why).inc()
        if now - slot.last_snapshot >= self.settings.worker.snapshot_every_s:
            self._learn(self.labels.add_snapshot(rider_id, now, self.scorer.snapshot_row(feats, scored)))
            slot.last_snapshot = now
            slot.labels = self.labels.rider_dict(rider_id)
        decision = self.premium.update(slot.premium, risk, feats, self._exposure_hours(slot, now), now,
                                       hold=conservative)
        slot.band = decision.risk_band.value
        if should_publish(slot.premium, decision, now, self.settings.worker.premium_interval_event_s):
            pseudonym = pseudonymize(rider_id, self.hmac_key)
            record = build_insurer_record(pseudonym, decision, versions, conservative,
                                          period_start=slot.premium.last_published_at)
            slot.premium.mark_published(decision, now)
            result.outputs.append(("risk_scores", pseudonym, record.model_dump_json().encode()))
            self._audit(result, rider_id, audit_for_premium(rider_id, decision, versions, True, conservative,
                                                            decision_id=record.event_id))
            metrics.PREMIUM_SIGNALS.inc()

    def _exposure_hours(self, slot: RiderSlot, now: float) -> float:
        """Online hours since the rider's previous premium update (0 while off shift)."""
        last, slot.last_premium = slot.last_premium, now
        if not math.isfinite(last) or slot.features.status not in ONLINE_STATUSES:
            return 0.0
        # a long gap means the rider was away: count at most two scoring intervals
        return min(max(0.0, now - last), 2 * self.settings.worker.score_every_event_s) / 3600.0

    def _audit(self, result: BatchResult, rider_id: str, record: Any) -> None:
        result.outputs.append(("audit", rider_id, record.model_dump_json().encode()))
        metrics.AUDIT_RECORDS.labels(decision_type=record.decision_type).inc()

    def publish_gauges(self) -> None:
        metrics.publish_fleet(
            ((slot.features.zone_id, slot.band, slot.features.status in ONLINE_STATUSES,
              slot.pending["asked_wall"] if slot.pending else None) for slot in self.hot.values()),
            wall_now=time.time(),
        )
        metrics.RIDERS_ACTIVE.set(len(self.hot))
        metrics.CONSERVATIVE_MODE.set(1 if self.scorer.conservative_mode else 0)
        for target, values in self.online.metrics().items():
            values["blend_weight"] = self.scorer.river_weight(target)
            values["recalibration_weight"] = self.scorer.recalibration_weight(target)  # as the blend uses it (gated)
            for name, value in values.items():
                if value is not None and math.isfinite(value):
                    metrics.ONLINE_METRIC.labels(target=target, metric=name).set(value)

