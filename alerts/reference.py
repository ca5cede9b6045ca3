"""The population a calibrated model speaks for: the yardstick of prices and model-risk alerts.

A probability means little on its own: 6 % per hour is alarming for a real rider and
ordinary in the simulator, which runs at many times real incident rates. The artifact's
card records the mean served probability per target over a held-out fleet
(:meth:`models.artifact.ModelBundle.population_rate`); the premium is priced against that
class mean and the risk bands and model-risk alert thresholds are multiples of it, so the
same policy holds at any scale. Without a card population the absolute defaults in
:mod:`alerts.config` apply.

>>> ref = PopulationRisk(injury=0.06, accident=0.04, horizon_min=60, source="lgbm-x")
>>> round(ref.any_event, 4)                  # 1 - 0.94 · 0.96
0.0976
>>> round(ref.expected_loss_per_hour(2000.0, 5000.0), 1)   # 0.06·2000 + 0.04·5000
320.0
>>> [round(c, 4) for c in ref.scaled((0.8, 1.5, 3.0))]
[0.0781, 0.1464, 0.2928]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from riskstream.contracts.records import any_event_probability

#: A scaled cut point stays below 1 (a probability).
_MAX_CUT = 0.999


@dataclass(frozen=True, slots=True)
class PopulationRisk:
    """Mean probability of an injury and of an accident within ``horizon_min`` in the served population."""

    injury: float
    accident: float
    horizon_min: float = 60.0
    source: str = ""
    #: The served scorer's 99th percentile per target on the calibration fleet (the card's ``top_1pct_p``): a
    #: model-risk warning fires there when the scorer never reaches the multiple of the mean (:meth:`reach`).
    injury_top_1pct: float | None = None
    accident_top_1pct: float | None = None
    #: What the served scorer's high scores turned out to be on the calibration fleet (the card's ``bands``):
    #: per target ``(p_from, rr)`` pairs, rr = the observed rate of the snapshots scored ≥ p_from over the fleet's.
    injury_bands: tuple[tuple[float, float], ...] = ()
    accident_bands: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        for name in ("injury", "accident", "injury_top_1pct", "accident_top_1pct"):
            p = getattr(self, name)
            if p is None and name.endswith("top_1pct"):
                continue
            if not (math.isfinite(p) and 0.0 < p < 1.0):
                raise ValueError(f"population {name} probability must be in (0, 1), got {p}")
        if not (math.isfinite(self.horizon_min) and self.horizon_min > 0):
            raise ValueError(f"horizon_min must be > 0, got {self.horizon_min}")

    @property
    def any_event(self) -> float:
        """P(injury or accident) within the horizon, the two treated as independent."""
        return any_event_probability(self.injury, self.accident)

    def rate(self, target: str) -> float:
        """The population probability of ``target`` (``injury`` or ``accident``)."""
        if target not in ("injury", "accident"):
            raise ValueError(f"unknown target {target!r}; expected 'injury' or 'accident'")
        return float(getattr(self, target))

    def expected_loss_per_hour(self, severity_injury: float, severity_accident: float) -> float:
        """Class mean expected loss per exposure hour: Σ P(event) × severity, scaled to one hour."""
        per_hour = 60.0 / self.horizon_min
        return (self.injury * severity_injury + self.accident * severity_accident) * per_hour

    def relative_risk(self, target: str, p: float) -> float:
        """How many times the usual risk a score ``p`` of ``target`` stands for, no more than data show.

        ``p`` over the population probability (the score's own claim), but with bands on the card never more
        than the observed ratio of the most exclusive band ``p`` reaches (on the calibration fleet the
        snapshots scored at least that high were hurt that many times as often as all of them): a rider reads
        no more than the served scorer's high scores came to. Below every band, the claim alone.

        >>> ref = PopulationRisk(injury=0.07, accident=0.06, injury_bands=((0.08, 1.2), (0.10, 3.0), (0.17, 1.9)))
        >>> round(ref.relative_risk("injury", 0.176), 2), round(ref.relative_risk("injury", 0.12), 2)
        (1.9, 1.71)
        >>> round(ref.relative_risk("injury", 0.035), 2), round(ref.relative_risk("accident", 0.18), 2)
        (0.5, 3.0)
        """
        claim = p / self.rate(target)
        reached = [rr for p_from, rr in getattr(self, f"{target}_bands", ()) if p >= p_from]
        return min(claim, reached[-1]) if reached else claim

    def reach(self, target: str, enter: float, exit_: float) -> tuple[float, float]:
        """A warning line ``(enter, exit)`` the served scorer of ``target`` can reach: lowered to its 99th
        percentile on the calibration fleet (exit kept in proportion) when that is below ``enter``.

        A target served by a coarse baseline (injury by the WBGT estimate alone: at most 0.143 against a 3x
        line of 0.19) could otherwise never warn; its riskiest 1 % are warned instead.

        >>> ref = PopulationRisk(injury=0.064, accident=0.075, injury_top_1pct=0.143)
        >>> [round(v, 4) for v in ref.reach("injury", 0.192, 0.16)], ref.reach("accident", 0.225, 0.1875)
        ([0.143, 0.1192], (0.225, 0.1875))
        """
        top = getattr(self, f"{target}_top_1pct") if target in ("injury", "accident") else None
        if top is None or top >= enter:
            return enter, exit_
        return top, top * exit_ / enter

    def scaled(self, ratios: tuple[float, ...], target: str | None = None) -> tuple[float, ...]:
        """``ratios`` × the population probability (of ``target``, or of any event), kept below 1."""
        base = self.any_event if target is None else self.rate(target)
        return tuple(min(r * base, _MAX_CUT) for r in ratios)
