"""Pydantic v2 contracts of every riskstream topic.

One model per topic. Every record carries ``event_id``, the event time ``ts`` (UTC)
and ``schema_version``. Input models reject impossible values (HR 400, negative
speed, NaN) so that a bad record becomes a dead letter with a reason, never a crash
or a silently wrong feature.

Unknown is a value: every optional measurement accepts ``null``, and an absent field
means the same as ``null`` (unknown, never a default such as gust 0 or visibility
10 km). The worker's parser (``streams.parsing``) turns an out-of-range or non-finite
*optional* measurement into unknown instead of discarding the record; see
:data:`OPTIONAL_MEASUREMENTS`.

>>> rec = WearableReading.model_validate_json(
...     '{"schema_version": 1, "event_id": "w-1", "ts": "2026-07-01T12:00:00Z",'
...     ' "rider_id": "r1", "heart_rate_bpm": 120, "skin_temp_c": 34.5,'
...     ' "accel_peak_g": 1.4, "accel_mean_g": 1.0, "accel_var": 0.02}')
>>> rec.heart_rate_bpm, rec.ts.tzinfo is not None
(120.0, True)
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from enum import Enum
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
)

SCHEMA_VERSION = 1
#: Schema versions this build can read, per input topic.
SUPPORTED_SCHEMA_VERSIONS = frozenset({1})


#: A float that must be finite: NaN and ±Infinity (which Python's JSON decoder reads) are rejected.
#: Declared as a constraint, not a validator, so that bounds added on top (``Annotated[Finite, Field(ge=…,
#: le=…)]``) stay core constraints and are exported as ``minimum``/``maximum``/``exclusiveMinimum``: a
#: validator between ``float`` and the bounds would make pydantic enforce them in Python and leave them out
#: of the JSON Schema. Standard JSON has no NaN or Infinity, so the schema needs no keyword for this.
Finite = Annotated[float, Field(allow_inf_nan=False)]
RiderId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
ZoneId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
EventId = Annotated[str, Field(min_length=1, max_length=128)]


class _Record(BaseModel):
    """Common envelope: ``schema_version``, ``event_id`` and event time ``ts``."""

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)

    schema_version: int = Field(SCHEMA_VERSION, description="Version of this record's schema.")
    event_id: EventId = Field(description="Unique id of this event; a repeated id is processed once.")
    ts: datetime = Field(description="Event time, ISO-8601; naive times are read as UTC.")

    @field_validator("ts")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)

    @property
    def epoch(self) -> float:
        """Event time as seconds since the Unix epoch."""
        return self.ts.timestamp()


class _InputRecord(_Record):
    # The bounds put the supported range in the exported schema; the validator also rejects a gap in it.
    schema_version: int = Field(
        SCHEMA_VERSION,
        ge=min(SUPPORTED_SCHEMA_VERSIONS),
        le=max(SUPPORTED_SCHEMA_VERSIONS),
        description=f"Version of this record's schema; this build reads {sorted(SUPPORTED_SCHEMA_VERSIONS)}.",
    )

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value not in SUPPORTED_SCHEMA_VERSIONS:
            raise ValueError(
                f"schema_version {value} is not supported (this build reads "
                f"{sorted(SUPPORTED_SCHEMA_VERSIONS)})"
            )
        return value


# ----------------------------------------------------------------------------- inputs


class WearableReading(_InputRecord):
    """One on-device summary per second (``telemetry.wearable``, key ``rider_id``).

    Raw 50-100 Hz accelerometer samples stay on the device; only per-second peak,
    mean and variance of the acceleration magnitude are sent.
    """

    rider_id: RiderId
    heart_rate_bpm: Annotated[Finite, Field(ge=25, le=250)] | None = Field(
        None, description="Heart rate in beats per minute; null when the sensor has no reading."
    )
    skin_temp_c: Annotated[Finite, Field(ge=15, le=45)] | None = Field(
        None, description="Skin temperature in °C (not core temperature); null when unknown."
    )
    accel_peak_g: Annotated[Finite, Field(ge=0, le=32)] | None = Field(
        None, description="Peak acceleration magnitude over the second, in g; null when unknown."
    )
    accel_mean_g: Annotated[Finite, Field(ge=0, le=32)] | None = Field(
        None, description="Mean acceleration magnitude over the second, in g (≈1 at rest); null when unknown."
    )
    accel_var: Annotated[Finite, Field(ge=0, le=256)] | None = Field(
        None, description="Variance of acceleration magnitude over the second, in g²; null when unknown."
    )
    steps: Annotated[int, Field(ge=0, le=10)] | None = Field(None, description="Steps in the second, if known.")
    on_body: bool = Field(True, description="Device-side wear detection; false when taken off.")


class TripStatus(str, Enum):
    riding = "riding"
    waiting = "waiting"  # online, stopped (restaurant, pick-up, traffic light)
    on_break = "break"
    offline = "offline"


class TripPoint(_InputRecord):
    """Trip telemetry from the rider's phone or vehicle, about 1 Hz while online (``telemetry.trip``)."""

    rider_id: RiderId
    zone_id: ZoneId = Field(description="Weather/traffic zone of the current position.")
    status: TripStatus = Field(description="riding, waiting, break or offline.")
    lat: Annotated[Finite, Field(ge=-90, le=90)] = Field(description="Latitude; never forwarded to insurers.")
    lon: Annotated[Finite, Field(ge=-180, le=180)] = Field(description="Longitude; never forwarded to insurers.")
    speed_kmh: Annotated[Finite, Field(ge=0, le=200)] = Field(description="GPS speed in km/h.")
    accel_long_g: Annotated[Finite, Field(ge=-3, le=3)] | None = Field(
        None, description="Longitudinal acceleration in g; negative is braking; null when unknown."
    )
    accel_lat_g: Annotated[Finite, Field(ge=-3, le=3)] | None = Field(
        None, description="Lateral acceleration in g (cornering); null when unknown."
    )
    speed_limit_kmh: Annotated[Finite, Field(gt=0, le=200)] | None = Field(
        None, description="Posted limit of the road, if the map knows it."
    )
    phone_handling: bool = Field(False, description="Phone screen touched or held during this second.")
    trip_id: Annotated[str, Field(max_length=64)] | None = None


