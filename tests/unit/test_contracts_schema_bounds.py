"""The exported JSON Schemas carry the numeric bounds the worker enforces (issue 14).

A producer that validates against ``docs/contracts/<topic>.schema.json`` must not send a record the
worker then rejects for a bound (RH 150, 303.15 °C, HR 400). For each input topic, every numeric field
is set, one at a time, to values at, just inside and just outside each of its limits and to odd values
(no NaN: standard JSON has none); each record is parsed by the worker's parser and validated against
the committed schema. Every record the schema accepts the parser accepts too, so every record the
parser rejects the schema rejects too. The bounds are read from the models' own declarations, not from
the schema, so a bound the export drops is still tried.
"""

from __future__ import annotations

import json
import math
import types
import typing
from pathlib import Path
from typing import Any

import annotated_types
import jsonschema
import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from riskstream.contracts.errors import InputError
from riskstream.contracts.records import DEFAULT_TOPICS, SUPPORTED_SCHEMA_VERSIONS, TOPIC_MODELS
from streams.parsing import parse_input

CONTRACTS = Path(__file__).resolve().parents[2] / "docs" / "contracts"
MAX_BYTES = 1 << 20
TS = "2026-07-15T02:00:00Z"

#: One valid record per input topic; each case changes one numeric field of it.
BASE: dict[str, dict[str, Any]] = {
    "wearable": {"event_id": "w1", "ts": TS, "rider_id": "r1", "heart_rate_bpm": 120, "skin_temp_c": 34.0,
                 "accel_peak_g": 1.3, "accel_mean_g": 1.0, "accel_var": 0.02, "steps": 2},
    "trip": {"event_id": "t1", "ts": TS, "rider_id": "r1", "zone_id": "z1", "status": "riding", "lat": 31.2,
             "lon": 121.5, "speed_kmh": 18.0, "accel_long_g": -0.2, "accel_lat_g": 0.1, "speed_limit_kmh": 50},
    "weather": {"event_id": "x1", "ts": TS, "zone_id": "z1", "air_temp_c": 33.0, "relative_humidity_pct": 70.0,
                "wind_speed_ms": 3.0, "wind_gust_ms": 6.0, "precipitation_mm_h": 0.0, "visibility_m": 9000.0,
                "solar_w_m2": 700.0, "daily_max_temp_c": 36.0},
    "incidents": {"event_id": "i1", "ts": TS, "rider_id": "r1", "kind": "fall"},
    "responses": {"event_id": "p1", "ts": TS, "rider_id": "r1", "alert_id": "a1", "answer": "ok"},
}

#: Odd numbers, none NaN or infinite (JSON cannot carry those), tried in every numeric field.
ODD: list[Any] = [0, -0.0, 1, -1, 0.5, 5e-324, -5e-324, 1e-300, 2.0, 1e15, -1e15, 1.7976931348623157e308,
                  -1.7976931348623157e308, 10**20, -(10**20), 10**400, -(10**400), 123456789.123456789]
#: Values that are not JSON numbers: the schema rejects them; the parser may accept some (lax coercion).
NOT_NUMBERS: list[Any] = [True, False, "12", "1e3", "", [], {}]

_BOUND_TYPES = (annotated_types.Ge, annotated_types.Le, annotated_types.Gt, annotated_types.Lt)


def _constraints(tp: Any) -> tuple[set[type], list[Any]]:
    """The base types and annotated_types bounds found anywhere in an annotation."""
    bases: set[type] = set()
    bounds: list[Any] = []
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        inner, *meta = typing.get_args(tp)
        for m in meta:
            if isinstance(m, _BOUND_TYPES):
                bounds.append(m)
            elif isinstance(m, FieldInfo):
                bounds += [x for x in m.metadata if isinstance(x, _BOUND_TYPES)]
        b, more = _constraints(inner)
        return bases | b, bounds + more
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            b, more = _constraints(arg)
            bases |= b
            bounds += more
        return bases, bounds
    if isinstance(tp, type):
        bases.add(tp)
    return bases, bounds


def numeric_fields(model: type[BaseModel]) -> dict[str, tuple[bool, list[Any]]]:
    """field -> (integer?, bounds) for every int or float field of ``model`` (bools are not numbers here)."""
    out = {}
    for name, info in model.model_fields.items():
        bases, bounds = _constraints(info.rebuild_annotation())
        bounds += [m for m in info.metadata if isinstance(m, _BOUND_TYPES)]
        if bases & {int, float} and bool not in bases:
            out[name] = (float not in bases, bounds)
    return out


