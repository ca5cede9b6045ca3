"""Raw bytes → validated record, or a dead letter that says what was wrong and where from.

>>> from riskstream.contracts.records import WearableReading
>>> try:
...     parse_record(WearableReading, b'{"event_id": "x"', max_bytes=1024)
... except InputError as exc:
...     exc.error_class
'invalid_json'

Whatever the JSON decoder raises is the record's fault and a dead letter, not a crash:
nesting deeper than Python's parser allows (``RecursionError``) or an integer longer than
``sys.get_int_max_str_digits()`` (``ValueError``).

>>> try:
...     parse_record(WearableReading, b"[" * 100_000, max_bytes=200_000)
... except InputError as exc:
...     exc.error_class, exc.reason
('invalid_json', 'not valid JSON: nested deeper than 64 levels')

One bad field does not discard a sound record. An optional measurement
(:data:`~riskstream.contracts.records.OPTIONAL_MEASUREMENTS`) that is out of its range or
not finite becomes unknown (``None``) and :func:`parse_input` names it; the rest of the
record is used. A bad required field (identity, time, status, position, speed, air
temperature), a value of the wrong type, or a record that is not an object dead-letters
the whole record.

>>> rec, unknown = parse_input(WearableReading, b'{"event_id": "w1", "ts": "2026-07-01T12:00:00Z",'
...     b' "rider_id": "r1", "heart_rate_bpm": 121, "accel_peak_g": 40}', max_bytes=1024)
>>> rec.heart_rate_bpm, rec.accel_peak_g, unknown
(121.0, None, (UnknownField(field='accel_peak_g', why='out_of_range'),))
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any, NamedTuple, TypeVar

from pydantic import BaseModel, ValidationError

from riskstream.contracts.errors import InputError
from riskstream.contracts.records import (
    MAX_ENVELOPE_RECORDS,
    OPTIONAL_MEASUREMENTS,
    SUPPORTED_ENVELOPE_VERSIONS,
    SUPPORTED_SCHEMA_VERSIONS,
    DeadLetter,
    WeatherObservation,
    humidity_consistent,
)

M = TypeVar("M", bound=BaseModel)

#: Longest redacted excerpt of the original payload kept in a dead letter, in characters.
DLQ_EXCERPT_CHARS = 1024
#: Fields whose (short) value a dead letter keeps: they identify the record, not the rider's body or whereabouts.
DLQ_KEPT_FIELDS = frozenset({"event_id", "alert_id", "rider_id", "zone_id", "ts", "schema_version", "kind",
                             "status", "severity"})
_KEPT_VALUE_CHARS = 64
_KEY_CHARS = 32
_PREFIX_CHARS = 64
#: Larger payloads are not decoded for the excerpt (too_large records); their prefix is kept instead.
_EXCERPT_DECODE_BYTES = 64 * 1024
#: Deepest nesting of arrays/objects accepted; our records are flat objects (depth 1-2).
MAX_JSON_DEPTH = 64


#: Pydantic error types that mean "a number outside its range" (NaN and ±Infinity included).
_RANGE_ERRORS = frozenset({"greater_than", "greater_than_equal", "less_than", "less_than_equal", "finite_number"})


class UnknownField(NamedTuple):
    """An optional measurement the parser set to unknown: the field and why (``out_of_range``, ``inconsistent``)."""

    field: str
    why: str


def parse_record(model: type[M], raw: bytes | None, max_bytes: int) -> M:
    """Decode and validate one record; raise :class:`InputError` with a stable ``error_class``.

    Like :func:`parse_input`, without saying which fields it set to unknown.
    """
    return parse_input(model, raw, max_bytes)[0]


def parse_input(model: type[M], raw: bytes | None, max_bytes: int) -> tuple[M, tuple[UnknownField, ...]]:
    """Decode and validate one record; the optional measurements it set to unknown; or raise :class:`InputError`."""
    if raw is None or not raw.strip():
        raise InputError("empty", "the record has no value")
    if len(raw) > max_bytes:
        raise InputError("too_large", f"the record is {len(raw)} bytes; the limit is {max_bytes}")
    if _too_deep(raw):
        raise InputError("invalid_json", f"not valid JSON: nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError("invalid_json", f"not valid JSON: {exc}") from None
    except RecursionError:
        raise InputError("invalid_json", "not valid JSON: nested too deeply for the parser") from None
    except ValueError as exc:  # e.g. an integer literal longer than sys.get_int_max_str_digits()
        raise InputError("invalid_json", f"not valid JSON: {str(exc)[:200]}") from None
    return validate_decoded(model, data)


def validate_decoded(model: type[M], data: Any) -> tuple[M, tuple[UnknownField, ...]]:
    """Validate one decoded JSON value (a record inside an envelope, or :func:`parse_input`'s): the record and the
    optional measurements it set to unknown; or raise :class:`InputError` with a stable ``error_class``."""
    if data is None:
        raise InputError("empty", "the record has no value")
    if not isinstance(data, dict):
        raise InputError("not_an_object", f"expected a JSON object, got {type(data).__name__}")
    version = data.get("schema_version", 1)
    if not _supported_version(version):
        raise InputError(
            "unsupported_schema_version",
            f"schema_version {version!r} is not supported (this build reads {sorted(SUPPORTED_SCHEMA_VERSIONS)})",
        )
    unknown: list[UnknownField] = []
    try:
        record = model.model_validate(data)
    except ValidationError as exc:
        blanked = _blank_bad_optionals(model, data, exc)
        if blanked is None:
            raise InputError("validation_error", _summarise(exc)) from None
        try:
            record = model.model_validate(blanked)
        except ValidationError as again:
            raise InputError("validation_error", _summarise(again)) from None
        unknown = [UnknownField(name, "out_of_range") for name in data if blanked[name] is None and data[name] is not None]
    if isinstance(record, WeatherObservation) and not humidity_consistent(
        record.air_temp_c, record.relative_humidity_pct, record.dew_point_c
    ):
        # a humidity the dew point contradicts is not known: neither number is used (docs/domain.md)
        record = record.model_copy(update={"relative_humidity_pct": None, "dew_point_c": None})
        unknown += [UnknownField("relative_humidity_pct", "inconsistent"), UnknownField("dew_point_c", "inconsistent")]
    return record, tuple(unknown)


def _blank_bad_optionals(model: type[BaseModel], data: dict[str, Any], exc: ValidationError) -> dict[str, Any] | None:
    """``data`` with its out-of-range optional measurements set to None, or None if any other error remains.

    A field of a union (``float | None``) reports one error per branch: the number branch's range error
    and the ``None`` branch's; a field counts as out of range when one of its errors is a range error.
    """
    optional = OPTIONAL_MEASUREMENTS.get(model, frozenset())
    by_field: dict[str, list[str]] = {}
    for err in exc.errors():
        loc = err["loc"]
        name = str(loc[0]) if loc else ""
        if name not in optional:
            return None
        by_field.setdefault(name, []).append(err["type"])
    if not by_field or not all(any(t in _RANGE_ERRORS for t in types) for types in by_field.values()):
        return None
    return {**data, **dict.fromkeys(by_field)}


#: The key that tells an envelope from a single record; a payload without these bytes is not decoded twice.
_ENVELOPE_MARK = b'"envelope_version"'


def envelope_items(raw: bytes | None, max_bytes: int) -> list[Any] | None:
    """The records of an envelope (``WearableEnvelope``/``TripEnvelope``), undecoded beyond JSON; None if ``raw``
    is not an envelope (parse it with :func:`parse_record`, which dead-letters what is wrong with it).

    Each record is judged alone afterwards; only an envelope wrong as a whole raises :class:`InputError`.

    >>> envelope_items(b'{"envelope_version": 1, "records": [{"event_id": "a"}, 7]}', 1024)
    [{'event_id': 'a'}, 7]
    >>> envelope_items(b'{"event_id": "a"}', 1024) is None
    True
    >>> try:
    ...     envelope_items(b'{"envelope_version": 2, "records": []}', 1024)
    ... except InputError as exc:
    ...     exc.error_class
    'unsupported_envelope_version'
    """
    if raw is None or _ENVELOPE_MARK not in raw or len(raw) > max_bytes or _too_deep(raw):
        return None
    try:
        data = json.loads(raw)
    except Exception:  # noqa: BLE001 - not JSON: the single-record parser says what is wrong
        return None
    if not isinstance(data, dict) or "envelope_version" not in data:
        return None
    version = data["envelope_version"]
    if isinstance(version, bool) or not _supported(version, SUPPORTED_ENVELOPE_VERSIONS):
        raise InputError("unsupported_envelope_version", f"envelope_version {version!r} is not supported (this "
                         f"build reads {sorted(SUPPORTED_ENVELOPE_VERSIONS)}); send single records or upgrade")
    records = data.get("records")
    if not isinstance(records, list) or not 1 <= len(records) <= MAX_ENVELOPE_RECORDS:
        got = f"{len(records)} records" if isinstance(records, list) else f"records of type {type(records).__name__}"
        raise InputError("invalid_envelope", f"an envelope carries a list of 1 to {MAX_ENVELOPE_RECORDS} records "
                         f"in 'records'; got {got}")
    return records


def _supported(version: object, supported: frozenset[int]) -> bool:
    try:
        return version in supported
    except TypeError:
        return False


def _supported_version(version: object) -> bool:
    """``version in SUPPORTED_SCHEMA_VERSIONS``, False for an unhashable value (a list or object) instead of a crash."""
    try:
        return version in SUPPORTED_SCHEMA_VERSIONS
    except TypeError:
        return False


def _too_deep(raw: bytes) -> bool:
    """Cheap bound before decoding: only a payload with many brackets is scanned (strings are skipped)."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_JSON_DEPTH:
        return False
    depth, in_string, escaped = 0, False, False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return True
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return False


def _summarise(exc: ValidationError, limit: int = 8) -> str:
    parts = []
    for err in exc.errors()[:limit]:
        where = ".".join(str(p) for p in err["loc"]) or "record"
        parts.append(f"{where}: {err['msg']}")
    more = exc.error_count() - limit
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def dead_letter(
    *, source_topic: str, partition: int, offset: int, key: bytes | None, raw: bytes | None, error: InputError,
    original: tuple[int, str] | None = None, record_ts: float | None = None, index: int | None = None,
) -> DeadLetter:
    """Build the dead-letter record of a failed input, with a bounded, redacted excerpt of the payload.

    The dead-letter topic is read by operators, so it must not collect biometrics or positions;
    ``source_topic``/``partition``/``offset`` locate the original and ``payload_sha256`` identifies it.

    ``original`` is (size, sha256) of the full payload when ``raw`` is only its kept head.
    ``record_ts`` is the source record's Kafka timestamp (seconds): the dead letter's ``ts``, so
    that a replay of the same input gives the same dead letter, id and content. The id names the
    payload's digest too: after a broker that lost its topics, an offset can be reused. ``index`` is the
    record's position in its envelope (``raw`` is then that record alone), and is part of the id.
    """
    raw = raw or b""
    size, digest = original or (len(raw), hashlib.sha256(raw).hexdigest())
    when = datetime.fromtimestamp(record_ts, timezone.utc) if record_ts else datetime.now(timezone.utc)
    return DeadLetter(
        event_id=f"dlq-{source_topic}-{partition}-{offset}{'' if index is None else f'.{index}'}-{digest[:12]}",
        ts=when,
        source_topic=source_topic,
        partition=partition,
        offset=offset,
        index=index,
        key=key.decode("utf-8", "replace")[:128] if key else None,
        error_class=error.error_class,
        reason=error.reason[:1000],
        payload=redacted_excerpt(raw),
        payload_size=size,
        payload_sha256=digest,
    )


def redacted_excerpt(raw: bytes) -> str:
    """What a dead letter keeps of a payload: at most :data:`DLQ_EXCERPT_CHARS` characters.

    A JSON object keeps its keys; the values of :data:`DLQ_KEPT_FIELDS` stay (cut to 64
    characters), every other value becomes its type and size. Anything else keeps a short
    prefix with its digits masked.

    >>> redacted_excerpt(b'{"event_id": "w1", "rider_id": "r1", "heart_rate_bpm": 188, "note": "hi", "x": [1]}')
    '{"event_id": "w1", "rider_id": "r1", "heart_rate_bpm": "<number>", "note": "<string 2>", "x": "<array 1>"}'
    >>> redacted_excerpt(b'{"lat": 31.23, "lon": 121.4')
    '{"lat": ##.##, "lon": ###.#'
    """
    data = None
    if len(raw) <= _EXCERPT_DECODE_BYTES:
        try:
            data = json.loads(raw)
        except Exception:  # noqa: BLE001 - any undecodable payload (bad UTF-8, JSON, nesting, huge ints) gets a prefix
            data = None
    if not isinstance(data, dict):
        text = raw[: _PREFIX_CHARS * 4].decode("utf-8", "replace")[:_PREFIX_CHARS]
        return "".join("#" if ch.isdigit() else ch for ch in text)
    kept: dict[str, object] = {}
    for n, (key, value) in enumerate(data.items()):
        name = str(key)[:_KEY_CHARS]
        if key in DLQ_KEPT_FIELDS and isinstance(value, (str, int)) and not isinstance(value, bool):
            item = value[:_KEPT_VALUE_CHARS] if isinstance(value, str) else value
            if isinstance(item, int) and abs(item) >= 10**_KEPT_VALUE_CHARS:
                item = _shape(value)
        else:
            item = _shape(value)
        if len(json.dumps({**kept, name: item, "...": f"<{len(data)} keys>"}, ensure_ascii=False)) > DLQ_EXCERPT_CHARS:
            kept["..."] = f"<{len(data) - n} more keys>"
            break
        kept[name] = item
    return json.dumps(kept, ensure_ascii=False)


def _shape(value: object) -> object:
    """A value's type and size, not the value (null stays null: it means unknown)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "<bool>"
    if isinstance(value, (int, float)):
        return "<number>"
    if isinstance(value, str):
        return f"<string {len(value)}>"
    if isinstance(value, list):
        return f"<array {len(value)}>"
    return f"<object {len(value)}>" if isinstance(value, dict) else "<value>"
