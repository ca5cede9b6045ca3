"""The glue between Kafka records and the pure code in ``features``, ``models`` and ``alerts``.

No Faust here: the app hands in :class:`RawRecord` batches and gets back outputs to send
and rider states to write to the changelogged table. That keeps the agents thin and lets
tests drive the whole decision path with plain objects.

Per batch: parse (bad → dead letter), then apply the records in event-time order to the per-rider
state in memory (duplicates counted, too-late events dead-lettered, neither applied), learn from
incidents; each rider gets a score point at every ``score_every_event_s`` of its own event time, at a
newly suspected fall and (online) at a material change of its zone's weather as of that time; the
points are scored in ONE batched model call and decided in event-time order (alerts, premium
signals), with one audit record per decision. Weather is the zone's as of the rider's event time
(:meth:`features.ZoneStore.at`); weather past its freshness limit is stale: never a lower risk than
the last known weather as current, and every decision made with it carries ``WEATHER_STALE``.
Every input record ends processed, a duplicate, or dead-lettered with its reason; a failure on
one record dead-letters it and the batch goes on; a failure while scoring one rider skips that
rider this round (counted in ``riskstream_processing_errors_total``). Anything else raises to the
agent, which stops the worker before the batch's offsets are committed (see :mod:`streams.app`).

Event time is judged before it is applied: a record stamped before ``worker.min_event_time``
or further ahead of the worker's clock than ``worker.max_future_skew_s`` is dead-lettered
(``implausible_timestamp``, ``future_timestamp``). A trip or wearable record more than
``worker.max_stream_jump_s`` ahead of its rider's own stream is held in the rider's state, not
applied, until the rider's next record of that stream lands near it (the jump is confirmed:
both are applied) or the stream catches up to it; a held record replaced by another unconfirmed
jump is dead-lettered (``unconfirmed_jump``). Lateness and scoring time follow applied records
only, so one bad clock can neither make the rider's true records too late nor move the scoring.

The processor owns its collaborators: the model host (:mod:`streams.model_host`: artifact load and
reload, the scorer, the online model and its delayed labels), the fall escalations
(:mod:`streams.escalation`), the zone store, the alert policy and the premium calculator. One batch's
working values (its result, the riders it touched, the riders to score at once) are a
:class:`streams.batch.Batch` passed down as the first argument. What drives it (the Faust app, the
tests, the evaluation lab) is :class:`streams.driver.Driver`.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, Protocol, TypeVar

from alerts import (
    PREMIUM_IDENTITY,
    AlertPolicy,
    PremiumCalculator,
    alert_identity,
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
    ZoneStore,
    ZoneWeather,
    rider_features,
    update_trip,
    update_wearable,
    update_zone_weather,
    weather_features,
    zone_heat_index_c,
)
from features.weather import FAST_WEATHER_FEATURES, last_known_weather_features, stale_weather_features
from models import BlendedScorer, LabelBuffer, OnlineRiskModel
from models.labels import is_accident
from models.risk import ScoredRisk
from riskstream.contracts.errors import InputError
from riskstream.contracts.reasons import reason_text
from riskstream.contracts.records import (
    ENVELOPE_MODELS,
    Incident,
    Reason,
    RiderResponse,
    RiskScores,
    TripPoint,
    WearableReading,
    WeatherObservation,
)
from streams import metrics
from streams.batch import ONLINE_STATUSES, Batch, BatchResult, RawRecord, RiderSlot, ScorePoint
from streams.escalation import Escalations
from streams.model_host import ModelHost, population_of  # noqa: F401  (population_of: public here too)
from streams.parsing import dead_letter, envelope_items, parse_input, validate_decoded
from streams.settings import Settings

log = logging.getLogger(__name__)

#: Event-time seconds between two sweeps for riders silent longer than ``worker.rider_ttl_s``: daily, as a
#: sweep reads every stored rider (measured: 0.34 s to place 100,000 keys on partitions) and the TTL is in weeks.
EXPIRY_SWEEP_EVERY_S = 86400.0
#: Bytes of a held (jumping) record's payload kept in the rider's state, for its dead letter if no record confirms it.
HELD_PAYLOAD_BYTES = 4096
#: Weather features whose change makes the zone's riders be scored again at once.
MATERIAL_WEATHER = ("heat_category", "cn_heat_40", "road_flooding", "freezing", "rain_onset")

Parsed = TypeVar("Parsed", bound=WearableReading | TripPoint | Incident | RiderResponse | WeatherObservation)
RiderKeyed = TypeVar("RiderKeyed", bound=WearableReading | TripPoint | Incident | RiderResponse)
RiderReading = WearableReading | TripPoint
RiderKeyedRecord = WearableReading | TripPoint | Incident | RiderResponse
#: The record model of each rider-keyed input role.
RIDER_MODELS: dict[str, type[RiderKeyedRecord]] = {
    "wearable": WearableReading, "trip": TripPoint, "incidents": Incident, "responses": RiderResponse}
#: Reason code carried by every decision made with stale or unknown zone weather (text in the reason catalog).
WEATHER_STALE_CODE = "WEATHER_STALE"
#: A pure feature update: ``update_wearable`` or ``update_trip`` (the trip's takes the zone's heat index too).
FeatureUpdate = Callable[..., UpdateResult]


class RiderStore(Protocol):
    """The changelogged rider table as the processor reads it (a dict in tests and the lab); writes go through
    the driver's sink. A store with ``keys()`` lets the expiry sweep find riders only in the table."""

    def get(self, key: str, default: Any = None) -> Any: ...


