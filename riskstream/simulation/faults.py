"""Deliberately bad input for robustness testing: malformed payloads as raw bytes.

Every kind must become a dead letter downstream, never a crash or a wrong feature.
The huge payload (> 1 MB) is rare among malformed records (weight 0.5 %) so that a
long run does not write gigabytes.

>>> import json
>>> rng = np.random.default_rng(0)
>>> raw = malformed_payload("impossible_value", "rider-0001", "2026-07-15T02:00:00Z", "e1", rng)
>>> json.loads(raw)["heart_rate_bpm"]
400
"""

from __future__ import annotations

import json

import numpy as np

MALFORMED_KINDS = (
    "invalid_json", "wrong_type", "impossible_value", "nan", "missing_field",
    "unknown_schema_version", "huge_payload",
)
_WEIGHTS = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.03])
MALFORMED_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()
HUGE_PAYLOAD_BYTES = 1_100_000  # above the usual 1 MB Kafka message limit


def _wearable(rider_id: str, ts: str, event_id: str) -> dict[str, object]:
    return {
        "schema_version": 1, "event_id": event_id, "ts": ts, "rider_id": rider_id,
        "heart_rate_bpm": 98.0, "skin_temp_c": 34.2, "accel_peak_g": 1.3, "accel_mean_g": 1.0, "accel_var": 0.03,
    }


def malformed_payload(kind: str, rider_id: str, ts: str, event_id: str, rng: np.random.Generator) -> bytes:
    """Raw bytes of a wearable-like record broken in the way ``kind`` names."""
    rec = _wearable(rider_id, ts, event_id)
    if kind == "invalid_json":
        text = json.dumps(rec)
        return text[: int(rng.integers(5, len(text) - 2))].encode()
    if kind == "wrong_type":
        rec["heart_rate_bpm"] = "fast"
        rec["accel_var"] = [0.1]
    elif kind == "impossible_value":
        rec["heart_rate_bpm"] = 400
    elif kind == "nan":
        rec["skin_temp_c"] = float("nan")
    elif kind == "missing_field":
        del rec["rider_id"]
        del rec["accel_peak_g"]
    elif kind == "unknown_schema_version":
        rec["schema_version"] = 99
    elif kind == "huge_payload":
        rec["padding"] = "x" * HUGE_PAYLOAD_BYTES
    else:
        raise ValueError(f"unknown malformed kind {kind!r}; choose one of {MALFORMED_KINDS}")
    return json.dumps(rec).encode()  # NaN is written as the bare token NaN


def draw_malformed_kind(rng: np.random.Generator) -> str:
    return MALFORMED_KINDS[int(rng.choice(len(MALFORMED_KINDS), p=MALFORMED_WEIGHTS))]
