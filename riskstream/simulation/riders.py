"""Simulated rider profiles: latent aggressiveness, physiology, shifts, protected attributes.

Each rider's profile is drawn from its own seeded stream, so rider ``i`` is the same
whatever the fleet size. ``sex`` and ``age_band`` exist only for a fairness report:
they are never emitted, and the hazard does not use them. The one indirect path is
physiological: age sets the maximum heart rate (Tanaka: 208 − 0.7·age), which
shapes observed heart rates.

>>> p = make_profile(3, seed=7, n_zones=4)
>>> p.rider_id, 0.0 <= p.aggressiveness <= 1.0, p.shift_kind in SHIFT_KINDS
('rider-0003', True, True)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .weather import LOCAL_UTC_OFFSET_H

SHIFT_KINDS = ("day", "long", "split", "night")
SHIFT_WEIGHTS = (0.45, 0.25, 0.15, 0.15)
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55+")
AGE_BAND_WEIGHTS = (0.22, 0.43, 0.24, 0.09, 0.02)
AGE_RANGES = ((18, 24), (25, 34), (35, 44), (45, 54), (55, 62))
FEMALE_SHARE = 0.1  # delivery fleets are mostly male


@dataclass(frozen=True)
class RiderProfile:
    """Everything fixed about one simulated rider."""

    index: int
    rider_id: str
    aggressiveness: float  # latent, 0 cautious .. 1 aggressive
    cruise_kmh: float
    harsh_per_h: float  # harsh brakes per riding hour (accels/corners similar)
    phone_start_per_s: float
    break_every_min: float
    break_min: float
    hr_rest: float
    hr_max: float
    core_base_c: float
    shift_kind: str
    shift_blocks_local_h: tuple[tuple[float, float], ...]  # (start hour local, duration h)
    home_zone: int
    sex: str
    age_band: str

    def protected(self) -> dict[str, str]:
        return {"sex": self.sex, "age_band": self.age_band}

    def public(self) -> dict[str, object]:
        """Profile without the protected attributes."""
        d = asdict(self)
        d.pop("sex")
        d.pop("age_band")
        return d


def make_profile(index: int, seed: int, n_zones: int) -> RiderProfile:
    """Draw rider ``index`` of the fleet from its own random stream."""
    rng = np.random.default_rng([seed, 0, index])
    a = float(rng.beta(2.0, 3.5))
    band = int(rng.choice(len(AGE_BANDS), p=AGE_BAND_WEIGHTS))
    age = rng.uniform(*AGE_RANGES[band])
    kind = SHIFT_KINDS[int(rng.choice(len(SHIFT_KINDS), p=SHIFT_WEIGHTS))]
    if kind == "day":
        blocks = ((rng.uniform(8.0, 11.0), rng.uniform(8.0, 9.5)),)
    elif kind == "long":  # 10-12.5 h, the longest ones work two platforms
        blocks = ((rng.uniform(7.0, 10.0), rng.uniform(10.0, 12.8)),)
    elif kind == "split":  # lunch and dinner peaks
        blocks = ((rng.uniform(10.0, 11.0), rng.uniform(3.0, 4.0)), (rng.uniform(16.5, 17.5), rng.uniform(3.5, 4.5)))
    else:
        blocks = ((rng.uniform(18.0, 22.0), rng.uniform(8.0, 10.0)),)
    return RiderProfile(
        index=index,
        rider_id=f"rider-{index:04d}",
        aggressiveness=a,
        cruise_kmh=float(17.0 + 14.0 * a + rng.normal(0.0, 1.5)),
        harsh_per_h=float(0.5 + 10.0 * a * a),
        phone_start_per_s=float(0.0006 + 0.006 * a),
        break_every_min=float(120.0 + 200.0 * a + rng.uniform(-20.0, 20.0)),
        break_min=float(rng.uniform(15.0, 40.0) * (1.2 - 0.4 * a)),
        hr_rest=float(np.clip(rng.normal(66.0, 7.0), 48.0, 90.0)),
        hr_max=float(208.0 - 0.7 * age + rng.normal(0.0, 5.0)),  # Tanaka 2001
        core_base_c=float(rng.normal(37.0, 0.15)),
        shift_kind=kind,
        shift_blocks_local_h=tuple((float(s), float(d)) for s, d in blocks),
        home_zone=int(rng.integers(n_zones)),
        sex="female" if rng.random() < FEMALE_SHARE else "male",
        age_band=AGE_BANDS[band],
    )


def shift_blocks(profile: RiderProfile, day_start_epoch: float, rng: np.random.Generator) -> list[tuple[float, float]]:
    """Epoch (start, end) of the rider's shifts on the local day beginning at ``day_start_epoch``.

    Start times vary ±30 min from day to day.
    """
    out = []
    for start_h, dur_h in profile.shift_blocks_local_h:
        s = day_start_epoch + 3600.0 * (start_h + rng.uniform(-0.5, 0.5))
        out.append((s, s + 3600.0 * dur_h))
    return out


def local_midnight(epoch: float) -> float:
    """Epoch of the local (UTC+8) midnight at or before ``epoch``."""
    off = LOCAL_UTC_OFFSET_H * 3600.0
    return ((epoch + off) // 86400.0) * 86400.0 - off
