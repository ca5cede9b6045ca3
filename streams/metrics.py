"""Prometheus metrics of the worker. No rider id is ever a label, and zones only known ones (bounded cardinality)."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    start_http_server,
)

from alerts.policy import SUPPRESSION_REASONS
from riskstream.contracts.errors import ConfigError

disable_created_metrics()  # *_created series double the scrape size and no dashboard reads them
REGISTRY = CollectorRegistry(auto_describe=True)

RECORDS = Counter(
    "riskstream_records_consumed_total",
    "Input records consumed, by source topic and outcome (processed, dead_letter, duplicate, too_late, "
    "replayed: read again after a restart, already in the rider's state).",
    ["topic", "outcome"],
    registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "riskstream_dead_letters_total",
    "Records sent to the dead-letter topic, by source topic and reason.",
    ["topic", "reason"],
    registry=REGISTRY,
)
UNKNOWN_FIELDS = Counter(
    "riskstream_unknown_fields_total",
    "Optional measurements the parser set to unknown while keeping the rest of the record, by source topic, field "
    "and why (out_of_range: outside the schema's bounds or not finite; inconsistent: humidity the dew point "
    "contradicts). A null or absent field is unknown as sent and not counted.",
    ["topic", "field", "why"],
    registry=REGISTRY,
)
PROCESSING_LATENCY = Histogram(
    "riskstream_processing_latency_seconds",
    "Time from a record's Kafka timestamp to the end of its batch's processing.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
EVENT_LATENESS = Histogram(
    "riskstream_event_lateness_seconds",
    "How far behind the rider's newest event an event arrived (event time).",
    buckets=(0, 1, 5, 15, 30, 60, 120, 300, 900),
    registry=REGISTRY,
)
PROCESSING_ERRORS = Counter(
    "riskstream_processing_errors_total",
    "Unexpected errors while processing (the record is dead-lettered or the rider skipped), by stage.",
    ["stage"],
    registry=REGISTRY,
)
ALERTS = Counter(
    "riskstream_alerts_total",
    "Rider alerts sent, by kind, severity and the rider's zone.",
    ["kind", "severity", "zone"],
    registry=REGISTRY,
)
ALERTS_SUPPRESSED = Counter(
    "riskstream_alerts_suppressed_total",
    "Alerts held back by policy, by reason (cooldown, hourly_cap, covered, budget, offline).",
    ["reason"],
    registry=REGISTRY,
)
ESCALATIONS = Counter(
    "riskstream_escalations_total",
    "Suspected-fall questions closed, by outcome (escalated to the safety team, cancelled by the rider).",
    ["outcome"],
    registry=REGISTRY,
)
PREMIUM_SIGNALS = Counter(
    "riskstream_premium_signals_total", "Premium signals published to insurers.", registry=REGISTRY
)
AUDIT_RECORDS = Counter(
    "riskstream_audit_records_total", "Audit records written, by decision type.", ["decision_type"], registry=REGISTRY
)
ENVELOPES = Counter(
    "riskstream_envelopes_total",
    "Envelope messages read (each record inside is counted in riskstream_records_consumed_total).",
    ["topic"],
    registry=REGISTRY,
)
INCIDENTS = Counter("riskstream_incidents_total", "Incidents reported, by kind.", ["kind"], registry=REGISTRY)
RIDERS_BY_BAND = Gauge(
    "riskstream_riders_by_risk_band",
    "Riders held by this worker, by their latest risk band and the zone of their last position.",
    ["band", "zone"],
    registry=REGISTRY,
)
RIDERS_ACTIVE = Gauge(
    "riskstream_riders_active", "Riders with state in this worker's memory.", registry=REGISTRY
)
SCORES = Histogram(
    "riskstream_risk_score",
    "Distribution of combined risk scores (probability of any event within the horizon).",
    buckets=(0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0),
    registry=REGISTRY,
)
SCORING_BATCH = Histogram(
    "riskstream_scoring_batch_riders",
    "Score points (one rider at one event time) per batched model call.",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
    registry=REGISTRY,
)
MODEL_INFO = Gauge(
    "riskstream_model_info", "Model versions in use (value 1).", ["model", "version"], registry=REGISTRY
)
CONSERVATIVE_MODE = Gauge(
    "riskstream_conservative_mode", "1 while the rule-based conservative scorer is in use.", registry=REGISTRY
)
MODEL_MISJUDGEMENTS = Counter(
    "riskstream_model_misjudgements_total",
    "Incidents the models had scored below the misjudgement threshold, by target (the circuit breaker counts them).",
    ["target"],
    registry=REGISTRY,
)
MODEL_ERRORS = Counter(
    "riskstream_model_errors_total", "Model load or scoring failures, by model.", ["model"], registry=REGISTRY
)
ONLINE_EXAMPLES = Counter(
    "riskstream_online_examples_total",
    "Labelled examples the online model learned, by label.",
    ["label"],
    registry=REGISTRY,
)
ONLINE_LATE_LABELS = Counter(
    "riskstream_online_late_labels_total",
    "Incident reports later than worker.label_grace_s: snapshots they label may have been learned as negatives.",
    ["target"],
    registry=REGISTRY,
)
ONLINE_METRIC = Gauge(
    "riskstream_online_model_metric",
    "Prequential metric of the online model, by target and metric.",
    ["target", "metric"],
    registry=REGISTRY,
)
RIDERS_ONLINE = Gauge(
    "riskstream_riders_online",
    "Riders in this worker whose latest trip status is riding or waiting, by zone of their last position.",
    ["zone"],
    registry=REGISTRY,
)
ESCALATIONS_OPEN = Gauge(
    "riskstream_escalations_open",
    "Suspected-fall questions ('Are you OK?') neither answered nor escalated yet, by zone.",
    ["zone"],
    registry=REGISTRY,
)
FALL_QUESTION_OLDEST = Gauge(
    "riskstream_fall_question_oldest_age_seconds",
    "Wall-clock age of this worker's oldest unanswered suspected-fall question (0 when none is open).",
    registry=REGISTRY,
)
SKIPPED_OFFSETS = Counter(
    "riskstream_skipped_offsets_total",
    "Input offsets a fetch skipped over (Faust would have counted them done); they are read again (issue 12).",
    ["topic"],
    registry=REGISTRY,
)
RECOVERED_BEHIND = Counter(
    "riskstream_recovered_behind_offsets_total",
    "Input records read again after a rebalance because the recovered rider states stopped short of the committed "
    "offset (docs/recovery.md).",
    ["topic"],
    registry=REGISTRY,
)
CONSUMER_LAG = Gauge(
    "riskstream_consumer_lag_records",
    "Records in a partition assigned to this worker that are not committed yet (high watermark - committed).",
    ["topic", "partition"],
    registry=REGISTRY,
)
WEATHER_ZONES = Gauge(
    "riskstream_weather_zones",
    "Zones this worker holds weather for (every worker reads all of the weather topic itself).",
    registry=REGISTRY,
)
WEATHER_STALE_ZONES = Gauge(
    "riskstream_weather_stale_zones",
    "Zones whose newest weather observation is past a freshness limit (features.weather_precip_max_age_s or "
    "features.weather_heat_max_age_s) at this worker's newest rider event time; their riders' decisions carry "
    "WEATHER_STALE.",
    registry=REGISTRY,
)
WEATHER_FEED_BEHIND = Gauge(
    "riskstream_weather_feed_behind_records",
    "Records of the weather topic this worker's weather feed has not read yet (high watermark - position).",
    registry=REGISTRY,
)

_RECORDS_CHILDREN: dict[tuple[str, str], Any] = {}


def records(topic: str, outcome: str) -> Any:
    """``RECORDS.labels(topic=topic, outcome=outcome)``, looked up once per pair: the processor counts every
    reading, and ``labels()`` (checks, string conversions, a lock) cost more than the increment. Topics are the
    worker's input topics and outcomes a fixed set, so the cache is bounded. No code removes RECORDS' children."""
    child = _RECORDS_CHILDREN.get((topic, outcome))
    if child is None:
        child = _RECORDS_CHILDREN[(topic, outcome)] = RECORDS.labels(topic=topic, outcome=outcome)
    return child


def observe_many(histogram: Histogram, amounts: Iterable[float]) -> None:
    """``histogram.observe(a)`` for every amount, with one increment per bucket and one of the sum.

    For the per-reading histograms, observed once per batch instead of once per reading. It uses the unlabelled
    histogram's own bucket values (``prometheus_client`` 0.2x internals): ``tests/unit/test_streams_decision_path.py``
    checks that it counts exactly as ``observe`` does.
    """
    bounds = histogram._upper_bounds
    counts = [0] * len(bounds)
    total = 0.0
    for amount in amounts:
        counts[bisect_left(bounds, amount)] += 1  # the first bucket whose bound is >= amount, as observe() picks
        total += amount
    if not any(counts):
        return
    histogram._sum.inc(total)
    for bucket, n in zip(histogram._buckets, counts):
        if n:
            bucket.inc(n)


#: Zone label of a rider with no trip position yet.
UNKNOWN_ZONE = "unknown"
#: Zone label of a rider in a zone that is not a known zone (see :class:`ZoneLabels`).
OTHER_ZONE = "other"


class ZoneLabels:
    """The zones that may be a metric label: at most ``limit``, each one known to have weather.

    A zone id comes from input records, so any string could become a series; only a zone that
    ``has_weather`` confirms (it is on ``telemetry.weather``) gets its own label, first come up
    to ``limit``; every other zone is counted as ``other``.

    >>> labels = ZoneLabels(limit=2)
    >>> [labels.label(z, lambda: z != "junk") for z in ("z1", "junk", "z2", "z3", "z1", None)]
    ['z1', 'other', 'z2', 'other', 'z1', 'unknown']
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.known: set[str] = set()

    def label(self, zone_id: str | None, has_weather: Callable[[], bool]) -> str:
        if zone_id is None:
            return UNKNOWN_ZONE
        if zone_id in self.known:
            return zone_id
        if len(self.known) < self.limit and has_weather():
            self.known.add(zone_id)
            return zone_id
        return OTHER_ZONE


