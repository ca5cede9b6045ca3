"""Event time end to end through the processor: the same recording gives the same decisions paced or as a backlog;
weather is the zone's as of each rider's event time; stale weather never lowers risk and says so; offline riders
get no push alerts."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from riskstream.contracts.records import TripPoint, WearableReading, WeatherObservation
from riskstream.simulation import FleetSimulator, SimConfig
from streams import metrics
from streams.driver import Driver, MemorySink
from streams.processor import Processor, RawRecord
from streams.settings import Settings, WorkerSettings
from tests.unit.test_streams_processor import raw_records

FALL_RIDER = "rider-0002"
#: Seconds after the recording's start of the fall: inside one backlog batch that spans far more than 300 s.
FALL_AT_S = 1500


def settings(tmp: Path) -> Settings:
    return Settings(worker=WorkerSettings(state_dir=tmp))


def altered(record: Any, **changes: Any) -> Any:
    """A copy of a (frozen) record with ``changes``."""
    return type(record).model_validate({**record.model_dump(), **changes})


def with_fall(records: list[Any], rider: str, at: datetime) -> list[Any]:
    """``records`` with a suspected fall of ``rider`` at ``at``: a 6 g impact, then 10 s lying still."""
    out = []
    for rec in records:
        if rec.role == "wearable" and rec.key == rider and at <= rec.value.ts <= at + timedelta(seconds=10):
            first = rec.value.ts == at
            rec.value = altered(rec.value, accel_peak_g=6.0 if first else 1.0, accel_mean_g=1.4 if first else 1.0,
                                accel_var=0.8 if first else 0.001)
        out.append(rec)
    return out


@pytest.fixture(scope="module")
def recording() -> list[Any]:
    """40 minutes of a 6-rider heat wave (deterministic) with one suspected fall at 25 min."""
    config = SimConfig(riders=6, seed=4, scenario="heatwave")
    records = list(FleetSimulator(config).records(40 * 60))
    return with_fall(records, FALL_RIDER, config.start + timedelta(seconds=FALL_AT_S))


def outputs(sink: MemorySink) -> dict[str, list[dict[str, Any]]]:
    by_role: dict[str, list[dict[str, Any]]] = {}
    for role, _, value in sink.take_outputs():
        by_role.setdefault(role, []).append(json.loads(value))
    return by_role


def replay(tmp: Path, records: list[Any], mode: str) -> dict[str, list[dict[str, Any]]]:
    """Run ``records`` through a fresh processor and its driver.

    ``paced``: in event-time order, 20 records a batch (the weather of a batch first), as a live stream.
    ``backlog``: all weather first, then the rider topics in batches of 5,000 records (about 7 min of event time).
    ``interleaved``: weather and riders in batches of 5,000 records of the recording's own order.
    """
    s = settings(tmp)
    proc, sink = Processor(s), MemorySink()
    driver = Driver(proc, sink)
    weather = s.topics.weather
    rows = raw_records(s, records)

    async def run() -> None:
        if mode == "paced":
            ordered = [r for _, r in sorted(zip(records, rows), key=lambda pair: pair[0].value.ts)]
            await driver.feed(ordered, batch_size=20)
        elif mode == "backlog":
            await driver.weather([r for r in rows if r.topic == weather])
            riders = [r for r in rows if r.topic != weather]
            for i in range(0, len(riders), 5000):
                await driver.riders(riders[i:i + 5000])
        else:
            await driver.feed(rows, batch_size=5000)

    asyncio.run(run())
    return outputs(sink)


def decisions(out: dict[str, list[dict[str, Any]]]) -> dict[str, set[tuple[Any, ...]]]:
    """What was decided, by whom, at which event time: alerts, escalations, insurer records and audit records."""
    return {
        "alerts": {(a["event_id"], a["rider_id"], a["ts"], a["kind"], a["severity"],
                    tuple(r["code"] for r in a["reasons"])) for a in out.get("alerts", [])},
        "escalations": {(e["event_id"], e["rider_id"], e["ts"], e["reason"], e["waited_s"])
                        for e in out.get("escalations", [])},
        "insurer": {(p["event_id"], p["rider_pseudonym"], p["ts"], round(p["risk"]["injury"], 12),
                     round(p["risk"]["accident"], 12), round(p["premium_multiplier"], 12), p["risk_band"])
                    for p in out.get("risk_scores", [])},
        "audit": {(a["event_id"], a["decision_type"], a["outcome"]) for a in out.get("audit", [])},
    }


def test_paced_and_backlog_replays_of_one_recording_decide_the_same(recording: list[Any], tmp_path: Path) -> None:
    paced = decisions(replay(tmp_path / "paced", recording, "paced"))
    assert any(a[1] == FALL_RIDER and a[3] == "fall" for a in paced["alerts"]), "the fall is asked about"
    assert {e[1] for e in paced["escalations"]} == {FALL_RIDER}, "and escalated, unanswered"
    assert any(a[3] == "heat" for a in paced["alerts"]) and paced["insurer"]
    for mode in ("backlog", "interleaved"):
        assert decisions(replay(tmp_path / mode, recording, mode)) == paced, mode


def test_a_fall_inside_one_batch_spanning_more_than_the_fall_window_is_asked_about(tmp_path: Path) -> None:
    s = settings(tmp_path)
    t0 = datetime(2026, 7, 15, 2, 0, tzinfo=timezone.utc)
    rows = []
    for i in range(900):  # 15 min at 1 Hz in one batch; the fall at 2 min is 780 s before the batch's end
        ts = t0 + timedelta(seconds=i)
        fall, still = i == 120, 120 < i <= 130
        rows.append(("wearable", WearableReading(
            event_id=f"w{i}", ts=ts, rider_id="r1", heart_rate_bpm=110.0, accel_peak_g=6.0 if fall else 1.2,
            accel_mean_g=1.0, accel_var=0.001 if still else 0.05)))
    proc, sink = Processor(s), MemorySink()
    records = [RawRecord(s.topics.by_role()[role], 0, i, b"r1", rec.model_dump_json().encode(), None)
               for i, (role, rec) in enumerate(rows)]
    asyncio.run(Driver(proc, sink).riders(records))
    falls = [a for a in outputs(sink).get("alerts", []) if a["kind"] == "fall"]
    assert [a["ts"] for a in falls] == ["2026-07-15T02:02:05Z"]  # when 5 s of stillness confirmed the impact


# ------------------------------------------------------------------ weather as of the rider's event time
def weather_record(s: Settings, offset: int, t: datetime, temp: float, zone: str = "z1",
                   rh: float = 50.0) -> RawRecord:
    obs = WeatherObservation(event_id=f"wx-{zone}-{offset}", ts=t, zone_id=zone, air_temp_c=temp,
                             relative_humidity_pct=rh)
    return RawRecord(s.topics.weather, 0, offset, zone.encode(), obs.model_dump_json().encode(), None)


def trip_records(s: Settings, rider: str, t0: datetime, seconds: int, status: str = "riding", zone: str = "z1",
                 first_offset: int = 0) -> list[RawRecord]:
    return [RawRecord(s.topics.trip, 0, first_offset + i, rider.encode(), TripPoint(
        event_id=f"t-{rider}-{first_offset + i}", ts=t0 + timedelta(seconds=i), rider_id=rider, zone_id=zone,
        status=status, lat=31.2, lon=121.5, speed_kmh=18.0 if status == "riding" else 0.0).model_dump_json().encode(),
        None) for i in range(seconds)]


T0 = datetime(2026, 7, 15, 2, 0, tzinfo=timezone.utc)


def test_weather_stamped_after_a_riders_event_is_not_used_for_it(tmp_path: Path) -> None:
    s = settings(tmp_path)
    proc, sink = Processor(s), MemorySink()
    driver = Driver(proc, sink)
    asyncio.run(driver.weather([weather_record(s, 0, T0, 24.0), weather_record(s, 1, T0 + timedelta(hours=3), 40.0,
                                                                              rh=60.0)]))
    asyncio.run(driver.riders(trip_records(s, "r1", T0 + timedelta(minutes=10), 180)))  # a backlog at 10:10 local
    audit = outputs(sink).get("audit", [])
    assert audit and not any(a["outcome"].startswith("alert heat") for a in audit), "40 °C is 3 h later"
    premium = [a for a in audit if a["decision_type"] == "premium_signal"]
    assert premium and all("WEATHER_STALE" not in {r["code"] for r in a["reasons"]} for a in premium)


def test_a_zone_whose_feed_stops_never_lowers_risk_and_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    """Two workers, one recording: in one the zone's feed stops at 30 min; in the other it goes on sending the
    last observation's values. Once the weather is past its first freshness limit (1 h, precipitation), the
    riders' risk in the first is never lower than in the second, and its outputs and metric say it is stale.
    (Within the limit the weather counts as current, and the model's own use of ``weather_age_s`` decides.)"""
    config = SimConfig(riders=4, seed=7, scenario="heatwave", zones=("z1",), weather_interval_s=60.0)
    records = list(FleetSimulator(config).records(3 * 3600))
    stop = config.start + timedelta(minutes=30)
    last = max((r for r in records if r.role == "weather" and r.value.ts <= stop), key=lambda r: r.value.ts).value
    stopped = [r for r in records if r.role != "weather" or r.value.ts <= stop]
    steady = [r if r.role != "weather" or r.value.ts <= stop else
              type(r)("weather", r.key, altered(last, ts=r.value.ts, event_id=f"{r.value.event_id}-s"))
              for r in records]

    def run(name: str, recs: list[Any]) -> tuple[dict[tuple[str, float], tuple[float, float]],
                                                  dict[str, list[dict[str, Any]]], float | None]:
        s = settings(tmp_path / name)
        proc, sink = Processor(s), MemorySink()
        risks: dict[tuple[str, float], tuple[float, float]] = {}
        decide: Callable[..., None] = proc._decide

        def recorded(batch: Any, point: Any, scored: Any, versions: Any) -> None:
            risks[(point.rider_id, point.now)] = (scored.injury, scored.accident)
            decide(batch, point, scored, versions)

        monkeypatch.setattr(proc, "_decide", recorded)
        asyncio.run(Driver(proc, sink).feed(raw_records(s, recs), batch_size=200))
        stale = metrics.REGISTRY.get_sample_value("riskstream_weather_stale_zones")
        return risks, outputs(sink), stale

    steady_risk, steady_out, steady_stale = run("steady", steady)
    stopped_risk, stopped_out, stopped_stale = run("stopped", stopped)
    assert steady_risk.keys() == stopped_risk.keys()
    limit = last.ts.timestamp() + s_precip_limit()
    past = [k for k in steady_risk if k[1] > limit]
    assert len(past) > 100
    lower = [(k, stopped_risk[k], steady_risk[k]) for k in past
             if any(a < b - 1e-12 for a, b in zip(stopped_risk[k], steady_risk[k]))]
    assert not lower, lower[:5]
    stale_insurer = [p for p in stopped_out["risk_scores"] if ts(p) > limit]
    assert stale_insurer and all("WEATHER_STALE" in codes(p) for p in stale_insurer)
    assert not any("WEATHER_STALE" in codes(p) for p in stopped_out["risk_scores"] if ts(p) <= limit)
    assert all("WEATHER_STALE" in codes(a) for a in stopped_out["audit"] if ts(a) > limit)
    assert not any("WEATHER_STALE" in codes(a) for a in steady_out["audit"] + steady_out["risk_scores"])
    assert (stopped_stale, steady_stale) == (1.0, 0.0)


def s_precip_limit() -> float:
    return Settings().features.weather_precip_max_age_s


def ts(record: dict[str, Any]) -> float:
    return datetime.fromisoformat(record["ts"].replace("Z", "+00:00")).timestamp()


def codes(record: dict[str, Any]) -> set[str]:
    return {r["code"] for r in record["reasons"]}


# ------------------------------------------------------------------ offline riders
def test_an_offline_rider_gets_no_alert_when_its_zone_turns_hot(tmp_path: Path) -> None:
    s = settings(tmp_path)
    proc, sink = Processor(s), MemorySink()
    driver = Driver(proc, sink)
    asyncio.run(driver.weather([weather_record(s, 0, T0, 24.0)]))
    asyncio.run(driver.riders(trip_records(s, "on", T0, 600) + trip_records(s, "off", T0, 300)
                              + trip_records(s, "off", T0 + timedelta(seconds=300), 1, status="offline",
                                             first_offset=300)))
    assert not outputs(sink).get("alerts")
    asyncio.run(driver.weather([weather_record(s, 1, T0 + timedelta(seconds=540), 40.0, rh=60.0)]))
    alerts = outputs(sink).get("alerts", [])
    assert {a["rider_id"] for a in alerts} == {"on"}, [(a["rider_id"], a["ts"], a["kind"]) for a in alerts]
    assert math.isclose(ts(alerts[0]), (T0 + timedelta(seconds=599)).timestamp())
