"""The capacity benchmark's fleet and its worker latency (benchmarks/bench_capacity.py), without a broker."""

from __future__ import annotations

from collections import Counter

from alerts.pseudonym import pseudonymize
from benchmarks.bench_capacity import first_sent, fleet, readings_of, worker_latencies
from riskstream.simulation.envelopes import envelopes


def test_the_fleet_sends_a_wearable_and_a_trip_record_per_rider_second_through_the_window() -> None:
    records = fleet(30, 20, seed=3)
    readings = [r for r in records if r.role != "weather"]
    riders = {r.key for r in readings}
    assert len(riders) == 30
    per_rider = Counter((r.key, r.role) for r in readings)
    # the simulator logs its riders in over its first minutes: without the warm-up most riders start late
    assert min(per_rider.values()) >= 18, sorted(per_rider.values())[:5]
    assert len(readings) >= 0.9 * 30 * 20 * 2


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
    latency, unmatched = worker_latencies(outputs, sent, {pseudonymize(rider, key): rider})
    assert latency == {"alerts": [0.5], "risk_scores": [0.25]}
    assert unmatched == 1