BANDS = ("low", "moderate", "high", "severe")


# Known label values start at 0, so rules and panels see the series before the first event
# (an absent series makes `rate()` and `increase()` return nothing instead of 0).
for _kind in ("crash", "fall", "heat_illness", "exhaustion"):  # riskstream.contracts.records.IncidentKind
    INCIDENTS.labels(kind=_kind)
for _why in SUPPRESSION_REASONS:
    ALERTS_SUPPRESSED.labels(reason=_why)
for _label in ("positive", "negative"):
    ONLINE_EXAMPLES.labels(label=_label)
MODEL_ERRORS.labels(model="lightgbm")
for _target in ("injury", "accident"):  # models.artifact.TARGETS
    ONLINE_LATE_LABELS.labels(target=_target)
for _outcome in ("escalated", "cancelled"):
    ESCALATIONS.labels(outcome=_outcome)


def serve(host: str, port: int) -> None:
    """Serve ``/metrics`` from a background thread; port 0 disables it."""
    if not port:
        return
    try:
        start_http_server(port, addr=host, registry=REGISTRY)
    except OSError as exc:
        raise ConfigError(
            f"cannot serve metrics on {host}:{port} ({exc.strerror}): another worker may be running there; "
            f"set RISKSTREAM_METRICS__PORT to a free port, or 0 to turn metrics off"
        ) from None


