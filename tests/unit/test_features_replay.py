"""Offline replay and the stream give identical features; duplicates and shuffling within lateness do not matter."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys

from features import FEATURE_NAMES, FeatureConfig, RiderState, rider_features
from features.replay import apply_record, replay_features, snapshot_due
from features.weather import ZoneWeather
from riskstream.testing.recording import merged_recording

CFG = FeatureConfig()
START = 1_782_864_000.0
RECORDING = merged_recording(riders=2, start=START, minutes=45)


def _same(a: dict[str, float], b: dict[str, float]) -> bool:
    return a.keys() == b.keys() and all((math.isnan(a[k]) and math.isnan(b[k])) or a[k] == b[k] for k in a)


def _stream(records, every_s: float = 300.0, through_json: bool = False):  # type: ignore[no-untyped-def]
    """A hand-written stream loop: update, then features at the same snapshot times (optionally restoring state from its changelog form every 5th record)."""
    riders: dict[str, RiderState] = {}
    zones: dict[str, ZoneWeather] = {}
    due: dict[str, float] = {}
    rows = []
    for n, (role, rec) in enumerate(records):
        if through_json and n % 5 == 0 and role != "weather" and rec.rider_id in riders:
            riders[rec.rider_id] = RiderState.from_dict(json.loads(json.dumps(riders[rec.rider_id].to_dict())))
        if through_json and n % 5 == 0 and role == "weather" and rec.zone_id in zones:
            zones[rec.zone_id] = ZoneWeather.from_dict(json.loads(json.dumps(zones[rec.zone_id].to_dict())))
        state = apply_record(role, rec, riders, zones, CFG)
        if state is not None and (now := snapshot_due(state, due, every_s)) is not None:
            rows.append((state.rider_id, now, rider_features(state, zones.get(state.zone_id), now, CFG)))
    return rows, riders, zones


def test_replay_frame_shape() -> None:
    df = replay_features(RECORDING, CFG)
    assert list(df.columns) == ["rider_id", "ts", "zone_id", *FEATURE_NAMES]
    assert set(df.rider_id) == {"r0", "r1"}
    assert len(df) >= 2 * 6  # 45 min, every 5 min while online (one 20-min break)
    assert (df.groupby("rider_id").ts.diff().dropna() >= 300).all()


def test_replay_equals_stream_loop_even_through_the_changelog_form() -> None:
    df = replay_features(RECORDING, CFG)
    rows, _, _ = _stream(RECORDING, through_json=True)
    assert len(rows) == len(df)
    for (rider, ts, feats), rec in zip(rows, df.to_dict("records")):
        assert (rider, ts) == (rec["rider_id"], rec["ts"])
        assert _same(feats, {k: rec[k] for k in FEATURE_NAMES})


def _final(records) -> dict[str, dict[str, float]]:  # type: ignore[no-untyped-def]
    _, riders, zones = _stream(records)
    end = START + 45 * 60 + 10
    return {r: rider_features(s, zones.get(s.zone_id), end, CFG) for r, s in riders.items()}


def test_duplicates_and_shuffle_within_lateness_give_the_clean_features() -> None:
    clean = _final(RECORDING)
    rng = random.Random(7)
    noisy = []
    for item in RECORDING:
        noisy.append(item)
        if rng.random() < 0.1:
            noisy.append(item)  # redelivered
    # shuffle: each record is delayed by up to 60 s of event time (half the allowed lateness)
    keyed = [(rec.ts.timestamp() + (rng.uniform(0, 60) if role != "weather" else 0.0), n, role, rec)
             for n, (role, rec) in enumerate(noisy)]
    keyed.sort(key=lambda x: (x[0], x[1]))
    shuffled = [(role, rec) for _, _, role, rec in keyed]
    assert shuffled != noisy
    got = _final(shuffled)
    for rider in clean:
        diff = [k for k in FEATURE_NAMES if not _same({k: clean[rider][k]}, {k: got[rider][k]})]
        assert not diff, (rider, {k: (clean[rider][k], got[rider][k]) for k in diff})


def test_importing_features_does_not_import_pandas() -> None:
    code = "import sys, features; assert 'pandas' not in sys.modules, 'pandas imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