class WeatherObservation(_InputRecord):
    """Zone weather, every few minutes (``telemetry.weather``, key ``zone_id``).

    Only the zone, the time and the air temperature are required; every other field may be
    ``null`` or absent, meaning unknown (a station without a gust sensor, a gap in the feed).
    A dew point, when sent, is checked against the air temperature and humidity
    (:func:`humidity_consistent`).
    """

    zone_id: ZoneId
    air_temp_c: Annotated[Finite, Field(ge=-50, le=60)] = Field(description="Air temperature in °C.")
    relative_humidity_pct: Annotated[Finite, Field(ge=0, le=100)] | None = Field(
        None, description="Relative humidity in %; null when unknown (then derived from dew_point_c if that is sent)."
    )
    dew_point_c: Annotated[Finite, Field(ge=-80, le=60)] | None = Field(
        None, description="Dew point in °C, if the station reports it; null when unknown."
    )
    wind_speed_ms: Annotated[Finite, Field(ge=0, le=80)] | None = Field(
        None, description="Mean wind speed in m/s; null when unknown."
    )
    wind_gust_ms: Annotated[Finite, Field(ge=0, le=100)] | None = Field(
        None, description="Wind gust in m/s; null when unknown (not 0: many stations report no gust)."
    )
    precipitation_mm_h: Annotated[Finite, Field(ge=0, le=500)] | None = Field(
        None, description="Precipitation rate in mm/h; null when unknown (not 0)."
    )
    visibility_m: Annotated[Finite, Field(ge=0, le=100_000)] | None = Field(
        None, description="Visibility in m; null when unknown (not 10 km)."
    )
    solar_w_m2: Annotated[Finite, Field(ge=0, le=1500)] | None = Field(
        None, description="Global solar radiation in W/m²; null when unknown (the WBGT estimate then assumes full sun "
        "unless daylight is false)."
    )
    road_flooding: bool | None = Field(
        None, description="Waterlogged roads reported in the zone; false when none reported, null when unknown."
    )
    daylight: bool | None = Field(None, description="Sun above the horizon; null when unknown.")
    daily_max_temp_c: Annotated[Finite, Field(ge=-50, le=60)] | None = Field(
        None, description="Forecast daily maximum, for the China ≥35 °C / ≥40 °C outdoor-work rules."
    )