def weather_signature(zone: ZoneWeather | None, now: float, cfg: FeatureConfig) -> tuple[float | None, ...] | None:
    """What about a zone's weather must not wait for the rider's next scoring (unknown values as None, so equal)."""
    if zone is None:
        return None
    feats = weather_features(zone, now, cfg)
    heavy_rain = feats["precip_mm_h"] >= 7.6  # NWS heavy rain, mm/h
    low_visibility = feats["visibility_m"] < 200
    return tuple(None if math.isnan(feats[k]) else feats[k] for k in MATERIAL_WEATHER) + (heavy_rain, low_visibility)


def with_stale_reason(reasons: list[Reason]) -> list[Reason]:
    """``reasons`` and, once, WEATHER_STALE: the decision was made with stale or unknown zone weather.

    >>> [r.code for r in with_stale_reason(with_stale_reason([]))]
    ['WEATHER_STALE']
    """
    if any(r.code == WEATHER_STALE_CODE for r in reasons):
        return reasons
    return [*reasons, Reason(code=WEATHER_STALE_CODE, text=reason_text(WEATHER_STALE_CODE, None))]


def key_mismatch(key: bytes | None, rider_id: str, topic: str) -> InputError | None:
    """Why a rider-keyed record's Kafka key is not its ``rider_id`` (the partition follows the key), or None.

    >>> key_mismatch(b"r1", "r1", "telemetry.wearable") is None
    True
    >>> print(key_mismatch(b"r1\\n", "r1", "telemetry.wearable").reason)  # doctest: +ELLIPSIS
    the record key 'r1\\n' is not its rider_id 'r1': key telemetry.wearable records by rider_id ...
    >>> key_mismatch(None, "r1", "t").error_class
    'key_mismatch'
    """
    if key is None:
        found = f"the record has no key (null); its rider_id is {rider_id!r}"
    elif not key:
        found = f"the record key is empty; its rider_id is {rider_id!r}"
    else:
        try:
            text = key.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text == rider_id:
            return None
        found = f"the record key {text[:64]!r} is not its rider_id {rider_id!r}" if text is not None else \
            f"the record key {key[:64]!r} is not UTF-8; its rider_id is {rider_id!r}"
    return InputError("key_mismatch", f"{found}: key {topic} records by rider_id (UTF-8, exactly, no "
                      f"whitespace) so that all of a rider's records reach the worker holding its state; "
                      f"the producer must set key=rider_id")


