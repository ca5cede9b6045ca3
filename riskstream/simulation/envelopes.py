"""Group a rider's per-second records into envelopes, as a phone that uploads every few seconds would.

An envelope (``riskstream.contracts.records.WearableEnvelope``/``TripEnvelope``) carries up to ``size``
records of one rider and one topic; it is sent when it is full, or when the stream ends. Weather,
incidents, responses and deliberately malformed records stay single messages.

>>> from riskstream.simulation import FleetSimulator, SimConfig
>>> sim = FleetSimulator(SimConfig(riders=2, seed=1))
>>> records = [r for r in sim.records(20) if r.role in ("wearable", "trip") and r.raw is None]
>>> packed = list(envelopes(records, 10))
>>> len(records), len(packed), sum(p.size for p in packed)
(80, 8, 80)
>>> packed[0].role, packed[0].value_bytes()[:37]
('wearable', b'{"envelope_version":1,"records":[{"sc')
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
