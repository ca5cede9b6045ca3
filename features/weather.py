"""Zone weather state (one per zone, held by every worker in a :class:`ZoneStore`) and the heat/weather features.

>>> from types import SimpleNamespace as Obs
>>> from datetime import datetime, timezone
>>> obs = Obs(zone_id="z1", ts=datetime(2026, 7, 1, 4, tzinfo=timezone.utc), air_temp_c=35.0,
...           relative_humidity_pct=60.0, wind_speed_ms=1.0, wind_gust_ms=3.0, precipitation_mm_h=0.0,
...           visibility_m=10000.0, solar_w_m2=800.0, road_flooding=False, daylight=True, daily_max_temp_c=38.0)
>>> zone = update_zone_weather(None, obs)
>>> f = weather_features(zone, now=obs.ts.timestamp() + 60)
>>> round(f["heat_index_c"], 1), f["heat_category"], f["cn_heat_35"], f["cn_heat_40"], f["weather_age_s"]
(45.1, 3.0, 1.0, 0.0, 60.0)
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, fields, replace
from typing import Any

from features.config import FeatureConfig
from features.heat import c_to_f, heat_category, heat_index_c, heat_index_f, wbgt_conservative_c
from riskstream.contracts.records import rh_from_dew_point

NAN = math.nan
_DEFAULT_CFG = FeatureConfig()

WEATHER_FEATURE_NAMES: tuple[str, ...] = (
    "heat_index_c", "heat_category", "wbgt_c_est", "cn_heat_35", "cn_heat_40", "precip_mm_h", "rain_onset",
    "wind_gust_ms", "visibility_m", "freezing", "darkness", "road_flooding", "weather_age_s",
)


def local_day(ts: float, cfg: FeatureConfig) -> int:
    """Local calendar day number (days since 1970-01-01 in the configured UTC offset).

    >>> local_day(16 * 3600.0, FeatureConfig(local_utc_offset_h=8.0))  # 16:00 UTC is 00:00 UTC+8 next day
    1
    """
    return int((ts + cfg.local_utc_offset_h * 3600.0) // 86400.0)


@dataclass(slots=True)
class ZoneWeather:
    """Latest weather of one zone plus what rain onset and the daily maximum need.

    ``dry_since``/``wet_since`` mark the start of the current dry or wet spell;
    ``dry_spell_s`` is the length of the dry spell that the current rain ended, and
    ``dry_spell_censored`` says that spell began before our first observation (so
    its true length is unknown if it looks shorter than the onset threshold).
    ``None`` in a measurement is unknown: the observation did not say (never a default).
    """

    zone_id: str
    ts: float
    air_temp_c: float
    relative_humidity_pct: float | None
    wind_speed_ms: float | None
    wind_gust_ms: float | None
    precipitation_mm_h: float | None
    visibility_m: float | None
    solar_w_m2: float | None
    road_flooding: bool | None
    daylight: bool | None
    daily_max_temp_c: float | None
    observed_max_c: float
    observed_max_day: int
    first_ts: float
    last_dry_ts: float | None = None
    dry_since: float | None = None
    wet_since: float | None = None
    dry_spell_s: float | None = None
    dry_spell_censored: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (plain numbers, booleans, strings and None) for the changelog."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ZoneWeather:
        """Inverse of :meth:`to_dict`; unknown keys are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def update_zone_weather(zone: ZoneWeather | None, obs: Any, cfg: FeatureConfig = _DEFAULT_CFG) -> ZoneWeather:
    """Fold one ``WeatherObservation`` into a *new* zone state (the argument is not changed).

    An observation not newer than the zone's latest is ignored (out of order or
    repeated): the newest observation wins, and the same object is returned.
    A measurement the observation does not give (``None`` or absent) is unknown in the
    zone, not a default; a missing humidity is derived from the dew point when one is
    given (Magnus formula). Unknown precipitation neither starts nor ends a dry spell.
    """
    ts = obs.ts.timestamp()
    day = local_day(ts, cfg)
    if zone is not None and ts <= zone.ts:
        return zone
    if zone is not None:
        zone = replace(zone)
    else:
        zone = ZoneWeather(
            zone_id=obs.zone_id, ts=ts, air_temp_c=obs.air_temp_c, relative_humidity_pct=None,
            wind_speed_ms=None, wind_gust_ms=None, precipitation_mm_h=None, visibility_m=None, solar_w_m2=None,
            road_flooding=None, daylight=None, daily_max_temp_c=None,
            observed_max_c=obs.air_temp_c, observed_max_day=day, first_ts=ts,
        )
    zone.ts = ts
    zone.air_temp_c = float(obs.air_temp_c)
    rh, dew_point = _known(obs, "relative_humidity_pct"), _known(obs, "dew_point_c")
    if rh is None and dew_point is not None and dew_point <= zone.air_temp_c:
        rh = rh_from_dew_point(zone.air_temp_c, dew_point)
    zone.relative_humidity_pct = rh
    zone.wind_speed_ms = _known(obs, "wind_speed_ms")
    zone.wind_gust_ms = _known(obs, "wind_gust_ms")
    zone.precipitation_mm_h = _known(obs, "precipitation_mm_h")
    zone.visibility_m = _known(obs, "visibility_m")
    zone.solar_w_m2 = _known(obs, "solar_w_m2")
    zone.road_flooding = _known_flag(obs, "road_flooding")
    zone.daylight = _known_flag(obs, "daylight")
    zone.daily_max_temp_c = None if obs.daily_max_temp_c is None else float(obs.daily_max_temp_c)
    if day != zone.observed_max_day:
        zone.observed_max_c, zone.observed_max_day = zone.air_temp_c, day
    else:
        zone.observed_max_c = max(zone.observed_max_c, zone.air_temp_c)
    if zone.precipitation_mm_h is None:
        pass  # unknown: the current spell, dry or wet, goes on as far as we know
    elif zone.precipitation_mm_h < cfg.rain_mm_h:
        if zone.dry_since is None or zone.wet_since is not None:
            zone.dry_since = ts
        zone.wet_since = None
        zone.last_dry_ts = ts
    elif zone.wet_since is None:
        zone.wet_since = ts
        zone.dry_spell_s = None if zone.dry_since is None else ts - zone.dry_since
        zone.dry_spell_censored = zone.dry_since is None or zone.dry_since == zone.first_ts
    return zone