def scrape(port: int, host: str = "127.0.0.1", timeout: float = 2.0) -> str | None:
    """The text of a worker's ``/metrics`` page, or None when nothing answers."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=timeout) as resp:
            return resp.read().decode()
    except OSError:
        return None


def metric_value(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` in a scrape whose labels include ``labels``.

    >>> metric_value('a_total{k="x"} 2\\na_total{k="y"} 3\\n', "a_total", k="y")
    3.0
    """
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def set_model_versions(versions: dict[str, str]) -> None:
    MODEL_INFO.clear()
    for model, version in versions.items():
        MODEL_INFO.labels(model=model, version=version).set(1)


# ----------------------------------------------------------------------------- push gateway (riskstream/push/gateway.py)

PUSH_DELIVERIES = Counter(
    "riskstream_push_deliveries_total",
    "Alerts finished by the push gateway, by outcome (delivered, duplicate = the provider already had it, "
    "dead_letter).",
    ["outcome"],
    registry=REGISTRY,
)
PUSH_ATTEMPTS = Counter(
    "riskstream_push_attempts_total",
    "HTTP attempts to the push webhook, by result (ok, duplicate, retryable_status, timeout, connection_error, "
    "rejected).",
    ["result"],
    registry=REGISTRY,
)
PUSH_RETRIES = Counter(
    "riskstream_push_retries_total", "Attempts after the first one (each followed a backoff wait).", registry=REGISTRY
)
PUSH_LATENCY = Histogram(
    "riskstream_push_delivery_latency_seconds",
    "Time from an alert's first attempt to its acceptance by the push provider, retries and backoff included.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
    registry=REGISTRY,
)
PUSH_IN_FLIGHT = Gauge(
    "riskstream_push_in_flight", "Alerts being delivered now (attempting or waiting to retry).", registry=REGISTRY
)
for _outcome in ("delivered", "duplicate", "dead_letter"):  # riskstream.push.gateway.PushGateway.handle
    PUSH_DELIVERIES.labels(outcome=_outcome)
