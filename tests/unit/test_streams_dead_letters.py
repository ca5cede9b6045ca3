"""Dead letters carry a bounded, redacted excerpt, never the rider's biometrics or positions."""

from __future__ import annotations

import hashlib
import json

import pytest

from riskstream.contracts.errors import InputError
from streams.parsing import DLQ_EXCERPT_CHARS, dead_letter

TRIP = {"event_id": "t-17", "ts": "2026-07-15T02:00:00Z", "schema_version": 1, "rider_id": "rider-0042",
        "zone_id": "z3", "status": "riding", "lat": 31.230416, "lon": 121.473701, "speed_kmh": 23.5,
        "heart_rate_bpm": 400, "note": "home: 12 Fuxing Rd", "tags": ["a", "b"], "extra": {"lat": 31.2}}


def letter_of(raw: bytes, error_class: str = "validation_error"):  # noqa: ANN201
    return dead_letter(source_topic="telemetry.trip", partition=1, offset=2, key=b"rider-0042", raw=raw,
                       error=InputError(error_class, "heart_rate_bpm: Input should be less than 250"))


def test_a_json_record_keeps_its_ids_and_shape_and_hides_the_values() -> None:
    raw = json.dumps(TRIP).encode()
    letter = letter_of(raw)
    excerpt = json.loads(letter.payload)
    assert {k: excerpt[k] for k in ("event_id", "ts", "schema_version", "rider_id", "zone_id")} == {
        "event_id": "t-17", "ts": "2026-07-15T02:00:00Z", "schema_version": 1, "rider_id": "rider-0042",
        "zone_id": "z3"}
    assert excerpt["lat"] == excerpt["lon"] == excerpt["heart_rate_bpm"] == "<number>"
    assert excerpt["note"] == "<string 18>" and excerpt["tags"] == "<array 2>" and excerpt["extra"] == "<object 1>"
    for secret in ("31.23", "121.47", "400", "Fuxing"):
        assert secret not in letter.payload
    assert letter.payload_size == len(raw) and letter.payload_sha256 == hashlib.sha256(raw).hexdigest()


@pytest.mark.parametrize(
    "raw",
    [b'{"rider_id": "r1", "lat": 31.230416, "lon": 121.47' + b"3" * 5000,  # cut JSON
     b"\xff\xfe lat=31.230416 lon=121.473701 hr=188",  # not JSON at all
     b"[" * 100_000,  # deeply nested
     json.dumps({f"k{i:04d}" + "x" * 300: "y" * 300 for i in range(2000)}).encode(),  # huge object
     json.dumps({"rider_id": "r" * 5000}).encode()],  # huge id
)
def test_any_payload_gives_a_bounded_excerpt_without_digits_or_values(raw: bytes) -> None:
    letter = letter_of(raw, "invalid_json")
    assert len(letter.payload) <= DLQ_EXCERPT_CHARS
    assert "31.23" not in letter.payload and "188" not in letter.payload and "y" * 20 not in letter.payload
    assert letter.payload_size == len(raw)


def test_empty_payload() -> None:
    assert letter_of(b"", "empty").payload == ""


def test_a_dead_letter_is_the_same_on_replay_and_its_id_names_the_payload() -> None:
    raw = json.dumps(TRIP).encode()

    def again(payload: bytes) -> dict:
        return dead_letter(source_topic="telemetry.trip", partition=1, offset=2, key=b"rider-0042", raw=payload,
                           error=InputError("validation_error", "bad"), record_ts=1_782_864_000.0).model_dump()

    assert again(raw) == again(raw)  # id, ts and content: a replay of the same input gives the same record
    assert again(raw)["ts"].timestamp() == 1_782_864_000.0  # the source record's time, not the time of writing
    # the same offset with another payload (a broker that lost its topics reuses offsets): another id
    assert again(raw)["event_id"] != again(raw + b" ")["event_id"]
    assert again(raw)["event_id"].startswith("dlq-telemetry.trip-1-2-")
