"""Output ids: one id per distinct record, the same ids for the same input (issue 12, finding 6)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from streams.processor import Processor, RawRecord
from streams.settings import Settings
from tests.event_ids import late_weather, reused_ids, telemetry
from tests.unit.test_streams_processor import Harness, settings


def raw(s: Settings, records: list[tuple[str, Any]], offsets: Counter[str]) -> list[RawRecord]:
    out = []
    for role, rec in records:
        topic = s.topics.by_role()[role]
        key = rec.zone_id if role == "weather" else rec.rider_id
        out.append(RawRecord(topic, 0, offsets[topic], key.encode(), rec.model_dump_json().encode(), 1.0))
        offsets[topic] += 1
    return out


def run(s: Settings, harness: Harness | None = None, flips: slice = slice(None)) -> Harness:
    """Telemetry first, then each late weather observation in a batch of its own (as they arrive)."""
    offsets: Counter[str] = Counter()
    tel, weather = raw(s, telemetry(), offsets), raw(s, late_weather(), offsets)
    h = harness or Harness(Processor(s))
    if flips.start is None:
        h.feed(tel)
    for rec in weather[flips]:
        h.feed([rec])
    return h


def outputs(h: Harness) -> list[tuple[str, dict[str, Any]]]:
    return [(role, value) for role, _, value in h.outputs]


def test_a_rescore_at_the_same_event_time_gets_a_new_id(tmp_path: Path) -> None:
    h = run(settings(tmp_path))
    rescored = Counter(p["ts"] for p in h.of("risk_scores"))
    ts, n = rescored.most_common(1)[0]
    assert n >= 4, f"the recording should rescore one event time several times, got {rescored}"
    assert reused_ids(outputs(h)) == {}
    assert len({p["event_id"] for p in h.of("risk_scores") if p["ts"] == ts}) == n


def test_the_same_input_gives_the_same_ids(tmp_path: Path) -> None:
    first, second = run(settings(tmp_path / "a")), run(settings(tmp_path / "b"))
    ids = [(role, value["event_id"]) for role, value in outputs(first)]
    assert ids == [(role, value["event_id"]) for role, value in outputs(second)]
    assert len(ids) == len(set(ids))


def test_a_restarted_processor_numbers_on_from_the_changelogged_state(tmp_path: Path) -> None:
    straight = run(settings(tmp_path / "a"))
    first = run(settings(tmp_path / "b"), flips=slice(None, 3))
    first.proc.save_online_model()
    # a new process: only the tables (changelog) and the online model file survive
    second = Harness(Processor(settings(tmp_path / "b")), riders=first.riders)
    s = second.proc.settings
    # its weather feed reads the weather topic back before the rider's records come (no rider is held yet)
    back = raw(s, [r for r in telemetry() if r[0] == "weather"] + late_weather()[:3], Counter())
    assert not second.proc.process_weather(back, dead_letters=False).outputs
    second.feed(raw(s, telemetry()[-1:], Counter()))  # the rider's next record (a repeat) makes it hot again
    run(s, second, flips=slice(3, None))
    ids = [(role, v["event_id"]) for role, v in outputs(first) + outputs(second)]
    assert len(ids) == len(set(ids)), Counter(ids).most_common(3)
    assert ids == [(role, value["event_id"]) for role, value in outputs(straight)]