def _around(limit: float, integer: bool) -> list[Any]:
    """At, just inside and just outside ``limit`` (both sides: the caller does not know which is inside)."""
    if integer:
        return [int(limit) + d for d in (-2, -1, 0, 1, 2)] + [float(limit), limit - 0.5, limit + 0.5]
    return [limit, math.nextafter(limit, -math.inf), math.nextafter(limit, math.inf), limit - 1e-9, limit + 1e-9,
            limit - 0.5, limit + 0.5, limit - 1, limit + 1, int(limit) if float(limit).is_integer() else limit]


def cases(role: str) -> list[tuple[str, Any, bool]]:
    """(field, value, is a JSON number) for every numeric field of the topic's model."""
    out = []
    for name, (integer, bounds) in numeric_fields(TOPIC_MODELS[role]).items():
        values: list[Any] = list(ODD)
        for bound in bounds:
            for attr in ("ge", "le", "gt", "lt"):
                if hasattr(bound, attr):
                    values += _around(getattr(bound, attr), integer)
        if name == "schema_version":
            values += [v + d for v in SUPPORTED_SCHEMA_VERSIONS for d in (-1, 0, 1)]
        out += [(name, v, True) for v in values] + [(name, v, False) for v in NOT_NUMBERS]
        out.append((name, None, False))
    return out


def schema_of(role: str) -> dict[str, Any]:
    schema = json.loads((CONTRACTS / f"{DEFAULT_TOPICS[role]}.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def parser_accepts(role: str, record: dict[str, Any]) -> bool:
    """The parser takes the record *with its values*: an optional measurement out of its range is set to unknown,
    not accepted. A dew point the parser finds inconsistent with the humidity is a check across fields, which a
    JSON Schema cannot state, so it does not count as a rejection here."""
    try:
        _, unknown = parse_input(TOPIC_MODELS[role], json.dumps(record).encode(), max_bytes=MAX_BYTES)
    except InputError:
        return False
    return not any(why == "out_of_range" for _, why in unknown)


INPUT_ROLES = list(BASE)


@pytest.mark.parametrize("role", INPUT_ROLES)
def test_schema_accepts_nothing_the_worker_rejects(role: str) -> None:
    validator = jsonschema.Draft202012Validator(schema_of(role))
    assert validator.is_valid(BASE[role]) and parser_accepts(role, BASE[role])
    slipped, too_strict = [], []
    for name, value, is_number in cases(role):
        record = {**BASE[role], name: value}
        by_schema, by_parser = validator.is_valid(record), parser_accepts(role, record)
        if by_schema and not by_parser:
            slipped.append((name, value))
        if is_number and by_parser and not by_schema:
            too_strict.append((name, value))
    assert not slipped, f"{role}: the schema accepts what the worker rejects: {slipped[:20]}"
    # Not the promise, but a schema stricter than the worker on plain numbers would be a wrong contract.
    assert not too_strict, f"{role}: the schema rejects numbers the worker accepts: {too_strict[:20]}"


@pytest.mark.parametrize("role", INPUT_ROLES)
def test_every_declared_bound_is_in_the_schema_and_tried(role: str) -> None:
    """Each bounded field has a tried value the worker rejects for that bound, and the schema rejects it too."""
    validator = jsonschema.Draft202012Validator(schema_of(role))
    for name, (_, bounds) in numeric_fields(TOPIC_MODELS[role]).items():
        if not bounds:
            continue
        rejected = [v for n, v, is_number in cases(role)
                    if n == name and is_number and not parser_accepts(role, {**BASE[role], name: v})]
        assert rejected, f"{role}.{name}: no tried value is out of its bounds {bounds}"
        assert not any(validator.is_valid({**BASE[role], name: v}) for v in rejected)


def test_the_reported_values_are_rejected_by_the_schemas() -> None:
    """Issue 14's examples: RH 150, 303.15 °C (kelvin sent as Celsius), HR 400."""
    weather = jsonschema.Draft202012Validator(schema_of("weather"))
    wearable = jsonschema.Draft202012Validator(schema_of("wearable"))
    assert not weather.is_valid({**BASE["weather"], "relative_humidity_pct": 150})
    assert not weather.is_valid({**BASE["weather"], "air_temp_c": 303.15})
    assert not wearable.is_valid({**BASE["wearable"], "heart_rate_bpm": 400})