#: Magnus coefficients over water (Alduchov & Eskridge 1996, J. Appl. Meteor. 35:601): e_s(T) = 6.1094 exp(a T / (b + T)).
MAGNUS_A, MAGNUS_B = 17.625, 243.04
#: How far the reported humidity may be from the one the dew point gives, in % RH (sensor accuracy of ±3-5 % RH
#: each, plus rounding of reported values): our choice, stated in docs/domain.md.
HUMIDITY_TOLERANCE_PCT = 10.0
#: How far the dew point may be above the air temperature (rounding of both to whole degrees), in °C.
DEW_POINT_TOLERANCE_C = 1.0


def rh_from_dew_point(temp_c: float, dew_point_c: float) -> float:
    """Relative humidity (%) from air temperature and dew point by the Magnus formula.

    >>> round(rh_from_dew_point(30.0, 30.0), 6), round(rh_from_dew_point(30.0, 20.0), 1)
    (100.0, 55.1)
    """
    def es(t: float) -> float:
        return math.exp(MAGNUS_A * t / (MAGNUS_B + t))

    return 100.0 * es(dew_point_c) / es(temp_c)


def humidity_consistent(temp_c: float, rh_pct: float | None, dew_point_c: float | None) -> bool:
    """A dew point agrees with air temperature and relative humidity (True when there is nothing to compare).

    The dew point is at most the air temperature (saturation), and the humidity the Magnus
    formula gives from it is within :data:`HUMIDITY_TOLERANCE_PCT` of the reported one.

    >>> humidity_consistent(30.0, 55.0, 20.0), humidity_consistent(30.0, 95.0, 20.0)
    (True, False)
    >>> humidity_consistent(25.0, None, 29.0), humidity_consistent(25.0, 60.0, None)
    (False, True)
    """
    if dew_point_c is None:
        return True
    if dew_point_c > temp_c + DEW_POINT_TOLERANCE_C:
        return False
    if rh_pct is None:
        return True
    return abs(rh_from_dew_point(temp_c, min(dew_point_c, temp_c)) - rh_pct) <= HUMIDITY_TOLERANCE_PCT


class IncidentKind(str, Enum):
    crash = "crash"
    fall = "fall"
    heat_illness = "heat_illness"
    exhaustion = "exhaustion"


#: Incident kinds that label the ``accident`` target; the rest label ``injury``.
ACCIDENT_KINDS = frozenset({IncidentKind.crash})


class Incident(_InputRecord):
    """A reported incident: the delayed label (``incidents``, key ``rider_id``)."""

    rider_id: RiderId
    kind: IncidentKind
    source: Literal["rider", "platform", "insurer_claim", "simulator"] = "platform"
    severity: Literal["minor", "moderate", "severe"] = "minor"


class RiderResponse(_InputRecord):
    """The rider's answer to an alert that asked "Are you OK?" (``rider.responses``, key ``rider_id``)."""

    rider_id: RiderId
    alert_id: Annotated[str, Field(min_length=1, max_length=128)] = Field(description="The alert answered.")
    answer: Literal["ok", "need_help"]


#: Envelope versions this build can read (``envelope_version`` of :class:`WearableEnvelope`/:class:`TripEnvelope`).
SUPPORTED_ENVELOPE_VERSIONS = frozenset({1})
#: Most records one envelope may carry: ten minutes of one rider's 1 Hz readings (about 180 KB of JSON, under
#: ``worker.max_payload_bytes``, which bounds the whole envelope).
MAX_ENVELOPE_RECORDS = 600