for _result in ("ok", "duplicate", "retryable_status", "timeout", "connection_error", "rejected"):  # push_delivery
    PUSH_ATTEMPTS.labels(result=_result)


def _set_family(gauge: Gauge, values: dict[tuple[str, ...], float], previous: set[tuple[str, ...]]) -> set[tuple[str, ...]]:
    """Set ``gauge`` to ``values`` and drop the label sets that disappeared since ``previous``.

    New values are set before stale series are removed, so a scrape never sees the family empty.
    """
    for labels, value in values.items():
        gauge.labels(*labels).set(value)
    for labels in previous - values.keys():
        try:
            gauge.remove(*labels)
        except KeyError:
            pass
    return set(values)


_lag_seen: set[tuple[str, ...]] = set()


_fleet_seen: dict[str, set[tuple[str, ...]]] = {"online": set(), "escalations": set(), "bands": set()}


def publish_fleet(riders: Iterable[tuple[str | None, str | None, bool, float | None]], wall_now: float) -> None:
    """Per-zone gauges from ``(zone, band, online, asked_wall)`` of every rider held by this worker.

    ``asked_wall`` is the wall-clock time of the rider's unanswered "Are you OK?" (None if none).
    Every zone seen gets a series for each band and for ``riders_online`` and ``escalations_open``
    (zeros included), so dashboards and alert rules see the zone before anything happens in it.

    >>> publish_fleet([("z1", "high", True, None), ("z1", "low", False, 100.0), (None, None, True, None)], 130.0)
    >>> REGISTRY.get_sample_value("riskstream_riders_by_risk_band", {"band": "high", "zone": "z1"})
    1.0
    >>> REGISTRY.get_sample_value("riskstream_riders_online", {"zone": "unknown"})
    1.0
    >>> REGISTRY.get_sample_value("riskstream_escalations_open", {"zone": "z1"})
    1.0
    >>> REGISTRY.get_sample_value("riskstream_fall_question_oldest_age_seconds")
    30.0
    """
    online: dict[tuple[str, ...], float] = {}
    escalations: dict[tuple[str, ...], float] = {}
    bands: dict[tuple[str, ...], float] = {}
    oldest = 0.0
    for zone, band, is_online, asked_wall in riders:
        z = zone or UNKNOWN_ZONE
        if (z,) not in online:
            online[(z,)] = escalations[(z,)] = 0.0
            for b in BANDS:
                bands[(b, z)] = 0.0
        online[(z,)] += bool(is_online)
        if asked_wall is not None:
            escalations[(z,)] += 1
            oldest = max(oldest, wall_now - asked_wall)
        if band in BANDS:
            bands[(band, z)] += 1
    _fleet_seen["online"] = _set_family(RIDERS_ONLINE, online, _fleet_seen["online"])
    _fleet_seen["escalations"] = _set_family(ESCALATIONS_OPEN, escalations, _fleet_seen["escalations"])
    _fleet_seen["bands"] = _set_family(RIDERS_BY_BAND, bands, _fleet_seen["bands"])
    FALL_QUESTION_OLDEST.set(oldest)


def publish_consumer_lag(consumer: Any) -> None:
    """Per-partition lag of a Faust consumer (``app.consumer``); call it on the event loop.

    Lag is the high watermark minus the committed offset; a partition with nothing committed
    yet counts from the offset read so far, or as its whole high watermark if nothing was read.
    """
    lags: dict[tuple[str, ...], float] = {}
    for tp in consumer.assignment():
        try:
            high = consumer.highwater(tp)
        except Exception:  # the partition is being (re)assigned
            continue
        if high is None:
            continue
        done = consumer._committed_offset.get(tp)  # noqa: SLF001 - Faust keeps no public accessor
        if done is None:
            read = consumer._read_offset.get(tp)  # noqa: SLF001
            done = read + 1 if read is not None else 0
        lags[(tp.topic, str(tp.partition))] = float(max(0, high - done))
    global _lag_seen
    _lag_seen = _set_family(CONSUMER_LAG, lags, _lag_seen)
