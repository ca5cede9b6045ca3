"""Zone weather of the simulated world: diurnal climate, heat waves, storms, showers.

One :class:`ZoneWeatherModel` per zone is stepped every weather interval and holds
the *true* weather of the zone until the next step (the hazard uses it; a
``WeatherObservation`` reports it). Climate is Shanghai-like (UTC+8): monthly mean
temperature, a diurnal cycle peaking at 15:00 local, humidity falling as the day
warms. Scenarios per zone:

- ``default``: normal climate with occasional showers (≈ 1 per 10 h, 1-8 mm/h).
- ``heatwave``: +6 °C and drier air; afternoon heat index ≥ 41 °C (105.8 °F) in summer.
- ``storm``: a first storm within the first hour, then ≈ 1 per 12 h: heavy rain
  (25-70 mm/h), gusts 14-26 m/s, visibility down to a few hundred metres, road
  flooding while the last hour's rain exceeds 25 mm.

>>> m = ZoneWeatherModel(0, "heatwave", start_epoch=1784080800.0, seed=1)  # 2026-07-15 02:00Z
>>> w = m.step(1784080800.0 + 5 * 3600)   # 15:00 local
>>> w.heat_index_f > 105.8 and w.daily_max_temp_c >= 35
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .hazard import true_heat_index_f

LOCAL_UTC_OFFSET_H = 8.0  # Shanghai, UTC+8
#: Shanghai monthly mean air temperature, °C (climate normals, rounded).
MONTHLY_MEAN_C = (4.8, 6.6, 10.2, 15.6, 21.0, 25.1, 29.0, 28.7, 24.9, 19.8, 13.9, 7.6)
DIURNAL_HALF_RANGE_C = 3.8
HEATWAVE_EXTRA_C = 6.0
SUNRISE_H, SUNSET_H = 5.0, 19.0  # local, mid-summer; good enough for the simulator
FLOOD_ON_MM, FLOOD_OFF_MM = 25.0, 10.0  # rain in the last hour, with hysteresis
ONSET_DRY_H = 24.0  # "rain onset": rain within 60 min after ≥ 24 h dry (features catalog)


@dataclass
class WeatherTruth:
    """True weather of a zone between two steps (the world's; the product's view of a zone,
    built from the observations it is sent, is ``features.weather.ZoneWeather``)."""

    air_temp_c: float
    relative_humidity_pct: float
    wind_speed_ms: float
    wind_gust_ms: float
    precipitation_mm_h: float
    visibility_m: float
    solar_w_m2: float
    road_flooding: bool
    daylight: bool
    daily_max_temp_c: float
    heat_index_f: float
    rain_onset: bool
    freezing: bool
    night: bool  # 00:00-05:00 local


def local_hour(epoch: float) -> float:
    """Hour of the day in local time (UTC+8)."""
    return ((epoch / 3600.0) + LOCAL_UTC_OFFSET_H) % 24.0


class ZoneWeatherModel:
    """Weather process of one zone; deterministic for a given seed."""

    def __init__(self, zone_index: int, scenario: str, start_epoch: float, seed: int) -> None:
        self.scenario = scenario
        self.rng = np.random.default_rng([seed, 1, zone_index])
        month = int(np.datetime64(int(start_epoch), "s").astype("datetime64[M]").astype(int) % 12)
        self.mean_c = MONTHLY_MEAN_C[month] + self.rng.normal(0.0, 0.5)
        self.rh_mean = 76.0
        if scenario == "heatwave":
            self.mean_c += HEATWAVE_EXTRA_C
            self.rh_mean = 58.0
        self.noise_c = 0.0
        self.rain_1h_mm = 0.0
        self.flooding = False
        self.last_epoch = start_epoch
        self.dry_since = start_epoch - 3600.0 * float(self.rng.uniform(6.0, 96.0))
        self.rain_started: float | None = None
        self.dry_before_rain_h = 0.0
        self.storms: list[tuple[float, float, float, float]] = []  # start, end, peak mm/h, gust
        self.showers: list[tuple[float, float, float]] = []  # start, end, mm/h
        self._plan_until = start_epoch
        if scenario == "storm":
            first = start_epoch + 60.0 * (15.0 + (20.0 * zone_index) % 60.0 + self.rng.uniform(0.0, 15.0))
            self._add_storm(first)
        self._plan(start_epoch + 48 * 3600.0)

    def _add_storm(self, start: float) -> None:
        dur = 3600.0 * float(self.rng.uniform(1.5, 3.0))
        self.storms.append((start, start + dur, float(self.rng.uniform(25.0, 70.0)), float(self.rng.uniform(14.0, 26.0))))

    def _plan(self, until: float) -> None:
        t = self._plan_until
        while t < until:
            t += 3600.0
            if self.scenario == "storm" and self.rng.random() < 1.0 / 12.0:
                self._add_storm(t + self.rng.uniform(0.0, 3600.0))
            if self.rng.random() < 1.0 / 10.0:
                s = t + self.rng.uniform(0.0, 3600.0)
                self.showers.append((s, s + 60.0 * self.rng.uniform(20.0, 60.0), float(self.rng.uniform(1.0, 8.0))))
        self._plan_until = t

    def step(self, epoch: float) -> WeatherTruth:
        """Advance to ``epoch`` and return the weather until the next step."""
        if epoch + 24 * 3600.0 > self._plan_until:
            self._plan(epoch + 48 * 3600.0)
        dt = max(epoch - self.last_epoch, 0.0)
        self.last_epoch = epoch
        h = local_hour(epoch)
        self.noise_c = 0.9 * self.noise_c + float(self.rng.normal(0.0, 0.25))
        diurnal = DIURNAL_HALF_RANGE_C * math.cos(2.0 * math.pi * (h - 15.0) / 24.0)
        temp = self.mean_c + diurnal + self.noise_c
        rh = self.rh_mean - 2.8 * diurnal + float(self.rng.normal(0.0, 1.5))
        wind = 2.5 + abs(float(self.rng.normal(0.0, 1.0)))
        gust = wind * 1.6
        precip = 0.0
        storm_level = 0.0
        for s, e, mm_h, g in self.storms:
            if s <= epoch < e:
                x = (epoch - s) / (e - s)
                storm_level = min(1.0, x / 0.2, (1.0 - x) / 0.2)
                precip = max(precip, mm_h * storm_level)
                gust = max(gust, g * max(storm_level, 0.5))
                wind = max(wind, 0.55 * gust)
        for s, e, mm_h in self.showers:
            if s <= epoch < e:
                precip = max(precip, mm_h)
        precip *= float(self.rng.uniform(0.8, 1.2))
        if precip > 0.0:  # rain-cooled air: temperature falls toward ~22 °C, air near saturation
            temp -= (0.5 + 0.2 * storm_level) * max(temp - 22.0, 0.0)
            rh = max(rh, 88.0)
        rh = float(np.clip(rh, 20.0, 100.0))
        visibility = 10_000.0 / (1.0 + precip / 4.0)
        daylight = SUNRISE_H <= h < SUNSET_H
        solar = 900.0 * math.sin(math.pi * (h - SUNRISE_H) / (SUNSET_H - SUNRISE_H)) if daylight else 0.0
        solar *= 0.2 if precip > 0.0 else 1.0
        # rain of the last hour (exponential memory) drives flooding, with hysteresis
        decay = math.exp(-dt / 3600.0)
        self.rain_1h_mm = self.rain_1h_mm * decay + precip * (1.0 - decay)
        if self.rain_1h_mm >= FLOOD_ON_MM:
            self.flooding = True
        elif self.rain_1h_mm < FLOOD_OFF_MM:
            self.flooding = False
        raining = precip >= 0.1
        if raining and self.rain_started is None:
            self.rain_started = epoch
            self.dry_before_rain_h = (epoch - self.dry_since) / 3600.0
        elif not raining and self.rain_started is not None:
            self.rain_started = None
            self.dry_since = epoch
        onset = (self.rain_started is not None and epoch - self.rain_started <= 3600.0
                 and self.dry_before_rain_h >= ONSET_DRY_H)
        return WeatherTruth(
            air_temp_c=temp, relative_humidity_pct=rh, wind_speed_ms=wind, wind_gust_ms=gust,
            precipitation_mm_h=precip, visibility_m=visibility, solar_w_m2=solar,
            road_flooding=self.flooding, daylight=daylight,
            daily_max_temp_c=self.mean_c + DIURNAL_HALF_RANGE_C,
            heat_index_f=true_heat_index_f(temp, rh), rain_onset=onset,
            freezing=(temp <= 0.0 and precip > 0.0) or temp <= -2.0,
            night=h < 5.0,
        )
