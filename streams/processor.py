"""The glue between Kafka records and the pure code in ``features``, ``models`` and ``alerts``.

No Faust here: the app hands in :class:`RawRecord` batches and gets back outputs to send
and rider states to write to the changelogged table. That keeps the agents thin and lets
tests drive the whole decision path with plain objects.

Per batch: parse (bad → dead letter), update per-rider state in memory (duplicates and
too-late events counted, not applied), learn from incidents, then score, in ONE batched
model call, the riders whose last score is older than ``score_every_event_s`` of event
time, decide alerts and premium signals, and write one audit record per decision.
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
from alerts.reference import PopulationRisk
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
from models import (
    BlendedScorer,
    LabelBuffer,
    LightGBMScorer,
    OnlineRiskModel,
    RuleScorer,
    load_artifact,
)
from models.artifact import TARGETS, ModelBundle
from models.errors import ModelError, ModelLoadError
from models.labels import is_accident
from streams import metrics
from streams.batch import ONLINE_STATUSES, BatchResult, RawRecord, RiderSlot
from streams.errors import InputError
from streams.escalation import FallEscalation
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

def population_of(bundle: ModelBundle) -> PopulationRisk | None:
    """The population an artifact is calibrated for (its card's ``population`` block), if it has one."""
    rates = [bundle.population_rate(t) for t in TARGETS]
    if any(r is None for r in rates):
        return None
    injury, accident = rates
    return PopulationRisk(injury=injury, accident=accident, horizon_min=bundle.horizon_min,  # type: ignore[arg-type]
                          source=bundle.version)


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


class Processor(FallEscalation):
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
        bundle = self._load_first_artifact()
        self.online = self._load_online_model(bundle)
        self._saved_n_learned = self.online.n_learned
        self.labels = self._label_buffer(None)
        self.scorer = self._build_scorer(bundle)
        self._label_watermark = -math.inf  # newest event time seen, for sweeping silent riders' snapshots
        self._last_sweep = -math.inf

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
        self.labels = self._label_buffer(self.labels.horizon_s / 60.0)

    def _label_buffer(self, horizon_min: float | None) -> LabelBuffer:
        """Snapshots wait the model's horizon (60 min without a model) plus ``worker.label_grace_s``."""
        w = self.settings.worker
        return LabelBuffer(horizon_min=horizon_min or 60.0, snapshot_every_s=w.snapshot_every_s, grace_s=w.label_grace_s)

    def _use_horizon(self, bundle: ModelBundle) -> None:
        """Label snapshots over the loaded artifact's horizon (kept snapshots are relabelled by it from now on)."""
        horizon_s = float(bundle.horizon_min) * 60.0
        if horizon_s != self.labels.horizon_s:
            log.info("label horizon set to %d min by artifact %s", bundle.horizon_min, bundle.version)
            self.labels.horizon_s = horizon_s

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

    # ------------------------------------------------------------------ models
    def _load_first_artifact(self) -> ModelBundle | None:
        """The artifact at start-up, or ``None`` (counted and logged: the worker runs on rules)."""
        stamp = self._artifact_stamp()
        try:
            bundle = load_artifact(self.settings.worker.model_dir)
            LightGBMScorer(bundle)  # fails here, not later, on features this code does not compute
        except ModelError as exc:
            metrics.MODEL_ERRORS.labels(model="lightgbm").inc()
            log.error("LightGBM artifact unavailable, conservative rule-based scoring: %s", exc)
            return None
        self._artifact_marker = stamp
        return bundle

    def _build_scorer(self, bundle: ModelBundle | None) -> BlendedScorer:
        lgbm = None
        if bundle is not None:
            lgbm = LightGBMScorer(bundle)
            self._use_population(bundle)
            self._use_horizon(bundle)
        scorer = BlendedScorer(lgbm=lgbm, online=self.online, rules=RuleScorer())
        metrics.set_model_versions(scorer.model_versions())
        return scorer

    def _use_population(self, bundle: ModelBundle) -> None:
        """Price against, and set model-risk alerts relative to, the population the artifact is calibrated for."""
        population = population_of(bundle)
        if population is None:
            log.warning("artifact %s has no population block: premiums and model-risk alerts use the absolute "
                        "defaults of alerts.config (run `riskstream evaluate --update-card`)", bundle.version)
        self.premium.population = population
        self.policy.population = population

    def _artifact_stamp(self) -> tuple[Path, float] | None:
        from models.artifact import current_artifact_dir

        try:
            path = current_artifact_dir(self.settings.worker.model_dir)
            return path, (path / "metadata.json").stat().st_mtime
        except (OSError, ModelLoadError):
            return None

    def maybe_reload_models(self) -> bool:
        """Swap in a new artifact version if one appeared; keep the old one if it fails to load."""
        stamp = self._artifact_stamp()
        if stamp is None or stamp == self._artifact_marker:
            return False
        try:
            bundle = load_artifact(self.settings.worker.model_dir)
            lgbm = LightGBMScorer(bundle)
        except ModelError as exc:
            metrics.MODEL_ERRORS.labels(model="lightgbm").inc()
            log.error("new model artifact at %s failed to load, keeping the current one: %s", stamp[0], exc)
            self._artifact_marker = stamp
            return False
        self.scorer.lgbm = lgbm
        self._artifact_marker = stamp
        self._use_population(bundle)
        self._use_horizon(bundle)
        metrics.set_model_versions(self.scorer.model_versions())
        log.info("model artifact reloaded: %s", self.scorer.model_versions())
        return True

    def _load_online_model(self, bundle: ModelBundle | None) -> OnlineRiskModel:
        estimator = self.settings.worker.online_estimator
        # a new online model's first guesses are the artifact's population rates (if there is one)
        priors = {t: bundle.population_rate(t) for t in TARGETS} if bundle is not None else None
        try:
            model = OnlineRiskModel.from_bytes(self.online_path.read_bytes())
        except FileNotFoundError:
            return OnlineRiskModel(estimator, priors)
        except Exception as exc:  # a corrupt file must not stop the worker
            log.error("online model state at %s unreadable (%s); starting a fresh one", self.online_path, exc)
            return OnlineRiskModel(estimator, priors)
        if model.estimator != estimator:
            log.warning("online model state at %s uses %s, configured is %s; starting a fresh %s model",
                        self.online_path, model.estimator, estimator, estimator)
            return OnlineRiskModel(estimator, priors)
        return model

    def save_online_model(self, if_changed: bool = False) -> bool:
        """Write the online model atomically; with ``if_changed``, only if it learned since the last write."""
        if if_changed and self.online.n_learned == self._saved_n_learned:
            return False
        self.online_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.online_path.with_suffix(".tmp")
        tmp.write_bytes(self.online.to_bytes())
        tmp.replace(self.online_path)
        self._saved_n_learned = self.online.n_learned
        return True

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
        fall_before = slot.features.fall_ts
        if model is TripPoint:
            hi = zone_heat_index_c(self.zone(parsed.zone_id))
            outcome = update(slot.features, parsed, self.feature_cfg, zone_heat_index_c=hi)
        else:
            outcome = update(slot.features, parsed, self.feature_cfg)
        label = {UpdateResult.APPLIED: "processed", UpdateResult.DUPLICATE: "duplicate"}.get(outcome, "too_late")
        metrics.RECORDS.labels(topic=rec.topic, outcome=label).inc()
        newest = slot.features.newest_ts()
        if newest is None:
            return
        if outcome is UpdateResult.APPLIED:
            metrics.EVENT_LATENESS.observe(max(0.0, newest - parsed.epoch))
        touched[parsed.rider_id] = max(touched.get(parsed.rider_id, -math.inf), newest)
        if slot.features.fall_ts != fall_before:
            self.urgent.add(parsed.rider_id)  # a suspected fall is decided now, not at the next cadence

    def _incident(self, rec: RawRecord, result: BatchResult, touched: dict[str, float]) -> None:
        incident = self._parse(rec, Incident, result)
        if incident is None:
            return
        slot = self.slot(incident.rider_id)
        metrics.INCIDENTS.labels(kind=incident.kind.value).inc()
        metrics.RECORDS.labels(topic=rec.topic, outcome="processed").inc()
        self._check_misjudgement(slot, incident)
        marked = self.labels.on_incident(incident.rider_id, incident.epoch, incident.kind.value)
        log.info("incident %s of rider %s at %s (%s[%d]@%d): %d feature snapshots marked positive; the online "
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
            touched.setdefault(incident.rider_id, newest)

    def _check_misjudgement(self, slot: RiderSlot, incident: Incident) -> None:
        """An incident the models had scored as low risk counts towards the circuit breaker."""
        if slot.last_risk is None:
            return
        target = "accident" if is_accident(incident.kind) else "injury"
        p = slot.last_risk[1] if target == "accident" else slot.last_risk[0]
        if p < self.settings.worker.misjudgement_below_p:
            was = self.scorer.conservative_mode
            self.scorer.record_misjudgement()
            metrics.MODEL_MISJUDGEMENTS.labels(target=target).inc()
            log.warning("misjudgement: %s of rider %s at %s after an %s probability of %.2g",
                        incident.kind.value, incident.rider_id, incident.ts.isoformat(), target, p)
            if self.scorer.conservative_mode and not was:
                log.error("circuit breaker open: repeated misjudgements, conservative rule-based mode (%s)",
                          self.scorer.last_error)

    def _sweep_labels(self, touched: dict[str, float], result: BatchResult) -> None:
        """Learn the snapshots of riders gone silent once the stream's event time is past their horizon + grace.

        Riders who keep sending release their own snapshots as new ones are taken; this catches
        the rest (a crash often ends a shift). Runs once per ``snapshot_every_s`` of event time.
        """
        newest = max((t for t in touched.values() if math.isfinite(t)), default=-math.inf)
        self._label_watermark = max(self._label_watermark, newest)
        if self._label_watermark - self._last_sweep < self.settings.worker.snapshot_every_s:
            return
        self._last_sweep = self._label_watermark
        for rider_id, examples in self.labels.sweep(self._label_watermark).items():
            self._learn(examples)
            slot = self.hot.get(rider_id)
            if slot is not None:
                slot.labels = self.labels.rider_dict(rider_id)
                result.states[rider_id] = slot.to_dict()

    def _learn(self, examples: Iterable[tuple[dict[str, float], bool, bool]]) -> None:
        batch = list(examples)
        self.scorer.learn(batch)
        for _, y_injury, y_accident in batch:
            metrics.ONLINE_EXAMPLES.labels(label="positive" if (y_injury or y_accident) else "negative").inc()

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