def _known(obs: Any, name: str) -> float | None:
    """An observation's measurement as a float, or None when it is unknown (null, absent or not finite)."""
    value = getattr(obs, name, None)
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _known_flag(obs: Any, name: str) -> bool | None:
    value = getattr(obs, name, None)
    return None if value is None else bool(value)


def _flag(value: bool | None) -> float:
    return NAN if value is None else 1.0 if value else 0.0


def _number(value: float | None) -> float:
    return NAN if value is None else value


def rain_onset(zone: ZoneWeather, now: float, cfg: FeatureConfig = _DEFAULT_CFG) -> float:
    """1 while rain that began < 60 min ago followed ≥ 24 h dry; 0 otherwise; NaN if the dry spell is unknown.

    Unknown: the zone's history began in rain, or its first dry spell is shorter than
    24 h only because we have not watched it longer.
    """
    if zone.wet_since is None:
        return 0.0
    if now - zone.wet_since >= cfg.rain_onset_window_min * 60.0:
        return 0.0
    needed = cfg.rain_onset_dry_h * 3600.0
    if zone.dry_spell_s is not None and zone.dry_spell_s >= needed:
        return 1.0
    return NAN if zone.dry_spell_censored else 0.0


def weather_features(zone: ZoneWeather | None, now: float, cfg: FeatureConfig = _DEFAULT_CFG) -> dict[str, float]:
    """The heat/weather features of :data:`WEATHER_FEATURE_NAMES` at event time ``now``.

    With no weather for the zone every value is NaN: missing is missing, never safe; so is
    each value whose inputs the latest observation left unknown (no humidity: no heat index,
    no WBGT). ``cn_heat_35``/``cn_heat_40`` use the larger of the forecast daily maximum and the
    maximum observed today; NaN when neither is known for today.
    Unknown solar radiation never lowers the WBGT estimate: it is taken as 0 only when
    ``daylight`` is known false, otherwise as full sun (:func:`features.heat.wbgt_conservative_c`).
    """
    if zone is None:
        return dict.fromkeys(WEATHER_FEATURE_NAMES, NAN)
    t, rh = zone.air_temp_c, zone.relative_humidity_pct
    hi_f = NAN if rh is None else heat_index_f(c_to_f(t), rh)
    candidates = [zone.daily_max_temp_c] if zone.daily_max_temp_c is not None else []
    if zone.observed_max_day == local_day(now, cfg):
        candidates.append(zone.observed_max_c)
    day_max = max(candidates) if candidates else NAN
    wet = None if zone.precipitation_mm_h is None else zone.precipitation_mm_h >= cfg.rain_mm_h
    # None when it is cold enough to freeze if wet and whether it is wet is unknown
    freezing: bool | None = t <= cfg.freezing_dry_c or (t <= cfg.freezing_wet_c and wet)
    solar = zone.solar_w_m2 if zone.solar_w_m2 is not None else 0.0 if zone.daylight is False else None
    return {
        "heat_index_c": NAN if rh is None else heat_index_c(t, rh),
        "heat_category": NAN if rh is None else float(heat_category(hi_f)),
        "wbgt_c_est": NAN if rh is None else wbgt_conservative_c(t, rh, zone.wind_speed_ms, solar),
        "cn_heat_35": NAN if math.isnan(day_max) else _flag(day_max >= cfg.cn_heat_shorten_c),
        "cn_heat_40": NAN if math.isnan(day_max) else _flag(day_max >= cfg.cn_heat_stop_c),
        "precip_mm_h": _number(zone.precipitation_mm_h),
        "rain_onset": rain_onset(zone, now, cfg),
        "wind_gust_ms": _number(zone.wind_gust_ms),
        "visibility_m": _number(zone.visibility_m),
        "freezing": _flag(freezing),
        "darkness": _flag(None if zone.daylight is None else not zone.daylight),
        "road_flooding": _flag(zone.road_flooding),
        "weather_age_s": max(0.0, now - zone.ts),
    }


