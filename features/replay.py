"""Offline path: replay recorded topics through the *same* update functions into a DataFrame.

Training data comes from here, serving from the stream; both call ``update_*`` and
``rider_features``, so there is no training/serving skew. Pandas is imported only here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

from features.catalog import FEATURE_NAMES
from features.compute import rider_features
from features.config import FeatureConfig
from features.rider_state import RiderState, UpdateResult, update_trip, update_wearable
from features.trip_time import STATUS_CODE, is_online
from features.weather import ZoneWeather, update_zone_weather, zone_heat_index_c

ROW_KEYS: tuple[str, ...] = ("rider_id", "ts", "zone_id", *FEATURE_NAMES)


def apply_record(role: str, rec: Any, riders: dict[str, RiderState], zones: dict[str, ZoneWeather],
                 cfg: FeatureConfig) -> RiderState | None:
    """Route one record to its update; returns the rider state it touched (None for weather or a non-APPLIED record)."""
    if role == "weather":
        zones[rec.zone_id] = update_zone_weather(zones.get(rec.zone_id), rec, cfg)
        return None
    state = riders.get(rec.rider_id)
    if state is None:
        state = riders[rec.rider_id] = RiderState.new(rec.rider_id)
    if role == "wearable":
        result = update_wearable(state, rec, cfg)
    elif role == "trip":
        result = update_trip(state, rec, cfg, zone_heat_index_c=zone_heat_index_c(zones.get(rec.zone_id)))
    else:
        raise ValueError(f"unknown record role {role!r}: expected 'wearable', 'trip' or 'weather'")
    return state if result is UpdateResult.APPLIED else None


def snapshot_due(state: RiderState, next_due: dict[str, float], every_s: float) -> float | None:
    """Event time of a snapshot if this rider is online and crossed its next ``every_s`` boundary, else None."""
    now = state.newest_ts()
    if now is None or state.status is None or not is_online(STATUS_CODE[state.status]):
        return None
    due = next_due.get(state.rider_id)
    if due is not None and now < due:
        return None
    next_due[state.rider_id] = (math.floor(now / every_s) + 1) * every_s
    return now


def iter_feature_rows(records: Iterable[tuple[str, Any]], cfg: FeatureConfig,
                      snapshot_every_s: float = 300.0) -> Iterator[dict[str, Any]]:
    """Rows ``{rider_id, ts, zone_id, *FEATURE_NAMES}`` in arrival order, without pandas."""
    riders: dict[str, RiderState] = {}
    zones: dict[str, ZoneWeather] = {}
    next_due: dict[str, float] = {}
    for role, rec in records:
        state = apply_record(role, rec, riders, zones, cfg)
        if state is None:
            continue
        now = snapshot_due(state, next_due, snapshot_every_s)
        if now is None:
            continue
        feats = rider_features(state, zones.get(state.zone_id) if state.zone_id else None, now, cfg)
        yield {"rider_id": state.rider_id, "ts": now, "zone_id": state.zone_id, **feats}


def replay_features(records: Iterable[tuple[str, Any]], cfg: FeatureConfig, snapshot_every_s: float = 300.0) -> Any:
    """Replay ``(role, record)`` pairs (role: wearable, trip or weather) into a ``pandas.DataFrame``.

    One row per online rider every ``snapshot_every_s`` of that rider's event time,
    taken at the first event at or past each boundary; columns ``rider_id``, ``ts``
    (epoch seconds), ``zone_id`` and every feature in catalog order.
    """
    import pandas as pd

    return pd.DataFrame(list(iter_feature_rows(records, cfg, snapshot_every_s)), columns=list(ROW_KEYS))
