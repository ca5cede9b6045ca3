"""The capacity benchmark's fleet and its worker latency (benchmarks/bench_capacity.py), without a broker."""

from __future__ import annotations

import logging
from collections import Counter

from alerts.pseudonym import pseudonymize
from benchmarks.bench_capacity import (
    _NotYetCreated,
    combine,
    first_sent,
    fleet,
    readings_of,
    worker_latencies,
    zones_and_weather,
)
from riskstream.simulation.envelopes import envelopes


def test_the_fleet_has_every_rider_online_through_the_measured_half_with_spread_starts() -> None:
    seconds = 40
    records = fleet(30, seconds, seed=3)
    readings = [r for r in records if r.role != "weather"]
    t0 = min(r.value.ts.timestamp() for r in readings)
    assert len({r.key for r in readings}) == 30
    # the measured (second) half: every rider sends a wearable and a trip record about every second. The simulator
    # logs its riders in over its first minutes: without the warm-up, riders sent 2 records in a 20-s window
    late = Counter((r.key, r.role) for r in readings if r.value.ts.timestamp() >= t0 + seconds / 2)
    assert len(late) == 60 and min(late.values()) >= 0.9 * seconds / 2, sorted(late.values())[:5]
    # riders come online one after another over the first half, so their score points do not fall in one second
    starts = {}
    for r in readings:
        starts.setdefault(r.key, r.value.ts.timestamp() - t0)
    assert len(set(starts.values())) >= 15 and max(starts.values()) <= seconds / 2


def test_the_worker_latency_starts_when_the_message_carrying_the_reading_was_sent() -> None:
    records = fleet(5, 20, seed=3)
    messages = list(envelopes(records, 10))
    sent_at = [1000.0 + i for i in range(len(messages))]
    sent = first_sent(messages, sent_at)
    # every reading is in the map, at the send time of the (first) message that carries it
    for i, msg in enumerate(messages):
        for reading in readings_of(msg):
            assert sent[reading] <= sent_at[i]
    assert set(sent) == {(r.key, round(r.value.ts.timestamp(), 3)) for r in records if r.role != "weather"}

    rider, ts = next(iter(sent))
    key = b"0123456789abcdef"
    outputs = [("alerts", rider, ts, sent[(rider, ts)] + 0.5),
               ("risk_scores", pseudonymize(rider, key), ts, sent[(rider, ts)] + 0.25),
               ("alerts", rider, ts + 3600.0, 5000.0)]  # decided at no reading that was sent
    latency, unmatched, after_weather = worker_latencies(outputs, sent, {pseudonymize(rider, key): rider})
    assert latency == {"alerts": [0.5], "risk_scores": [0.25]}
    assert (unmatched, after_weather) == (1, 0)

    # the zone's weather changed after the reading was sent: the worker scored the rider again at that event time,
    # and the latency starts at the weather message (from the reading, it read 8.5 s)
    zones, _ = zones_and_weather(messages, sent_at)
    weather = {zones[rider]: [sent[(rider, ts)] + 8.0]}
    later = [("alerts", rider, ts, sent[(rider, ts)] + 8.5)]
    assert worker_latencies(later, sent, {}, zones, weather) == ({"alerts": [0.5], "risk_scores": []}, 0, 1)
    assert worker_latencies(later, sent, {}, zones, {"another-zone": weather[zones[rider]]})[0]["alerts"] == [8.5]


def test_a_repeated_level_is_the_median_of_its_rounds_and_sustained_when_most_rounds_were() -> None:
    rounds = [{"riders": 500, "p99_s": p99, "sustained": p99 <= 1.0, "alert_latency_s": {"n": n, "p99": p99}}
              for p99, n in ((0.9, 70), (2.25, 60), (0.8, 80))]
    level = combine(rounds)
    assert level["p99_s"] == 0.9 and level["spread"]["p99_s"] == [0.8, 2.25]
    assert level["alert_latency_s"] == {"n": 70, "p99": 0.9}
    assert level["sustained"] and level["sustained_rounds"] == 2 and level["rounds"] == 3
    assert not combine(rounds[1:2] * 2 + rounds[:1])["sustained"]


def test_a_level_sends_no_burst_of_every_riders_last_partial_envelope_at_the_end() -> None:
    # the replay's end flushed every rider's open envelope in its last second (893 messages in one batch at 500
    # riders, about 100 a second before): outputs decided on that burst set the insurer records' p99
    import statistics

    from benchmarks.bench_capacity import _event_time, fleet, full_envelopes
    from riskstream.simulation.envelopes import envelopes

    def busiest_second_over_median(messages: list) -> float:
        per_second = Counter(int(_event_time(m)) for m in messages if m.role != "weather")
        return max(per_second.values()) / statistics.median(per_second.values())

    packed = list(envelopes(fleet(40, 120, 3), 10))
    assert busiest_second_over_median(packed) > 5  # the replay's end: every rider's last partial envelope at once
    sent = full_envelopes(packed, 10)
    assert busiest_second_over_median(sent) < 3
    assert all(m.size == 10 for m in sent if m.role != "weather")


def test_aiokafkas_topic_not_found_error_is_dropped_only_for_the_changelog_not_yet_created() -> None:
    f = _NotYetCreated("cap-1-rider-state-changelog")

    def record(msg: str, *args: object) -> logging.LogRecord:
        return logging.LogRecord("aiokafka.cluster", logging.ERROR, "", 0, msg, args, None)

    assert not f.filter(record("Topic %s not found in cluster metadata", "cap-1-rider-state-changelog"))
    assert f.filter(record("Topic %s not found in cluster metadata", "cap-1.wearable"))  # any other topic: shown
    assert f.filter(record("Unable connect to node with id %s", 1))
