"""Group a rider's per-second records into envelopes, as a phone that uploads every few seconds would.

An envelope (``riskstream.contracts.records.WearableEnvelope``/``TripEnvelope``) carries up to ``size``
records of one rider and one topic; it is sent when it is full, or when the stream ends. Weather,
incidents, responses and deliberately malformed records stay single messages.

>>> from riskstream.contracts.records import WearableReading
>>> from riskstream.simulation.records import SimRecord
>>> def reading(rider, t):
...     return SimRecord("wearable", rider, WearableReading(event_id=f"{rider}-{t}", ts=1_784_080_800 + t,
...                      rider_id=rider, accel_peak_g=1.2, accel_mean_g=1.0, accel_var=0.01))
>>> records = [reading(rider, t) for t in range(25) for rider in ("r1", "r2")]
>>> packed = list(envelopes(records, 10))
>>> [(p.key, p.size) for p in packed]
[('r1', 10), ('r2', 10), ('r1', 10), ('r2', 10), ('r1', 5), ('r2', 5)]
>>> packed[0].value_bytes()[:48]
b'{"envelope_version":1,"records":[{"schema_versio'
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from riskstream.contracts.records import ENVELOPE_MODELS, MAX_ENVELOPE_RECORDS

ENVELOPE_VERSION = 1


@dataclass(slots=True)
class Envelope:
    """One message of ``size`` records of rider ``key`` for the topic of ``role`` (producible like a SimRecord)."""

    role: str
    key: str
    raw: bytes
    size: int
    newest_ts: float  # event time of its newest record, seconds

    value = None  # what the producer's pacing reads as the event time of a SimRecord: an envelope has none

    def value_bytes(self) -> bytes:
        return self.raw


def pack(role: str, key: str, records: list[Any]) -> Envelope:
    """The envelope of ``records`` (pydantic records of one rider and role)."""
    body = ",".join(r.model_dump_json() for r in records)
    raw = f'{{"envelope_version":{ENVELOPE_VERSION},"records":[{body}]}}'.encode()
    return Envelope(role, key, raw, len(records), max(r.ts.timestamp() for r in records))


def envelopes(records: Iterable[Any], size: int) -> Iterator[Any]:
    """``records`` with each rider's wearable and trip records grouped ``size`` at a time (in order of the
    record that fills an envelope); every other record passes through as it is."""
    if not 1 <= size <= MAX_ENVELOPE_RECORDS:
        raise ValueError(f"an envelope carries 1 to {MAX_ENVELOPE_RECORDS} records, not {size}")
    open_: dict[tuple[str, str], list[Any]] = {}
    for rec in records:
        if rec.role not in ENVELOPE_MODELS or rec.value is None:
            yield rec
            continue
        buf = open_.setdefault((rec.role, rec.key), [])
        buf.append(rec.value)
        if len(buf) >= size:
            del open_[(rec.role, rec.key)]
            yield pack(rec.role, rec.key, buf)
    for (role, key), buf in open_.items():
        yield pack(role, key, buf)


def count_readings(value: bytes) -> int:
    """Readings in one message: an envelope's records, else 1 (what the no-op baselines count).

    >>> count_readings(b'{"envelope_version": 1, "records": [{}, {}]}'), count_readings(b'{"event_id": "x"}')
    (2, 1)
    """
    data = json.loads(value)
    if isinstance(data, dict) and "envelope_version" in data:
        return len(data.get("records") or ())
    return 1