class Processor:
    """Turns raw record batches into state updates and decisions, with the collaborators it owns."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topics = settings.topics
        self.role_by_topic = {v: k for k, v in settings.topics.by_role().items()}
        self.feature_cfg = settings.features
        self.policy = AlertPolicy(settings.alerts)
        self.premium = PremiumCalculator(settings.premium)
        self.hmac_key = settings.privacy.hmac_key.get_secret_value().encode()
        self.hot: dict[str, RiderSlot] = {}
        self.zones = ZoneStore(settings.features)  # every zone, fed by this worker's weather feed
        self.zones_missing: set[str] = set()  # warned about once each
        self._same_weather: dict[str, list[Any]] = {}  # rider -> [zone, obs ts] found not materially different
        self._heat_by_zone: dict[str, tuple[ZoneWeather, float | None]] = {}  # zone -> (observation, its heat index)
        self.zone_labels = metrics.ZoneLabels(settings.metrics.max_zone_labels)
        self.stream_now = -math.inf  # newest event time seen on the rider topics (the expiry clock)
        self._last_expiry = -math.inf
        self.rider_store: RiderStore = {}
        self.models = ModelHost(settings.worker, priced=(self.premium, self.policy))
        self.escalations = Escalations(settings.worker.fall_response_timeout_s, self.models.model_versions)

    # ------------------------------------------------------------------ the model host, as callers know it
    @property
    def scorer(self) -> BlendedScorer:
        return self.models.scorer

    @property
    def online(self) -> OnlineRiskModel:
        return self.models.online

    @property
    def labels(self) -> LabelBuffer:
        return self.models.labels

    def maybe_reload_models(self) -> bool:
        return self.models.maybe_reload_models()

    def save_online_model(self, if_changed: bool = False) -> bool:
        return self.models.save_online_model(if_changed)

    # ------------------------------------------------------------------ state
    def bind_state(self, rider_store: RiderStore) -> None:
        self.rider_store = rider_store

    def slot(self, rider_id: str) -> RiderSlot:
        slot = self.hot.get(rider_id)
        if slot is None:
            stored = self.rider_store.get(rider_id)
            slot = RiderSlot.from_dict(stored) if stored else RiderSlot.new(rider_id)
            if stored and stored.get("labels"):
                self.models.labels.load_rider(rider_id, stored["labels"])
            self.hot[rider_id] = slot
        return slot

    def stored_state(self, rider_id: str) -> dict[str, Any]:
        """The rider's state for the table: its slot, and its pending labels from the label buffer (their owner)."""
        state = self.hot[rider_id].to_dict()
        state["labels"] = self.models.labels.rider_dict(rider_id)
        return state

    def forget_riders(self) -> None:
        self.hot.clear()
        self._same_weather.clear()
        self.models.labels.clear()

    def zone(self, zone_id: str | None) -> ZoneWeather | None:
        return self.zones.get(zone_id)

    def zone_label(self, zone_id: str | None) -> str:
        """The zone as a metric label: a zone with weather (bounded), else ``other``."""
        return self.zone_labels.label(zone_id, lambda: self.zone(zone_id) is not None)

    # ------------------------------------------------------------------ batches
    def process_weather(self, records: Iterable[RawRecord], *, dead_letters: bool = True) -> BatchResult:
        """Update zone weather; this worker's online riders whose weather changed materially are scored at once.

        A rider is judged by its zone's weather as of its newest event time (:meth:`ZoneStore.at`), so an
        observation stamped after that changes nothing for it now. That covers weather arriving after the
        riders' telemetry (a backlog read faster on one topic than another): they are not left with
        "weather unknown" until their next event. Offline riders are not scored (no push alert about a zone
        they left at sign-off); their next shift's first score uses the zone's weather then.
        ``dead_letters=False`` is the weather feed's call: every worker reads every weather record, and
        only the weather agent (one worker, through the consumer group) dead-letters and counts them
        (:meth:`check_weather`).
        """
        batch = Batch()
        changed: set[str] = set()
        for rec in records:
            try:
                obs = self._parse(batch if dead_letters else None, rec, WeatherObservation)
                if obs is None:
                    continue
                before, zone = self.zones.apply(obs)
                signature_changed = (weather_signature(before, obs.epoch, self.feature_cfg)
                                     != weather_signature(zone, obs.epoch, self.feature_cfg))
            except Exception as exc:  # one record's failure must not stop every worker's weather: skip it, go on
                metrics.PROCESSING_ERRORS.labels(stage="weather").inc()
                log.exception("applying weather from %s[%d]@%d failed", rec.topic, rec.partition, rec.offset)
                if dead_letters:
                    self._dead_letter(batch, rec, InputError("processing_error", f"{type(exc).__name__}: {exc}"))
                continue
            if signature_changed:
                changed.add(obs.zone_id)
            if dead_letters:
                metrics.records(rec.topic, "processed").inc()
        metrics.WEATHER_ZONES.set(len(self.zones))
        if changed:
            for rider_id, slot in self.hot.items():
                newest = slot.features.newest_ts()
                if (slot.features.zone_id in changed and newest is not None
                        and self._weather_changed(slot, newest)):
                    self._snapshot(batch, rider_id, newest)
            scored = {p.rider_id for p in batch.points}
            self._flush(batch)
            for rider_id in scored:
                batch.result.states[rider_id] = self.stored_state(rider_id)
        metrics.WEATHER_STALE_ZONES.set(self.zones.stale_zones(self.stream_now))
        return batch.result

    def check_weather(self, records: Iterable[RawRecord]) -> BatchResult:
        """The weather agent's part: dead-letter bad weather records and count each record, once across workers.

        The zones themselves are updated by every worker's weather feed (``process_weather``).
        """
        batch = Batch()
        for rec in records:
            obs = self._parse(batch, rec, WeatherObservation)
            if obs is None:
                continue
            try:  # what every worker's feed will do with it, on a copy
                update_zone_weather(self.zones.get(obs.zone_id), obs, self.feature_cfg)
            except Exception as exc:
                self._dead_letter(batch, rec, InputError("processing_error", f"{type(exc).__name__}: {exc}"))
                continue
            metrics.records(rec.topic, "processed").inc()
        return batch.result

    def process_batch(self, records: Iterable[RawRecord]) -> BatchResult:
        """Apply a batch of rider records in event-time order and decide at every score point on the way.

        Records are parsed first (bad ones dead-lettered), then applied merged by event time; the records of
        one rider, topic and partition keep their offset order (a state recognises a record read again by
        its offset). After each record the rider gets a score point when due (:meth:`_due`): its features as
        of that event time. All points are scored in one model call at the end of the batch and decided in
        event-time order; an incident or response, or a record of a rider with an open or just flagged fall
        question, first decides the points before it, so answers, labels and escalations see what came before.
        """
        batch = Batch()
        started = time.time()
        timestamps: list[float] = []
        runs: dict[tuple[str, str, int], list[tuple[float, int, RawRecord, str, RiderKeyedRecord]]] = {}
        for seq, rec in enumerate(self._expand(batch, records)):
            role = self.role_by_topic.get(rec.topic)
            if rec.timestamp:
                timestamps.append(rec.timestamp)
            model = RIDER_MODELS.get(role or "")
            if model is None:
                log.warning("record from unexpected topic %s[%s]@%s", rec.topic, rec.partition, rec.offset)
                continue
            try:
                parsed = self._parse_rider(batch, rec, model)
            except Exception as exc:  # a bug must not stop the stream: dead-letter the record, keep going
                self._failed(batch, rec, exc)
                continue
            if parsed is not None:
                assert role is not None
                runs.setdefault((parsed.rider_id, rec.topic, rec.partition), []).append(
                    (parsed.epoch, seq, rec, role, parsed))
        for _, _, rec, role, parsed in heapq.merge(*runs.values(), key=lambda item: item[0]):
            try:
                self._step(batch, rec, role, parsed)
            except Exception as exc:  # a bug must not stop the stream: dead-letter the record, keep going
                self._failed(batch, rec, exc)
        self._flush(batch)
        for rider_id in list(batch.touched):
            self.escalations.escalate_if_overdue(batch.result, self.hot[rider_id])
        self._sweep_labels(batch)
        self._expire_riders(batch)
        metrics.WEATHER_STALE_ZONES.set(self.zones.stale_zones(self.stream_now))
        for rider_id in batch.touched:
            batch.result.states[rider_id] = self.stored_state(rider_id)
        done = time.time()
        metrics.observe_many(metrics.EVENT_LATENESS, batch.lateness)
        metrics.observe_many(metrics.PROCESSING_LATENCY, [max(0.0, done - ts) for ts in timestamps])
        log.debug("batch of %d records took %.1f ms", len(timestamps), (done - started) * 1000)
        return batch.result

    def _failed(self, batch: Batch, rec: RawRecord, exc: Exception) -> None:
        log.exception("processing %s[%d]@%d failed", rec.topic, rec.partition, rec.offset)
        metrics.PROCESSING_ERRORS.labels(stage="apply").inc()
        self._dead_letter(batch, rec, InputError("processing_error", f"{type(exc).__name__}: {exc}"))

    def _step(self, batch: Batch, rec: RawRecord, role: str, parsed: RiderKeyedRecord) -> None:
        """Apply one parsed rider record, then give its rider a score point if one is due."""
        rider_id = parsed.rider_id
        slot = self.slot(rider_id)
        if rider_id in batch.pointed and (role in ("incidents", "responses") or slot.pending is not None
                                          or rider_id in batch.falls):
            self._flush(batch)  # what comes next must see the decisions before it (a question asked, a risk)
        if isinstance(parsed, WearableReading):
            self._apply(batch, rec, slot, parsed, update_wearable)
        elif isinstance(parsed, TripPoint):
            self._apply(batch, rec, slot, parsed, update_trip)
        elif isinstance(parsed, Incident):
            self._incident(batch, rec, slot, parsed)
            return
        else:
            self._response(batch, rec, slot, parsed)
            return
        now = slot.features.newest_ts()
        if now is None:
            return
        if slot.pending is not None and rider_id not in batch.pointed:
            self.escalations.escalate_if_overdue(batch.result, slot)  # at the event time that ran it out
        if self._due(slot, now, rider_id in batch.urgent):
            self._snapshot(batch, rider_id, now)

    def check_escalations(self, wall_now: float) -> BatchResult:
        """Timer hook: escalate questions left unanswered while the rider's device went silent."""
        result = BatchResult()
        for slot in [s for s in self.hot.values() if s.pending]:
            self.escalations.escalate_if_overdue(result, slot, wall_now)
        for rider_id in {key for role, key, _ in result.outputs if role == "escalations"}:
            result.states[rider_id] = self.stored_state(rider_id)
        return result

    def _sweep_labels(self, batch: Batch) -> None:
        """Riders gone silent: their snapshots are learned once past horizon + grace (:meth:`ModelHost.sweep_labels`)."""
        newest = max((t for t in batch.touched.values() if math.isfinite(t)), default=-math.inf)
        for rider_id in self.models.sweep_labels(newest):
            if rider_id in self.hot:
                batch.result.states[rider_id] = self.stored_state(rider_id)

    def _expire_riders(self, batch: Batch) -> None:
        """Drop riders silent for ``worker.rider_ttl_s`` of the stream's event time: from memory, and from the
        table (``None`` in the result's states is a tombstone). Daily in event time; riders only in the table
        (silent since this worker took them over) are found through the store's ``keys()`` if it has one.
        """
        touched = batch.touched
        self.stream_now = max([self.stream_now, *(t for t in touched.values() if math.isfinite(t))])
        if self.stream_now - self._last_expiry < EXPIRY_SWEEP_EVERY_S:
            return
        self._last_expiry = self.stream_now
        cutoff = self.stream_now - self.settings.worker.rider_ttl_s
        stored = getattr(self.rider_store, "keys", None)
        for rider_id in ({*self.hot, *(stored() if stored else ())} - touched.keys()):
            slot = self.hot.get(rider_id)
            if slot is not None:
                newest, asked = slot.features.newest_ts(), slot.pending
            else:
                state = self.rider_store.get(rider_id) or {}
                times = [state.get("features", {}).get(k) for k in ("wearable_ts", "trip_ts")]
                newest = max((t for t in times if t is not None), default=None)
                asked = state.get("pending")
            if asked or newest is None or newest >= cutoff:
                continue  # an open fall question is escalated first; a rider with no event time is not judged
            self.hot.pop(rider_id, None)
            self._same_weather.pop(rider_id, None)
            self.models.learn(self.models.labels.expire(rider_id, math.inf))  # held snapshots are learned, not lost
            batch.result.states[rider_id] = None
            log.info("rider %s silent since %s (event time), past worker.rider_ttl_s = %.0f s: state deleted",
                     rider_id, datetime.fromtimestamp(newest, timezone.utc).isoformat(),
                     self.settings.worker.rider_ttl_s)

    def _expand(self, batch: Batch, records: Iterable[RawRecord]) -> Iterator[RawRecord]:
        """Each record, an envelope's records one by one (``index`` and ``decoded`` set); an envelope
        wrong as a whole is dead-lettered here (``streams.parsing.envelope_items``)."""
        limit = self.settings.worker.max_payload_bytes
        for rec in records:
            if self.role_by_topic.get(rec.topic) not in ENVELOPE_MODELS:
                yield rec
                continue
            try:
                items = envelope_items(rec.value, limit)
            except InputError as err:
                self._dead_letter(batch, rec, err)
                continue
            if items is None:
                yield rec
                continue
            metrics.ENVELOPES.labels(topic=rec.topic).inc()
            for index, item in enumerate(items):
                yield RawRecord(rec.topic, rec.partition, rec.offset, rec.key, None, rec.timestamp, index, item)

    def _parse(self, batch: Batch | None, rec: RawRecord, model: type[Parsed]) -> Parsed | None:
        """The record as ``model``, or None: dead-lettered into ``batch`` (None: the weather feed, which does not)."""
        try:
            parsed, unknown = (parse_input(model, rec.value, self.settings.worker.max_payload_bytes)
                               if rec.index is None else validate_decoded(model, rec.decoded))
            for name, why in unknown if batch is not None else ():  # counted once, like dead letters
                # the record is used; only these fields are unknown (streams/parsing.py)
                metrics.UNKNOWN_FIELDS.labels(topic=rec.topic, field=name, why=why).inc()
                log.warning("%s[%d]@%d%s: %s is %s: used as unknown, the rest of the record is kept",
                            rec.topic, rec.partition, rec.offset, "" if rec.index is None else f"#{rec.index}",
                            name, why.replace("_", " "))
            floor = self.settings.worker.min_event_time
            if parsed.ts < floor:
                raise InputError("implausible_timestamp", f"ts {parsed.ts.isoformat()} is before worker.min_event_time "
                                 f"{floor.isoformat()}: the device clock is probably unset; fix the device clock, or "
                                 "lower RISKSTREAM_WORKER__MIN_EVENT_TIME to replay older data")
            ahead = parsed.epoch - time.time()
            if ahead > self.settings.worker.max_future_skew_s:
                # it would move the rider's clock forward and make every true event "too late"
                raise InputError("future_timestamp", f"ts {parsed.ts.isoformat()} is {ahead:.0f} s ahead of this "
                                 f"worker's clock (limit {self.settings.worker.max_future_skew_s:.0f} s)")
            return parsed
        except InputError as err:
            if batch is not None:  # None: the weather feed; the weather agent dead-letters its bad records
                self._dead_letter(batch, rec, err)
            return None

    def _parse_rider(self, batch: Batch, rec: RawRecord, model: type[RiderKeyed]) -> RiderKeyed | None:
        """``_parse`` for the rider-keyed topics: a record whose key is not its rider_id is dead-lettered."""
        parsed = self._parse(batch, rec, model)
        if parsed is not None:
            err = key_mismatch(rec.key, parsed.rider_id, rec.topic)
            if err is not None:
                self._dead_letter(batch, rec, err)
                return None
        return parsed

    def _dead_letter(self, batch: Batch, rec: RawRecord, err: InputError, outcome: str = "dead_letter",
                     original: tuple[int, str] | None = None) -> None:
        letter = dead_letter(
            source_topic=rec.topic, partition=rec.partition, offset=rec.offset, key=rec.key, raw=rec.payload(), error=err,
            original=original, record_ts=rec.timestamp, index=rec.index,
        )
        batch.result.outputs.append(("dlq", letter.source_topic, letter.model_dump_json().encode()))
        metrics.records(rec.topic, outcome).inc()
        metrics.DEAD_LETTERS.labels(topic=rec.topic, reason=err.error_class).inc()
        log.warning(
            "dead letter from %s[%d]@%d key=%s: %s: %s",
            rec.topic, rec.partition, rec.offset, letter.key, err.error_class, err.reason,
        )

    def _apply(self, batch: Batch, rec: RawRecord, slot: RiderSlot, parsed: RiderReading,
               update: FeatureUpdate) -> None:
        if self._replayed(batch, rec, slot):
            return
        ready = self._confirmed(batch, rec, slot, parsed)
        if not ready:
            newest = slot.features.newest_ts()
            if newest is not None:
                batch.touched.setdefault(parsed.rider_id, newest)  # its held record is part of the state to write
        for ready_rec, ready_parsed in ready:
            self._update(batch, ready_rec, slot, ready_parsed, update)

    def _confirmed(self, batch: Batch, rec: RawRecord, slot: RiderSlot,
                   parsed: RiderReading) -> list[tuple[RawRecord, RiderReading]]:
        """The records of this stream to apply now, oldest first; a jump ahead of the stream waits for confirmation."""
        model = type(parsed)
        stream = "wearable" if model is WearableReading else "trip"
        jump = self.settings.worker.max_stream_jump_s
        own = slot.features.wearable_ts if model is WearableReading else slot.features.trip_ts
        mark = own if own is not None else slot.features.newest_ts()  # a new stream is judged by the other one
        held = slot.held.pop(stream, None)
        held_pair: tuple[RawRecord, RiderReading] | None = None
        if held is not None:
            held_pair = (RawRecord(held["topic"], held["partition"], held["offset"],
                                   held["key"].encode() if held["key"] is not None else None,
                                   held["value"].encode(), None, held.get("index")), model.model_validate(held["record"]))
        if held_pair is not None and held_pair[1].event_id == parsed.event_id:  # read again: it confirms nothing
            slot.held[stream] = held
            metrics.records(rec.topic, "duplicate").inc()
            return []
        if mark is None or parsed.epoch <= mark + jump:
            ready = [(rec, parsed)]
            if held_pair is not None:
                if held_pair[1].epoch <= max(mark or -math.inf, parsed.epoch) + jump:  # the stream caught up
                    ready.append(held_pair)
                else:
                    slot.held[stream] = held
        elif held_pair is not None and abs(parsed.epoch - held_pair[1].epoch) <= jump:
            ready = [held_pair, (rec, parsed)]  # the jump is confirmed by a second record near it
        else:
            if held_pair is not None:
                assert held is not None
                self._dead_letter(batch, held_pair[0], InputError(
                    "unconfirmed_jump", f"ts {held_pair[1].ts.isoformat()} was more than {jump:.0f} s "
                    f"(worker.max_stream_jump_s) ahead of rider {parsed.rider_id}'s {stream} stream and no later "
                    "record confirmed it; a device clock that jumped?"), original=(held["size"], held["sha256"]))
            payload = rec.payload()
            slot.held[stream] = {"topic": rec.topic, "partition": rec.partition, "offset": rec.offset, "index": rec.index,
                                 "key": rec.key.decode("utf-8", "replace") if rec.key is not None else None,
                                 "value": (payload or b"")[:HELD_PAYLOAD_BYTES].decode("utf-8", "replace"),
                                 "size": len(payload or b""), "sha256": hashlib.sha256(payload or b"").hexdigest(),
                                 "record": parsed.model_dump(mode="json")}
            log.info("holding %s[%d]@%d of rider %s: ts %s is %.0f s ahead of its %s stream; applied when a next "
                     "record confirms it", rec.topic, rec.partition, rec.offset, parsed.rider_id,
                     parsed.ts.isoformat(), parsed.epoch - mark, stream)
            return []
        return ready if len(ready) == 1 else sorted(ready, key=lambda pair: pair[1].epoch)

    def _update(self, batch: Batch, rec: RawRecord, slot: RiderSlot, parsed: RiderReading,
                update: FeatureUpdate) -> None:
        fall_before = slot.features.fall_ts
        if isinstance(parsed, TripPoint):
            hi = self._heat_index(parsed.zone_id, parsed.epoch)  # as of the record, stale or not
            outcome = update(slot.features, parsed, self.feature_cfg, zone_heat_index_c=hi)
        else:
            outcome = update(slot.features, parsed, self.feature_cfg)
        if outcome is UpdateResult.TOO_LATE:
            newest = slot.features.newest_ts()
            behind = f"{newest - parsed.epoch:.0f} s" if newest is not None else "too far"
            self._dead_letter(batch, rec, InputError(
                "too_late", f"ts {parsed.ts.isoformat()} is {behind} behind rider {parsed.rider_id}'s newest event; "
                f"events more than features.allowed_lateness_s = {self.feature_cfg.allowed_lateness_s:.0f} s late "
                "(or older than the state keeps) are not applied"), outcome="too_late")
        else:
            label = "processed" if outcome is UpdateResult.APPLIED else "duplicate"
            metrics.records(rec.topic, label).inc()
        slot.count(self.role_by_topic[rec.topic], outcome.value)
        batch.touched.setdefault(parsed.rider_id, -math.inf)  # its state is written with the new count
        newest = slot.features.newest_ts()
        if newest is None:
            return
        if outcome is UpdateResult.APPLIED:
            batch.lateness.append(max(0.0, newest - parsed.epoch))
        batch.touch(parsed.rider_id, newest)
        if slot.features.fall_ts != fall_before:
            batch.urgent.add(parsed.rider_id)  # a suspected fall is decided now, not at the next cadence

    def _heat_index(self, zone_id: str | None, now: float) -> float | None:
        """:func:`features.zone_heat_index_c` of the zone's weather as of ``now``, computed once per observation
        (every trip record needs it; a zone's observations change every few minutes)."""
        zone = self.zones.at(zone_id, now)
        if zone is None or zone_id is None:
            return None
        known = self._heat_by_zone.get(zone_id)
        if known is None or known[0] is not zone:  # the store's observations are replaced, never changed in place
            known = self._heat_by_zone[zone_id] = (zone, zone_heat_index_c(zone))
        return known[1]

    def _replayed(self, batch: Batch, rec: RawRecord, slot: RiderSlot) -> bool:
        """True, and counted, if the rider's state absorbed this record already (read again after a crash)."""
        role = self.role_by_topic[rec.topic]
        if slot.absorb(role, rec.partition, rec.offset, rec.index):
            return False
        rider_id = slot.features.rider_id
        slot.count(role, "replayed")
        metrics.records(rec.topic, "replayed").inc()
        batch.touched.setdefault(rider_id, -math.inf)
        log.debug("rider %s: %s[%d]@%d is in its state already (read again after a restart)", rider_id, rec.topic,
                  rec.partition, rec.offset)
        return True

    def _incident(self, batch: Batch, rec: RawRecord, slot: RiderSlot, incident: Incident) -> None:
        if self._replayed(batch, rec, slot):
            return
        labels = self.models.labels
        metrics.INCIDENTS.labels(kind=incident.kind.value).inc()
        metrics.records(rec.topic, "processed").inc()
        slot.count("incidents", "applied")
        batch.touched.setdefault(incident.rider_id, -math.inf)  # replaced by the newest event time below, if known
        self.models.check_misjudgement(slot.last_risk, incident)
        marked = labels.on_incident(incident.rider_id, incident.epoch, incident.kind.value)
        log.info("incident %s of rider %s at %s (%s[%d]@%d): feature snapshots marked positive: %d; the online "
                 "model learns them when they are %.0f min old", incident.kind.value, incident.rider_id,
                 incident.ts.isoformat(), rec.topic, rec.partition, rec.offset, marked.labelled,
                 (labels.horizon_s + labels.grace_s) / 60.0)
        if marked.too_late:
            target = "accident" if is_accident(incident.kind) else "injury"
            metrics.ONLINE_LATE_LABELS.labels(target=target).inc()
            log.warning("incident %s of rider %s at %s (%s[%d]@%d) reported after some of its snapshots were learned "
                        "as negatives (worker.label_grace_s = %.0f s)", incident.kind.value, incident.rider_id,
                        incident.ts.isoformat(), rec.topic, rec.partition, rec.offset, labels.grace_s)
        newest = slot.features.newest_ts()
        if newest is not None:
            batch.touch(incident.rider_id, newest)

    def _response(self, batch: Batch, rec: RawRecord, slot: RiderSlot, answer: RiderResponse) -> None:
        if self._replayed(batch, rec, slot):
            return
        metrics.records(rec.topic, "processed").inc()
        slot.count("responses", "applied")
        batch.touched.setdefault(answer.rider_id, -math.inf)  # its state is written with the new count
        self.escalations.answer(batch.result, rec, slot, answer)
        newest = slot.features.newest_ts()
        if newest is not None:
            batch.touch(answer.rider_id, newest)

    # ------------------------------------------------------------------ decisions
    def _due(self, slot: RiderSlot, now: float, fall: bool) -> bool:
        """Is the rider due a score point at ``now``: a fall just flagged, its cadence, or (online) its weather."""
        if fall or now - slot.last_scored >= self.settings.worker.score_every_event_s:
            return True
        if slot.features.status not in ONLINE_STATUSES:
            return False
        try:
            return self._weather_changed(slot, now)
        except Exception:  # the cadence's snapshot reads the same weather, and counts and logs its failure
            log.debug("weather of rider %s at %s unreadable; scored at its cadence", slot.features.rider_id, now)
            return False

    def _weather_changed(self, slot: RiderSlot, now: float) -> bool:
        """Did the rider's weather as of ``now`` change materially since the observation its last score used?"""
        zone_id = slot.features.zone_id
        zone = self.zones.at(zone_id, now)
        key = [zone_id, zone.ts if zone is not None else None]
        seen = slot.weather_at
        if seen == key or self._same_weather.get(slot.features.rider_id) == key:
            return False
        before = self.zones.at(seen[0], seen[1]) if seen is not None and seen[1] is not None else None
        if weather_signature(before, now, self.feature_cfg) != weather_signature(zone, now, self.feature_cfg):
            return True
        self._same_weather[slot.features.rider_id] = key  # compared once, not again at every record
        return False

    def _snapshot(self, batch: Batch, rider_id: str, now: float) -> None:
        """The rider's features as of event time ``now`` with its zone's weather as of then: a score point."""
        slot = self.hot[rider_id]
        zone_id = slot.features.zone_id
        cfg = self.feature_cfg
        try:
            zone = self.zones.at(zone_id, now)
            if zone is None and zone_id is not None and zone_id not in self.zones_missing:
                self.zones_missing.add(zone_id)
                log.warning("no weather for zone %s as of %s (rider %s): scored with weather unknown", zone_id,
                            datetime.fromtimestamp(now, timezone.utc).isoformat(), rider_id)
            row = rider_features(slot.features, zone, now, cfg)
            stale = stale_weather_features(zone, now, cfg)
            floor = None
            if zone is not None and stale:
                floor = {**row, **last_known_weather_features(zone, cfg)}
                row.update((name, math.nan) for name in stale if name in FAST_WEATHER_FEATURES)
        except Exception:  # one rider's state must not stop the others or the stream
            metrics.PROCESSING_ERRORS.labels(stage="features").inc()
            log.exception("features of rider %s (zone %s) at event time %s failed; not scored this round",
                          rider_id, zone_id, now)
            return
        batch.points.append(ScorePoint(rider_id, now, row, slot.features.status in ONLINE_STATUSES,
                                       stale=bool(stale) or (zone is None and zone_id is not None), floor=floor))
        batch.pointed.add(rider_id)
        if rider_id in batch.urgent:
            batch.urgent.discard(rider_id)
            batch.falls.add(rider_id)
        slot.last_scored = now
        slot.weather_at = [zone_id, zone.ts if zone is not None else None]
        self._same_weather.pop(rider_id, None)

    def _flush(self, batch: Batch) -> None:
        """Score every waiting point in one model call and decide them in event-time order."""
        points = batch.points
        if not points:
            return
        batch.points, batch.pointed, batch.falls = [], set(), set()
        floors = [p.floor for p in points if p.floor is not None]
        # no published output carries the model's reasons (alerts take the policy's, insurer records the premium
        # signal's): no TreeSHAP, several times the cost of the prediction
        scored = self.models.scorer.score_batch([p.row for p in points] + floors, explain=False)
        metrics.SCORING_BATCH.observe(len(points))
        versions = self.models.model_versions()
        floor_scores = iter(scored[len(points):])
        for point, risk_out in zip(points, scored):
            if point.floor is not None:  # stale weather never lowers risk below the last known weather's
                floor_risk = next(floor_scores)
                risk_out = replace(risk_out, injury=max(risk_out.injury, floor_risk.injury),
                                   accident=max(risk_out.accident, floor_risk.accident))
            try:
                self._decide(batch, point, risk_out, versions)
            except Exception:  # one rider's failure must not stop the others or the stream
                metrics.PROCESSING_ERRORS.labels(stage="decide").inc()
                log.exception("deciding for rider %s at event time %s failed; skipped this round",
                              point.rider_id, point.now)

    def _decide(self, batch: Batch, point: ScorePoint, scored: ScoredRisk, versions: dict[str, str]) -> None:
        result = batch.result
        rider_id, now, feats = point.rider_id, point.now, point.row
        slot = self.hot[rider_id]
        slot.last_risk = [scored.injury, scored.accident]
        risk = RiskScores(injury=scored.injury, accident=scored.accident, horizon_min=self.models.horizon_min)
        metrics.SCORES.observe(scored.any_event)
        conservative = scored.conservative
        for decision in self.policy.evaluate(slot.alerts, feats, risk, now, relative=not conservative,
                                             online=point.online):
            if point.stale:
                decision = replace(decision, reasons=with_stale_reason(decision.reasons))
            revision = slot.revisions.next(alert_identity(decision), now)
            alert = build_rider_alert(rider_id, decision, now, versions, risk=risk, conservative_mode=conservative,
                                      revision=revision)
            if decision.requires_response:
                self.escalations.ask(slot, alert.alert_id, now)
            result.outputs.append(("alerts", rider_id, alert.model_dump_json().encode()))
            result.audit(rider_id, audit_for_alert(rider_id, decision, now, versions, conservative, revision))
            metrics.ALERTS.labels(kind=decision.kind, severity=decision.severity.value,
                                  zone=self.zone_label(slot.features.zone_id)).inc()
        for held in self.policy.last_suppressed:
            metrics.ALERTS_SUPPRESSED.labels(reason=held.why).inc()
        if now - slot.last_snapshot >= self.settings.worker.snapshot_every_s:
            snapshot = self.models.scorer.snapshot_row(feats, scored)
            self.models.learn(self.models.labels.add_snapshot(rider_id, now, snapshot))
            slot.last_snapshot = now
        exposure = self._exposure_hours(slot, now, point.online)  # before the update: it moves the last update's time
        priced = self.premium.update(slot.premium, risk, feats, exposure, now, hold=conservative)
        if point.stale:
            priced = replace(priced, reasons=with_stale_reason(priced.reasons))
        if should_publish(slot.premium, priced, now, self.settings.worker.premium_interval_event_s):
            pseudonym = pseudonymize(rider_id, self.hmac_key)
            revision = slot.revisions.next(PREMIUM_IDENTITY, now)  # a rescore at the same event time: a new id
            record = build_insurer_record(pseudonym, priced, versions, conservative,
                                          period_start=slot.premium.last_published_at, revision=revision)
            slot.premium.mark_published(priced, now)
            result.outputs.append(("risk_scores", pseudonym, record.model_dump_json().encode()))
            result.audit(rider_id, audit_for_premium(rider_id, priced, versions, True, conservative,
                                                     decision_id=record.event_id, revision=revision))
            metrics.PREMIUM_SIGNALS.inc()

    def _exposure_hours(self, slot: RiderSlot, now: float, online: bool) -> float:
        """Online hours since the rider's previous premium update (0 while off shift at ``now``)."""
        last = slot.premium.last_period_end
        if last is None or not online:
            return 0.0
        # a long gap means the rider was away: count at most two scoring intervals
        return min(max(0.0, now - last), 2 * self.settings.worker.score_every_event_s) / 3600.0

    def publish_gauges(self) -> None:
        metrics.publish_fleet(
            ((self.zone_label(slot.features.zone_id), slot.band, slot.features.status in ONLINE_STATUSES,
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

