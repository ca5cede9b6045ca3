"""Per-rider cost work (issue 17): per-stream buffers, the compact versioned state, old states still load,
and the fast feature path equal to the replaying reference on random event sequences."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

from features import FeatureConfig, RiderState, UpdateResult, rider_features, update_trip, update_wearable

CFG = FeatureConfig()
T0 = 1_782_864_000.0
DATA = Path(__file__).parent / "data"


def wear(i: float, hr: float = 100.0, eid: str | None = None) -> SimpleNamespace:
    return SimpleNamespace(event_id=eid or f"w{i}", ts=datetime.fromtimestamp(T0 + i, tz=timezone.utc),
                           heart_rate_bpm=hr, skin_temp_c=34.0, accel_peak_g=1.2, accel_mean_g=1.0, accel_var=0.02,
                           on_body=True)


def trip(i: float, status: str = "riding", speed: float = 20.0, eid: str | None = None) -> SimpleNamespace:
    return SimpleNamespace(event_id=eid or f"t{i}", ts=datetime.fromtimestamp(T0 + i, tz=timezone.utc), zone_id="z1",
                           status=status, speed_kmh=speed, accel_long_g=0.0, accel_lat_g=0.0, speed_limit_kmh=None,
                           phone_handling=False)


def same(a: dict[str, float], b: dict[str, float]) -> list[str]:
    """Names whose values differ (NaN equals NaN)."""
    return [k for k in a if not ((math.isnan(a[k]) and math.isnan(b[k])) or a[k] == b[k])]


def test_wearable_is_not_too_late_when_the_trip_stream_runs_ahead() -> None:
    # issue 14 finding 6: the trip stream 61 min of event time ahead of the wearable stream (a backlog on
    # one topic), so its minutes take the ring slots of the wearable's. Lateness is judged per stream:
    # every in-order wearable record is applied.
    s = RiderState.new("r1")
    for i in range(3660, 3660 + 600):
        assert update_trip(s, trip(i), CFG) is UpdateResult.APPLIED
    outcomes = [update_wearable(s, wear(i, hr=100.0 + i % 7), CFG) for i in range(0, 300)]
    assert outcomes.count(UpdateResult.APPLIED) == 300
    f = rider_features(s, None, T0 + 299, CFG)  # as of the wearable's own clock
    assert f["hr_mean_1m"] == sum(100.0 + i % 7 for i in range(180, 300)) / 120  # minutes 3 and 4
    late = rider_features(s, None, T0 + 4260, CFG)
    assert math.isnan(late["hr_mean_1m"]) and late["speed_mean_5m"] == 20.0


def test_a_version_1_state_still_loads_and_gives_the_same_features() -> None:
    # written by main before the per-stream rings (one shared 19-field minute ring)
    old = json.loads((DATA / "rider_state_v1.json").read_text())
    assert old["state"]["v"] == 1
    state = RiderState.from_dict(old["state"])
    assert same(rider_features(state, None, old["now"], CFG), old["features"]) == []
    again = RiderState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert same(rider_features(again, None, old["now"], CFG), old["features"]) == []


def test_an_unknown_state_version_says_what_to_do() -> None:
    d = RiderState.new("r1").to_dict()
    d["v"] = 99
    try:
        RiderState.from_dict(d)
    except ValueError as exc:
        assert "99" in str(exc) and "rebuild the state table" in str(exc)
    else:
        raise AssertionError("version 99 was read")