def zone_heat_index_c(zone: ZoneWeather | None) -> float | None:
    """Heat index (°C) of the zone's latest observation, or None without weather or humidity: what ``update_trip`` takes."""
    if zone is None or zone.relative_humidity_pct is None:
        return None
    return heat_index_c(zone.air_temp_c, zone.relative_humidity_pct)


#: Weather features derived from temperature and humidity: stale ones keep the last known value (marked stale).
HEAT_WEATHER_FEATURES: tuple[str, ...] = ("heat_index_c", "heat_category", "wbgt_c_est", "cn_heat_35", "cn_heat_40",
                                          "freezing")
#: Weather features that change within the hour: stale ones are unknown (NaN).
FAST_WEATHER_FEATURES: tuple[str, ...] = ("precip_mm_h", "rain_onset", "wind_gust_ms", "visibility_m",
                                          "road_flooding")


def stale_weather_features(zone: ZoneWeather | None, now: float, cfg: FeatureConfig = _DEFAULT_CFG) -> tuple[str, ...]:
    """The weather features that are stale at event time ``now``: too old by their freshness limit.

    ``features.weather_precip_max_age_s`` judges :data:`FAST_WEATHER_FEATURES`,
    ``features.weather_heat_max_age_s`` :data:`HEAT_WEATHER_FEATURES`. No weather at all is not
    stale but unknown (every feature NaN already).

    >>> from types import SimpleNamespace as Z
    >>> cfg = FeatureConfig()  # 1 h for precipitation, 3 h for heat
    >>> stale_weather_features(Z(ts=0.0), 3600.0, cfg)
    ()
    >>> stale_weather_features(Z(ts=0.0), 3601.0, cfg) == FAST_WEATHER_FEATURES
    True
    >>> len(stale_weather_features(Z(ts=0.0), 3 * 3600.0 + 1, cfg))
    11
    """
    if zone is None:
        return ()
    age = now - zone.ts
    out: tuple[str, ...] = ()
    if age > cfg.weather_precip_max_age_s:
        out += FAST_WEATHER_FEATURES
    if age > cfg.weather_heat_max_age_s:
        out += HEAT_WEATHER_FEATURES
    return out


def weather_is_stale(zone: ZoneWeather | None, now: float, cfg: FeatureConfig = _DEFAULT_CFG) -> bool:
    """True if any weather feature of the zone is past its freshness limit at event time ``now``.

    >>> from types import SimpleNamespace as Z
    >>> weather_is_stale(Z(ts=0.0), 3600.0), weather_is_stale(Z(ts=0.0), 3601.0), weather_is_stale(None, 0.0)
    (False, True, False)
    """
    return zone is not None and now - zone.ts > min(cfg.weather_precip_max_age_s, cfg.weather_heat_max_age_s)


def fresh_weather_features(zone: ZoneWeather | None, now: float, cfg: FeatureConfig = _DEFAULT_CFG) -> dict[str, float]:
    """:func:`weather_features` at ``now`` with freshness applied: fast-changing features past their limit are NaN.

    Heat features past their limit keep the last known value (:func:`stale_weather_features`
    names them, for the WEATHER_STALE reason): unknown heat never reads as "no heat".
    """
    feats = weather_features(zone, now, cfg)
    for name in stale_weather_features(zone, now, cfg):
        if name in FAST_WEATHER_FEATURES:
            feats[name] = NAN
    return feats


