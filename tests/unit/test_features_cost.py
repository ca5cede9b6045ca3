"""Per-rider cost work (issue 17): per-stream buffers, the compact versioned state, old states still load,
and the fast feature path equal to the replaying reference on random event sequences."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

from features import FeatureConfig, RiderState, UpdateResult, rider_features, update_trip, update_wearable
from features.rider_state import STATE_VERSION

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


def _random_stream(seed: int, seconds: int | None = None) -> list[tuple[str, SimpleNamespace]]:
    """About 15 min of one rider's wearable and trip records: shifts between riding, waiting, breaks and
    offline, dropouts, stops, harsh events, jitter, out-of-order arrival within the lateness, duplicates."""
    import random

    rng = random.Random(seed)
    events: list[tuple[float, str, SimpleNamespace]] = []
    status, hr = "riding", 90.0
    for i in range(seconds or rng.randint(300, 1000)):
        if rng.random() < 0.02:
            status = rng.choice(["riding", "riding", "waiting", "break", "offline"])
        hr = min(185.0, max(50.0, hr + rng.gauss(0, 3)))
        at = i + rng.random() * 0.9
        if rng.random() > 0.05:
            events.append((at, "w", SimpleNamespace(
                event_id=f"w{i}", ts=datetime.fromtimestamp(T0 + at, tz=timezone.utc),
                heart_rate_bpm=None if rng.random() < 0.05 else hr, skin_temp_c=34.0 + rng.random(),
                accel_peak_g=3.5 if rng.random() < 0.01 else 1.0 + rng.random(), accel_mean_g=1.0,
                accel_var=0.001 if rng.random() < 0.3 else 0.03, on_body=rng.random() > 0.02)))
        if rng.random() > (0.3 if rng.random() < 0.05 else 0.03):
            events.append((at, "t", SimpleNamespace(
                event_id=f"t{i}", ts=datetime.fromtimestamp(T0 + at, tz=timezone.utc), zone_id="z1", status=status,
                speed_kmh=0.0 if status != "riding" else rng.uniform(0, 40), accel_long_g=rng.uniform(-0.5, 0.45),
                accel_lat_g=rng.uniform(-0.5, 0.5), speed_limit_kmh=rng.choice([None, 20.0, 50.0]),
                phone_handling=rng.random() < 0.05)))
    # arrival order: mostly in order, some records delayed up to 150 s (some beyond the lateness), some twice
    arrival = [(at + (rng.uniform(0, 150) if rng.random() < 0.08 else 0.0), role, rec) for at, role, rec in events]
    arrival += [(at + rng.uniform(0, 60), role, rec) for at, role, rec in events if rng.random() < 0.03]
    if rng.random() < 0.3:  # a trip jump: two minutes without trip records, then one far ahead
        arrival = [a for a in arrival if not (a[1] == "t" and 200 < a[0] < 340)]
    return [(role, rec) for _, role, rec in sorted(arrival, key=lambda a: a[0])]


def test_fast_features_equal_the_replay_on_random_event_sequences() -> None:
    from features.compute import rider_features_replay

    compared = 0
    for seed in range(25):
        s = RiderState.new("r1")
        for n, (role, rec) in enumerate(_random_stream(seed)):
            if role == "w":
                update_wearable(s, rec, CFG)
            else:
                update_trip(s, rec, CFG, zone_heat_index_c=33.0 if n % 500 < 250 else 20.0)
            if n % 37 == 0:
                newest = s.newest_ts() or T0
                for now in (newest, newest + 0.5, newest + 7.0, newest - 3.0):
                    fast, slow = rider_features(s, None, now, CFG), rider_features_replay(s, None, now, CFG)
                    assert same(fast, slow) == [], (seed, n, now - T0, [(k, fast[k], slow[k]) for k in same(fast, slow)])
                    compared += 1
        assert s.tail is None or len(s.tail.trip) <= 4  # sealed rows leave the overlay
    assert compared > 600


def test_the_stored_state_gives_the_same_features_after_an_hour() -> None:
    # the changelog form keeps only what features read (15-min wearable windows, 10-min trip windows,
    # 60 min of harsh brakes): a state read back computes the same features, now and as time goes on
    for seed in range(3):
        s = RiderState.new("r1")
        for role, rec in _random_stream(seed, seconds=3900):
            (update_wearable if role == "w" else update_trip)(s, rec, CFG)
        back = RiderState.from_dict(json.loads(json.dumps(s.to_dict())))
        assert back.to_dict() == s.to_dict()
        newest = s.newest_ts() or T0
        for now in (newest, newest + 30.0, newest + 400.0):
            assert same(rider_features(back, None, now, CFG), rider_features(s, None, now, CFG)) == []
        assert len(json.dumps(s.to_dict())) < 3100  # version 4 (packed, 2-byte digests); 3 wrote 3,217 B here, 2 about 11 KB


def test_a_version_2_state_still_loads_and_gives_the_same_features() -> None:
    # written by main before the packed form (JSON lists, a 512-digest dedup ring)
    old = json.loads((DATA / "rider_state_v2.json").read_text())
    assert old["state"]["v"] == 2
    state = RiderState.from_dict(old["state"])
    assert same(rider_features(state, None, old["now"], CFG), old["features"]) == []
    again = RiderState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert again.to_dict()["v"] == STATE_VERSION
    assert same(rider_features(again, None, old["now"], CFG), old["features"]) == []


def test_a_version_3_state_still_loads_with_its_dedup_and_gives_the_same_features() -> None:
    # written by main before the 2-byte digests (4-byte CRC32 slots, base64): tests/unit/data/rider_state_v3.json
    # holds a rider's state after _random_stream(7, seconds=900) (late records and resends included)
    old = json.loads((DATA / "rider_state_v3.json").read_text())
    assert old["state"]["v"] == 3
    state = RiderState.from_dict(old["state"])
    assert same(rider_features(state, None, old["now"], CFG), old["features"]) == []
    again = RiderState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert again.to_dict()["v"] == STATE_VERSION == 4
    assert same(rider_features(again, None, old["now"], CFG), old["features"]) == []
    # records applied before the state was written are still known: resent, they are duplicates
    sent = {rec.event_id: (role, rec) for role, rec in _random_stream(7, seconds=900)}
    for s in (state, again):
        resent = [sent[eid] for ids in old["recent_event_ids"].values() for eid in ids]
        assert len(resent) == 10
        outcomes = [(update_wearable(s, rec, CFG) if role == "w" else update_trip(s, rec, CFG)) for role, rec in resent]
        assert outcomes == [UpdateResult.DUPLICATE] * 10


def test_a_16_bit_digest_collision_is_a_false_duplicate_only_in_an_occupied_second() -> None:
    # the documented cost of 2-byte digests: two ids with the same 16 bits of CRC32
    from features.rider_state import _digest

    seen: dict[int, str] = {}
    a = b = ""
    for i in range(100_000):
        eid = f"w-{i}"
        if (d := _digest(eid)) in seen:
            a, b = seen[d], eid
            break
        seen[d] = eid
    assert a and _digest(a) == _digest(b)
    s = RiderState.new("r1")
    for i in range(10):
        update_wearable(s, wear(i), CFG)
    assert update_wearable(s, wear(20.2, eid=a), CFG) is UpdateResult.APPLIED
    assert update_wearable(s, wear(25.0), CFG) is UpdateResult.APPLIED
    assert update_wearable(s, wear(20.6, eid=b), CFG) is UpdateResult.DUPLICATE  # late, into a's second: false
    assert update_wearable(s, wear(26.0, eid=b), CFG) is UpdateResult.APPLIED  # ahead of the stream: never looked up
    assert update_wearable(s, wear(15.5, eid=b), CFG) is UpdateResult.APPLIED  # late, into an empty second


def test_a_resent_record_is_a_duplicate_after_the_state_is_stored_and_read_back() -> None:
    # the same event id arriving again at another offset, after the worker wrote and re-read the state
    s = RiderState.new("r1")
    for i in range(200):
        update_wearable(s, wear(i), CFG)
        update_trip(s, trip(i), CFG)
    back = RiderState.from_dict(json.loads(json.dumps(s.to_dict())))
    assert update_wearable(back, wear(150), CFG) is UpdateResult.DUPLICATE
    assert update_trip(back, trip(190), CFG) is UpdateResult.DUPLICATE
    assert update_wearable(back, wear(150.5, eid="w150b"), CFG) is UpdateResult.APPLIED  # another id, same second
    assert update_wearable(back, wear(150.5, eid="w150b"), CFG) is UpdateResult.DUPLICATE  # its slot was taken
    assert update_wearable(back, wear(150), CFG) is UpdateResult.DUPLICATE  # the first of that second still is
    assert update_wearable(back, wear(50), CFG) is UpdateResult.TOO_LATE  # older than the lateness: not applied


def test_dedup_slots_follow_the_clock_and_do_not_grow() -> None:
    s = RiderState.new("r1")
    for i in range(1000):
        update_wearable(s, wear(i + 0.2), CFG)
        update_wearable(s, wear(i + 0.7), CFG)  # two records a second: the second of each goes to id_extra
    assert len(s.wear_ids) == 128 and len(s.id_extra) <= 2 * 128
    assert update_wearable(s, wear(999.7), CFG) is UpdateResult.DUPLICATE
    assert update_wearable(s, wear(2000.0), CFG) is UpdateResult.APPLIED  # a jump past the whole window
    assert len(s.id_extra) == 0 and sum(1 for d in s.wear_ids if d) == 1


def test_waiting_trip_seconds_match_a_plain_dict_under_random_merges_and_seals() -> None:
    # the dense run of waiting seconds (8 bytes a second) against the obvious dict: out of order, late,
    # duplicate and the same second twice, jumps ahead (a clock jump), and seals at random points
    import random

    from features.pending import PendingTrips

    for seed in range(40):
        rng = random.Random(seed)
        p, ref = PendingTrips(), {}
        newest, sealed = 0, 0
        for _ in range(400):
            roll = rng.random()
            if roll < 0.6:
                sec = newest + rng.choice([0, 1, 1, 1, 2, 5])  # in order, dropouts
            elif roll < 0.85:
                sec = max(sealed, newest - rng.randint(0, 130))  # late, or the same second again
            else:
                sec = newest + rng.randint(100, 5000)  # a jump: seal what waits first, as update_trip does
                got, want = p.pop_before(sec - 120), sorted((s, v) for s, v in ref.items() if s < sec - 120)
                assert got == want
                ref = {s: v for s, v in ref.items() if s >= sec - 120}
                sealed = max(sealed, sec - 120)
            entry = [sec * 1000 + rng.randint(0, 999), rng.randint(0, 3), rng.randint(0, 200_000), 1 << rng.randint(0, 6)]
            p.merge(sec, entry)
            if sec in ref:
                old = ref[sec]
                later = max(old, entry, key=lambda e: (e[0], e[1], e[2]))
                ref[sec] = [later[0], later[1], later[2], old[3] | entry[3]]
            else:
                ref[sec] = entry
            newest = max(newest, sec)
            if rng.random() < 0.3:
                upto = newest - rng.randint(0, 125)
                assert p.pop_before(upto) == sorted((s, v) for s, v in ref.items() if s < upto)
                ref = {s: v for s, v in ref.items() if s >= upto}
                sealed = max(sealed, upto)
            assert p.items() == sorted(ref.items()) and len(p) == len(ref)
            assert p.first() == (min(ref) if ref else None)
            assert len(p.vals) <= 2 * 130 + 1  # the run spans the lateness, whatever the clock did
            back = PendingTrips.from_packed(*p.packed())
            assert back.items() == p.items() and p.copy().items() == p.items()


def _shifted(stream: list[tuple[str, SimpleNamespace]], by_s: float) -> list[tuple[str, SimpleNamespace]]:
    out = []
    for role, rec in stream:
        moved = SimpleNamespace(**vars(rec))
        moved.ts = datetime.fromtimestamp(rec.ts.timestamp() + by_s, tz=timezone.utc)
        out.append((role, moved))
    return out


def test_sealing_by_the_tails_marks_leaves_the_same_state_as_walking_the_records_again(monkeypatch) -> None:
    # A rider scored now and then keeps a tail, and sealing adopts its marks; the same records without
    # feature calls (no tail) are sealed by walking them. Both states must be equal after every record:
    # out of order, late, duplicate, trip jumps, and (second config) a local midnight inside a minute.
    import features.rider_state as rider_state
    import features.trip_tail as trip_tail

    walks = {"n": 0}
    real_seal = rider_state.seal_trip

    def counting_seal(*args, **kwargs):
        walks["n"] += 1
        return real_seal(*args, **kwargs)

    monkeypatch.setattr(rider_state, "seal_trip", counting_seal)
    monkeypatch.setattr(trip_tail, "seal_trip", counting_seal)
    odd = FeatureConfig(local_utc_offset_h=0.0125)  # local midnight 45 s into a UTC minute
    # the second config's streams start 10 min before its local midnight (T0 is a UTC midnight)
    for cfg, shift in ((CFG, 0.0), (odd, -600.0 - 45.0)):
        adopted = walked = 0
        for seed in range(6):
            scored, plain = RiderState.new("r1"), RiderState.new("r1")
            stream = _shifted(_random_stream(seed, seconds=1500), shift)
            for n, (role, rec) in enumerate(stream):
                for s in (scored, plain):
                    before = walks["n"]
                    if role == "w":
                        update_wearable(s, rec, cfg)
                    else:
                        update_trip(s, rec, cfg, zone_heat_index_c=33.0 if n % 500 < 250 else 20.0)
                    if s is scored:
                        adopted += s.tail is not None and walks["n"] == before and role == "t"
                    else:
                        walked += walks["n"] - before
                        s.tail = None  # a rider's first trip record starts a tail: keep this one walking
                if n % 29 == 0:
                    rider_features(scored, None, scored.newest_ts() or T0, cfg)
                if n % 5 == 0 or n == len(stream) - 1:
                    assert scored.to_dict() == plain.to_dict(), (seed, n)
            assert scored.sealed_upto is not None and scored.sealed_upto % 60 == 0
        assert adopted > 2500 and walked > 2500, (adopted, walked)


def test_the_window_sums_kept_by_the_updates_are_current_and_read_by_feature_calls(monkeypatch) -> None:
    # The updates keep the sums of the sealed trip rings and of the final wearable minutes (issue 17: a feature
    # call reads its windows without a pass over the rings). After every record of random streams (late,
    # duplicate, out of order, trip jumps) they equal sums computed afresh, feature calls take them (not the
    # pass over the rings, which the replay reference uses) and give the reference's values.
    import features.compute as compute
    from features.compute import rider_features_replay
    from features.rider_state import final_wear_sums, sealed_sums

    read = {"wear kept": 0, "trip kept": 0, "scanned": 0}
    real = compute.window_from_frozen

    def counting(frozen, *args):
        out = real(frozen, *args)
        which = "wear" if frozen is s.wear_sums else "trip"
        read[f"{which} kept" if out is not None else "scanned"] += 1
        return out

    monkeypatch.setattr(compute, "window_from_frozen", counting)
    for seed in range(8):
        s = RiderState.new("r1")
        wearable_only = seed % 4 == 3  # no trip tail: every call reads the wearable windows itself
        for n, (role, rec) in enumerate(_random_stream(seed, seconds=900)):
            if role == "w":
                update_wearable(s, rec, CFG)
            elif wearable_only:
                continue
            else:
                update_trip(s, rec, CFG, zone_heat_index_c=33.0)
            if s.sums is not None:
                assert list(s.sums) == list(sealed_sums(s)), (seed, n)
            if s.wear_sums is not None:
                assert list(s.wear_sums) == list(final_wear_sums(s)), (seed, n)
            if n % 23 == 0:
                newest = s.newest_ts() or T0
                for now in (newest, newest + 90.0, newest - 400.0):  # a call behind the kept sums reads the rings
                    fast, slow = rider_features(s, None, now, CFG), rider_features_replay(s, None, now, CFG)
                    assert same(fast, slow) == [], (seed, n, now, [(k, fast[k], slow[k]) for k in same(fast, slow)])
    assert read["wear kept"] > 500 and read["trip kept"] > 1500 and read["scanned"] > 100, read


def test_the_count_rings_hold_4_byte_rows_through_sealing_adoption_and_the_changelog() -> None:
    # brakes a minute, online seconds an hour and seconds a day are counts far below 2**31: their rows are
    # array('i') (exact, half the bytes); sealing, adopting the tail's rows, storing and reading back keep them so
    s = RiderState.new("r1")
    for n, (role, rec) in enumerate(_random_stream(3, seconds=1500)):
        if role == "w":
            update_wearable(s, rec, CFG)
        else:
            update_trip(s, rec, CFG, zone_heat_index_c=33.0)
        if n % 50 == 0:
            rider_features(s, None, s.newest_ts() or T0, CFG)
    back = RiderState.from_dict(json.loads(json.dumps(s.to_dict())))
    for state in (s, back):
        assert [state.brake_rows.typecode, state.hour_rows.typecode, state.day_rows.typecode] == ["i", "i", "i"]
        assert state.trip_rows.typecode == state.wear_rows.typecode == "q"
    assert sum(s.day_rows) > 0 and sum(s.brake_rows) > 0
    assert back.to_dict() == s.to_dict()
    now = s.newest_ts() or T0
    assert same(rider_features(back, None, now, CFG), rider_features(s, None, now, CFG)) == []


def test_a_late_record_that_takes_a_kept_minutes_slot_leaves_the_15_min_window_as_the_ring_has_it() -> None:
    # The first record of a minute takes the ring slot of the minute 17 before it. A late one arriving after the
    # wearable sums were kept (minute M-1 first written while the newest is in M) evicts minute M-18, which
    # the kept sums hold; a call whose window still reaches M-18 must read the ring, as the replay does.
    from features.compute import rider_features_replay

    s, m = RiderState.new("r1"), 20
    for i in range(m * 60 + 5):
        if not (m - 1) * 60 <= i < m * 60:
            update_wearable(s, wear(i, hr=100.0 + i % 9), CFG)
    assert update_wearable(s, wear((m - 1) * 60 + 30, hr=150.0, eid="late"), CFG) is UpdateResult.APPLIED
    for minute in range(m - 5, m + 1):
        now = T0 + minute * 60 + 59
        fast, slow = rider_features(s, None, now, CFG), rider_features_replay(s, None, now, CFG)
        assert same(fast, slow) == [], (minute, [(k, fast[k], slow[k]) for k in same(fast, slow)])
