"""Pure, synchronous per-rider state and feature computation (no Kafka, no faust, no pandas here).

The stream and the offline replay call the same functions: ``update_wearable``,
``update_trip``, ``update_zone_weather`` and ``rider_features``.
"""

from __future__ import annotations

from typing import Any

from features.catalog import FEATURE_NAMES, FEATURES, Feature
from features.compute import rider_features
from features.config import FeatureConfig
from features.heat import (
    c_to_f,
    f_to_c,
    heat_category,
    heat_index_c,
    heat_index_f,
    wbgt_outdoor_estimate_c,
)
from features.rider_state import RiderState, UpdateResult, update_trip, update_wearable
from features.weather import (
    ZoneStore,
    ZoneWeather,
    update_zone_weather,
    weather_features,
    weather_history_s,
    zone_heat_index_c,
)


def replay_features(*args: Any, **kwargs: Any) -> Any:
    """Offline replay into a pandas DataFrame; see :func:`features.replay.replay_features` (imports pandas lazily)."""
    from features.replay import replay_features as _replay

    return _replay(*args, **kwargs)


__all__ = [
    "FEATURES", "FEATURE_NAMES", "Feature", "FeatureConfig", "RiderState", "UpdateResult", "ZoneStore", "ZoneWeather",
    "c_to_f", "f_to_c", "heat_category", "heat_index_c", "heat_index_f", "replay_features", "rider_features",
    "update_trip", "update_wearable", "update_zone_weather", "wbgt_outdoor_estimate_c", "weather_features",
    "weather_history_s", "zone_heat_index_c",
]