class _Envelope(BaseModel):
    """A rider's batch of per-second records in one Kafka message, keyed by the rider id like its records.

    Kafka and Faust cost about as much per message as the worker spends on a reading, and devices upload
    every few seconds anyway: an envelope pays the per-message cost once for many readings. Each record
    keeps its own ``event_id``, ``ts`` and ``schema_version`` and is judged alone (lateness, duplicates,
    dead letters: a bad record is dead-lettered with the envelope's topic, partition, offset and its
    ``index``; the others are applied). Single records stay valid on the same topic.

    >>> env = WearableEnvelope.model_validate({"envelope_version": 1, "records": [
    ...     {"event_id": "w-1", "ts": "2026-07-01T12:00:00Z", "rider_id": "r1", "accel_peak_g": 1.4,
    ...      "accel_mean_g": 1.0, "accel_var": 0.02}]})
    >>> len(env.records), env.records[0].event_id
    (1, 'w-1')
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    envelope_version: int = Field(
        ge=min(SUPPORTED_ENVELOPE_VERSIONS), le=max(SUPPORTED_ENVELOPE_VERSIONS),
        description=f"Version of the envelope; this build reads {sorted(SUPPORTED_ENVELOPE_VERSIONS)}. Its presence "
        "tells an envelope from a single record.",
    )


class WearableEnvelope(_Envelope):
    """Several :class:`WearableReading` of one rider in one ``telemetry.wearable`` message."""

    records: list[WearableReading] = Field(min_length=1, max_length=MAX_ENVELOPE_RECORDS,
                                           description="The rider's readings, each a complete record.")


class TripEnvelope(_Envelope):
    """Several :class:`TripPoint` of one rider in one ``telemetry.trip`` message."""

    records: list[TripPoint] = Field(min_length=1, max_length=MAX_ENVELOPE_RECORDS,
                                     description="The rider's trip points, each a complete record.")


#: topic role -> envelope model, for the topics that accept envelopes (exported as ``<topic>.envelope.schema.json``).
ENVELOPE_MODELS: dict[str, type[_Envelope]] = {"wearable": WearableEnvelope, "trip": TripEnvelope}


# ----------------------------------------------------------------------------- outputs


class Severity(str, Enum):
    info = "info"
    warning = "warning"
    danger = "danger"


class Reason(BaseModel):
    """One reason code with its plain-language text and the number behind it."""

    model_config = ConfigDict(frozen=True)

    code: str = Field(description="Stable machine code, e.g. HEAT_INDEX_DANGER.")
    value: float | None = Field(None, description="The measured number behind the reason.")
    text: dict[str, str] = Field(default_factory=dict, description="Plain text by locale (zh-CN, en).")


def any_event_probability(injury: float, accident: float) -> float:
    """P(injury or accident) = 1 - (1 - p_injury)(1 - p_accident), the two treated as independent.

    The one place this is computed (scores, populations and premiums all use it).

    >>> round(any_event_probability(0.1, 0.2), 12)
    0.28
    """
    return 1.0 - (1.0 - injury) * (1.0 - accident)


class RiskScores(BaseModel):
    """Probabilities of an event within the model horizon, in the simulated world the model was fit on.

    That world's incident rates are 500x the assumed real rates (riskstream/simulation/hazard.py; the
    artifact card's ``world`` block): compare a probability with the card's ``population`` (relative
    risk), never read it as a real rider's absolute risk. A served probability is never exactly 0 or 1.
    """

    model_config = ConfigDict(frozen=True)

    injury: float = Field(ge=0, le=1, description="P(injury event: fall, heat illness, exhaustion) within horizon_min, "
                          "calibrated on simulated riders whose rates are 500x the assumed real rates; meaningful "
                          "relative to the model card's population, not as an absolute real-world probability.")
    accident: float = Field(ge=0, le=1, description="P(crash) within horizon_min, calibrated on simulated riders whose "
                            "rates are 500x the assumed real rates; meaningful relative to the model card's "
                            "population, not as an absolute real-world probability.")
    horizon_min: int = Field(60, description="Horizon of the probabilities, in minutes.")

    @property
    def any_event(self) -> float:
        """P(injury or accident) within the horizon (:func:`any_event_probability`)."""
        return any_event_probability(self.injury, self.accident)


class RiderAlert(_Record):
    """A push safety warning for a rider (``rider.alerts``, key ``rider_id``)."""

    rider_id: RiderId
    alert_id: str
    kind: str = Field(description="heat, strain, fatigue, weather, riding, fall, model_risk.")
    severity: Severity
    title: dict[str, str] = Field(description="Short headline by locale.")
    message: dict[str, str] = Field(description="What is wrong and what to do, by locale (zh-CN, en).")
    reasons: list[Reason]
    risk: RiskScores | None = None
    model_versions: dict[str, str]
    conservative_mode: bool = False
    requires_response: bool = Field(False, description="True for a suspected fall: the rider is asked 'Are you OK?'.")


class RiskBand(str, Enum):
    low = "low"
    moderate = "moderate"
    high = "high"
    severe = "severe"


class InsurerRiskScore(_Record):
    """Risk score and dynamic premium signal for insurers (``insurer.risk-scores``).

    Keyed by an HMAC pseudonym; carries no position, biometric or raw rider id.
    """

    rider_pseudonym: str = Field(description="HMAC-SHA256 of the rider id under the platform's key.")
    period_start: datetime
    period_end: datetime
    risk: RiskScores
    risk_score: float = Field(ge=0, le=1, description="Combined probability of any event within the horizon.")
    risk_band: RiskBand = Field(description="risk_score against the model card's population P(any event): low below "
                                "0.8x, moderate to 1.5x, high to 3x, severe above (PremiumConfig.band_cuts_relative); "
                                "absolute cuts without a card population or in conservative mode.")
    expected_loss: float = Field(ge=0, description="Unit: premium currency units per online (exposure) hour. "
                                 "Credibility-blended expected claim cost per exposure hour (PremiumConfig severities: "
                                 "placeholders), from the simulated-world probabilities in risk (rates 500x the assumed "
                                 "real ones): compare it with the class mean, not with real claim costs.")
    premium_multiplier: float = Field(gt=0, description="Multiplier against the class base premium.")
    previous_multiplier: float | None = None
    credibility: float = Field(ge=0, le=1, description="Z = n/(n+k) by exposure hours.")
    exposure_hours: float = Field(ge=0)
    reasons: list[Reason]
    model_versions: dict[str, str]
    conservative_mode: bool = False


class SafetyEscalation(_Record):
    """A suspected fall the rider did not answer, or a call for help (``safety.escalations``).

    For the platform's safety team, who must reach the rider: it names the rider and zone.
    """

    escalation_id: str
    rider_id: RiderId
    alert_id: str = Field(description="The 'Are you OK?' alert this follows.")
    reason: Literal["no_response", "rider_needs_help"]
    asked_at: datetime = Field(description="Event time the rider was asked.")
    waited_s: float = Field(ge=0, description="Seconds between the question and this escalation.")
    zone_id: str | None = None
    reasons: list[Reason]
    model_versions: dict[str, str]


class AuditRecord(_Record):
    """One record per decision (``audit.decisions``, key ``rider_id``), kept 3 years."""

    decision_id: str
    decision_type: Literal["alert", "premium_signal", "escalation", "mode_change", "acknowledgement"]
    rider_id: str | None = None
    outcome: str = Field(description="What was decided, e.g. 'alert heat/danger sent'.")
    inputs: dict[str, float | None] = Field(description="Summary of the feature values the decision used.")
    thresholds: dict[str, float] = Field(default_factory=dict)
    reasons: list[Reason]
    model_versions: dict[str, str]
    conservative_mode: bool = False


class SafetyAcknowledgement(_Record):
    """The safety team took up or closed a suspected fall or an escalation (``safety.acknowledgements``).

    Written by ``riskstream console`` (key ``rider_id``), with an audit record of the same decision.
    """

    ack_id: str = Field(description="Id of this acknowledgement (UUIDv4).")
    alert_id: Annotated[str, Field(min_length=1, max_length=128)] = Field(
        description="The 'Are you OK?' alert (suspected fall) this is about."
    )
    escalation_id: str | None = Field(None, description="The escalation, when the fall was escalated.")
    rider_id: RiderId
    action: Literal["acknowledge", "resolve"] = Field(
        description="acknowledge: someone on the safety team is on it; resolve: the rider is safe or in care, "
        "nothing more to do."
    )
    by: Annotated[str, Field(min_length=1, max_length=64)] = Field(
        description="Who on the safety team, as typed in the console (not verified: the console has one token)."
    )
    note: Annotated[str, Field(max_length=500)] = Field("", description="Free text from the console, if any.")


class DeadLetter(_Record):
    """A record that could not be processed (``riskstream.dlq``), with why and where from.

    ``ts`` is the source record's Kafka timestamp (when it has one), so a replay gives the same dead letter.
    """

    source_topic: str
    partition: int
    offset: int
    index: int | None = Field(None, ge=0, description="Position of the record inside its envelope (the message at "
                              "source_topic/partition/offset); null for a single-record message or a whole envelope.")
    key: str | None = None
    error_class: str = Field(description="e.g. invalid_json, validation_error, unsupported_schema_version, too_large.")
    reason: str = Field(description="Human-readable description of what was wrong.")
    payload: str = Field(
        description="A redacted excerpt of the original value, at most 1024 characters: for a JSON object its keys, "
        "the values of event_id, alert_id, rider_id, zone_id, ts, schema_version, kind, status and severity, and "
        "every other value replaced by its type and size; otherwise its first 64 characters with digits masked. "
        "source_topic, partition and offset locate the original; payload_sha256 identifies it."
    )
    payload_size: int
    payload_sha256: str


#: Input fields that are measurements and may be unknown: ``null``, absent, or (the parser's rule) out of their
#: range or not finite, in which case only that field becomes unknown and the rest of the record is used.
#: Every other field (identity, time, status, position, speed, air temperature) is required: a bad value there
#: dead-letters the record.
OPTIONAL_MEASUREMENTS: dict[type[BaseModel], frozenset[str]] = {
    WearableReading: frozenset({"heart_rate_bpm", "skin_temp_c", "accel_peak_g", "accel_mean_g", "accel_var", "steps"}),
    TripPoint: frozenset({"accel_long_g", "accel_lat_g", "speed_limit_kmh"}),
    WeatherObservation: frozenset({"relative_humidity_pct", "dew_point_c", "wind_speed_ms", "wind_gust_ms",
                                   "precipitation_mm_h", "visibility_m", "solar_w_m2", "daily_max_temp_c"}),
}

#: topic role -> model. Topic *names* come from settings.
TOPIC_MODELS: dict[str, type[BaseModel]] = {
    "wearable": WearableReading,
    "trip": TripPoint,
    "weather": WeatherObservation,
    "incidents": Incident,
    "responses": RiderResponse,
    "alerts": RiderAlert,
    "escalations": SafetyEscalation,
    "risk_scores": InsurerRiskScore,
    "audit": AuditRecord,
    "dlq": DeadLetter,
    "acknowledgements": SafetyAcknowledgement,
}

#: Default topic name of each role (``RISKSTREAM_TOPICS__<ROLE>`` renames one).
DEFAULT_TOPICS: dict[str, str] = {
    "wearable": "telemetry.wearable",
    "trip": "telemetry.trip",
    "weather": "telemetry.weather",
    "incidents": "incidents",
    "responses": "rider.responses",
    "alerts": "rider.alerts",
    "escalations": "safety.escalations",
    "risk_scores": "insurer.risk-scores",
    "audit": "audit.decisions",
    "dlq": "riskstream.dlq",
    "acknowledgements": "safety.acknowledgements",
}