def last_known_weather_features(zone: ZoneWeather, cfg: FeatureConfig = _DEFAULT_CFG) -> dict[str, float]:
    """The zone's weather features as they were when its newest observation was current (age 0).

    What a stale zone's riders are never scored lower than: their last known weather as if it held now.
    """
    return weather_features(zone, zone.ts, cfg)


def weather_history_s(cfg: FeatureConfig = _DEFAULT_CFG) -> float:
    """Seconds of a zone's past observations every weather feature needs to be exact.

    Rain onset needs the 24 h dry spell before rain that began up to 60 min ago, and the
    observed daily maximum needs the local day so far; one more hour covers the spacing
    of observations.

    >>> weather_history_s() / 3600
    26.0
    """
    onset = cfg.rain_onset_dry_h * 3600.0 + cfg.rain_onset_window_min * 60.0
    return max(onset, 86400.0) + 3600.0


class ZoneStore:
    """The weather of every zone as this worker knows it, rebuilt from ``telemetry.weather`` on start.

    Not changelogged: every worker reads the whole weather topic itself (``streams.weather_feed``).
    Per zone it keeps a short history, so weather is looked up *as of* a rider's event time
    (:meth:`at`: the newest observation at or before it, never one stamped later). The history is
    bounded: observations at most :func:`weather_history_s` (26 h by default) older than the zone's
    newest, and at most ``features.weather_history_max_observations`` (512) of them. An observation
    not newer than the zone's newest is ignored (the weather topic is keyed by zone, so a zone's
    observations arrive in order).

    >>> from types import SimpleNamespace as Obs
    >>> from datetime import datetime, timezone
    >>> store = ZoneStore()
    >>> obs = Obs(zone_id="z1", ts=datetime(2026, 7, 1, 4, tzinfo=timezone.utc), air_temp_c=35.0,
    ...           relative_humidity_pct=60.0, wind_speed_ms=1.0, wind_gust_ms=3.0, precipitation_mm_h=0.0,
    ...           visibility_m=10000.0, solar_w_m2=800.0, road_flooding=False, daylight=True, daily_max_temp_c=38.0)
    >>> before, after = store.apply(obs)
    >>> before is None, store.get("z1") is after, len(store), store.get("z2"), "z1" in store
    (True, True, 1, None, True)
    >>> t = obs.ts.timestamp()
    >>> store.at("z1", t - 1) is None, store.at("z1", t) is after, store.at("z1", t + 600) is after
    (True, True, True)
    """

    def __init__(self, cfg: FeatureConfig = _DEFAULT_CFG) -> None:
        self.cfg = cfg
        self.keep_s = weather_history_s(cfg)
        self._zones: dict[str, ZoneWeather] = {}
        self._history: dict[str, list[ZoneWeather]] = {}  # oldest first; the last one is the newest
        self._times: dict[str, list[float]] = {}  # their ts, for bisect

    def get(self, zone_id: str | None) -> ZoneWeather | None:
        """The zone's newest weather (whatever its time), or None."""
        return None if zone_id is None else self._zones.get(zone_id)

    def at(self, zone_id: str | None, now: float) -> ZoneWeather | None:
        """The zone's weather as of event time ``now``: its newest observation at or before ``now``, or None.

        None also when ``now`` is before the oldest observation the history still keeps.
        """
        if zone_id is None:
            return None
        times = self._times.get(zone_id)
        if not times:
            return None
        if now >= times[-1]:
            return self._history[zone_id][-1]
        i = bisect_right(times, now)
        return self._history[zone_id][i - 1] if i else None

    def apply(self, obs: Any) -> tuple[ZoneWeather | None, ZoneWeather]:
        """Fold one observation into its zone; return the zone's weather before and after."""
        before = self._zones.get(obs.zone_id)
        after = update_zone_weather(before, obs, self.cfg)
        if after is not before:
            self._zones[obs.zone_id] = after
            history = self._history.setdefault(obs.zone_id, [])
            times = self._times.setdefault(obs.zone_id, [])
            history.append(after)
            times.append(after.ts)
            drop = max(len(times) - self.cfg.weather_history_max_observations,
                       bisect_left(times, after.ts - self.keep_s))
            if drop > 0:
                del history[:drop], times[:drop]
        return before, after

    def stale_zones(self, now: float) -> int:
        """Zones whose newest observation is stale at event time ``now`` (:func:`weather_is_stale`)."""
        return sum(weather_is_stale(zone, now, self.cfg) for zone in self._zones.values())

    def observations(self) -> int:
        """Observations held over all zones' histories."""
        return sum(len(times) for times in self._times.values())

    def __len__(self) -> int:
        return len(self._zones)

    def __contains__(self, zone_id: object) -> bool:
        return zone_id in self._zones
