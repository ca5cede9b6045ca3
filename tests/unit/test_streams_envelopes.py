"""Issue 17, deliver 0: a message may carry a rider's batch of records (an envelope); each record is judged alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from riskstream.contracts.export import envelope_schemas
from riskstream.contracts.records import MAX_ENVELOPE_RECORDS
from streams import metrics
from tests.unit.test_record_faults import T0, Feed, counted, iso, trip, wearable

CONTRACTS = Path(__file__).resolve().parents[2] / "docs" / "contracts"


def envelope(records: list[Any], version: Any = 1) -> dict[str, Any]:
    return {"envelope_version": version, "records": records}


def readings(n: int, start: float = T0, rider: str = "r1") -> list[dict[str, Any]]:
    return [wearable(iso(start + i), f"w{start + i:.0f}", rider) for i in range(n)]


def test_an_envelope_gives_the_same_state_as_its_records_one_per_message(tmp_path: Path) -> None:
    single, packed = Feed(tmp_path / "a"), Feed(tmp_path / "b")
    recs = readings(30) + [trip(iso(T0 + i), f"t{i}") for i in range(30)]
    single.batch([single.record("wearable" if r["event_id"][0] == "w" else "trip", r) for r in recs])
    packed.batch([packed.record("wearable", envelope(recs[:30])), packed.record("trip", envelope(recs[30:]))])
    a, b = single.riders["r1"], packed.riders["r1"]
    assert b["records"] == {"wearable": {"applied": 30}, "trip": {"applied": 30}}
    assert a["features"] == b["features"]
    assert b["offsets"] == {"wearable": [0, 0, 29], "trip": [0, 0, 29]}
    assert packed.letters() == []


def test_a_bad_record_in_an_envelope_is_dead_lettered_alone_with_its_index(tmp_path: Path) -> None:
    feed = Feed(tmp_path)
    recs = readings(5)
    recs[2] = {**recs[2], "ts": "yesterday"}  # no event time: the record cannot be used (an out-of-range optional
    # measurement alone, e.g. heart_rate_bpm 400, would be used as unknown: tests/unit/test_unknown_values.py)
    recs[3] = {**recs[3], "rider_id": "r2"}  # another rider's record under r1's key
    feed.batch([feed.record("wearable", {"x": 1}), feed.record("wearable", envelope([*recs, "not a record"]))])
    letters = [d for d in feed.letters() if d["offset"] == 1]
    assert [(d["source_topic"], d["partition"], d["offset"], d["index"], d["error_class"]) for d in letters] == [
        ("telemetry.wearable", 0, 1, 2, "validation_error"),
        ("telemetry.wearable", 0, 1, 3, "key_mismatch"),
        ("telemetry.wearable", 0, 1, 5, "not_an_object"),
    ]
    assert letters[0]["event_id"].startswith("dlq-telemetry.wearable-0-1.2-")
    assert f'"event_id": "w{T0 + 2:.0f}"' in letters[0]["payload"]  # the excerpt is of the record, not the envelope
    assert feed.riders["r1"]["records"]["wearable"] == {"applied": 3}


def test_lateness_and_duplicates_are_judged_per_record(tmp_path: Path) -> None:
    feed = Feed(tmp_path)
    late = wearable(iso(T0 + 1000 - 10_000), "late")
    recs = readings(3, T0 + 1000)
    feed.batch([feed.record("wearable", envelope([*recs, late, recs[1]]))])  # recs[1] sent twice
    assert feed.riders["r1"]["records"]["wearable"] == {"applied": 3, "too_late": 1, "duplicate": 1}
    [letter] = feed.letters()
    assert (letter["index"], letter["error_class"]) == (3, "too_late")


def test_an_envelope_read_again_after_a_restart_is_recognised_record_by_record(tmp_path: Path) -> None:
    feed = Feed(tmp_path)
    first = feed.record("wearable", envelope(readings(4)))
    feed.batch([first])
    restarted = Feed(tmp_path)
    restarted.sink.riders.update(feed.riders)
    restarted.proc.bind_state(restarted.sink.store)
    before = counted("telemetry.wearable", "replayed")
    restarted.batch([first])
    assert counted("telemetry.wearable", "replayed") - before == 4
    assert restarted.riders["r1"]["records"]["wearable"] == {"applied": 4, "replayed": 4}


def test_a_state_written_before_envelopes_still_recognises_its_last_message(tmp_path: Path) -> None:
    feed = Feed(tmp_path)
    singles = [feed.record("wearable", r) for r in readings(2)]
    feed.batch(singles)
    assert feed.riders["r1"]["offsets"]["wearable"] == [0, 1]  # a single record's position: the whole message
    feed.batch([singles[1], feed.record("wearable", envelope(readings(2, T0 + 2)))])
    assert feed.riders["r1"]["records"]["wearable"] == {"applied": 4, "replayed": 1}


@pytest.mark.parametrize(("value", "error_class"), [
    (envelope([wearable(iso(T0), "w0")], version=2), "unsupported_envelope_version"),
    (envelope([wearable(iso(T0), "w0")], version="1"), "unsupported_envelope_version"),
    (envelope([wearable(iso(T0), "w0")], version=True), "unsupported_envelope_version"),
    (envelope([]), "invalid_envelope"),
    ({"envelope_version": 1, "records": {"0": {}}}, "invalid_envelope"),
    ({"envelope_version": 1}, "invalid_envelope"),
    (envelope([wearable(iso(T0 + i), f"w{i}") for i in range(MAX_ENVELOPE_RECORDS + 1)]), "invalid_envelope"),
])
def test_an_envelope_wrong_as_a_whole_is_one_dead_letter(tmp_path: Path, value: dict[str, Any],
                                                           error_class: str) -> None:
    feed = Feed(tmp_path, max_payload_bytes=1 << 20)
    feed.batch([feed.record("wearable", value)])
    [letter] = feed.letters()
    assert (letter["index"], letter["error_class"]) == (None, error_class)
    assert "r1" not in feed.riders


def test_an_envelope_larger_than_the_payload_limit_is_too_large(tmp_path: Path) -> None:
    feed = Feed(tmp_path, max_payload_bytes=2048)
    feed.batch([feed.record("wearable", envelope(readings(20)))])
    [letter] = feed.letters()
    assert (letter["index"], letter["error_class"]) == (None, "too_large")


def test_envelopes_are_counted_and_their_records_too(tmp_path: Path) -> None:
    feed = Feed(tmp_path)
    envelopes = metrics.ENVELOPES.labels(topic="telemetry.trip")._value.get()
    processed = counted("telemetry.trip", "processed")
    feed.batch([feed.record("trip", envelope([trip(iso(T0 + i), f"t{i}") for i in range(7)]))])
    assert metrics.ENVELOPES.labels(topic="telemetry.trip")._value.get() - envelopes == 1
    assert counted("telemetry.trip", "processed") - processed == 7


def test_only_rider_reading_topics_take_envelopes(tmp_path: Path) -> None:
    feed = Feed(tmp_path)
    incident = {"event_id": "i1", "ts": iso(T0), "rider_id": "r1", "kind": "fall"}
    feed.batch([feed.record("incidents", envelope([incident]))])
    [letter] = feed.letters()
    assert (letter["index"], letter["error_class"]) == (None, "validation_error")


def test_the_committed_envelope_schemas_accept_an_envelope_and_reject_a_wrong_one() -> None:
    for topic, schema in envelope_schemas().items():
        assert json.loads((CONTRACTS / f"{topic}.envelope.schema.json").read_text()) == json.loads(
            json.dumps(schema)), f"regenerate {topic}.envelope.schema.json: riskstream schemas"
        validator = jsonschema.Draft202012Validator(schema)
        rec = readings(1)[0] if "wearable" in topic else trip(iso(T0), "t0")
        assert validator.is_valid(envelope([rec, rec]))
        assert not validator.is_valid(envelope([rec], version=2))
        assert not validator.is_valid(envelope([]))
        assert not validator.is_valid(rec)  # a single record is the topic's other schema


def test_the_simulators_envelopes_are_read_record_by_record(tmp_path: Path) -> None:
    from riskstream.cli.producer import encode, event_time
    from riskstream.simulation import FleetSimulator, SimConfig
    from riskstream.simulation.envelopes import Envelope, envelopes

    sim = FleetSimulator(SimConfig(riders=300, seed=3, scenario="mixed"))
    records = [r for r in sim.records(40) if r.role in ("wearable", "trip") and r.raw is None]
    packed = list(envelopes(records, 10))
    assert all(isinstance(p, Envelope) for p in packed) and sum(p.size for p in packed) == len(records)
    assert event_time(packed[0]) == packed[0].newest_ts  # the producer paces an envelope by its newest record
    feed = Feed(tmp_path)
    feed.batch([feed.record(role, raw, key) for role, key, raw in map(encode, packed)])
    assert feed.letters() == []
    applied = sum(n.get("applied", 0) for state in feed.riders.values() for n in state["records"].values())
    assert applied == len(records)


def test_simulate_refuses_envelopes_into_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from riskstream.cli.main import main

    assert main(["simulate", "--envelope", "10", "--hours", "0.001", "--to-file", str(tmp_path / "x.jsonl")]) != 0
    assert "--envelope applies to producing into the topics" in capsys.readouterr().err
    assert not (tmp_path / "x.jsonl").exists()
