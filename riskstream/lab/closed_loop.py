"""Closed loop: do riders who follow the alerts have fewer incidents than the same fleet ignoring them?

For each seed the same fleet (same riders, shifts and weather) is run twice through the
processor: alerts ignored (``advice_compliance`` 0) and followed with probability ``p``.
The reduction is ``1 − incidents(p) / incidents(0)`` pooled over seeds, with an exact
conditional-Poisson interval (:func:`rate_ratio_interval`); the same on incidents per
online rider-hour. The two arms of a seed share riders and weather but their random
streams diverge after the first followed advice, so the interval treats them as
independent Poisson counts (somewhat conservative).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from scipy.stats import beta

from riskstream.lab.run import RunResult, run_fleet
from riskstream.simulation import SimConfig
from streams.settings import Settings


@dataclass(frozen=True)
class Arm:
    """One run: a seed at one compliance."""

    seed: int
    compliance: float
    incidents: int
    by_kind: dict[str, int]
    online_hours: float
    alerts: int
    advice_followed: int
    riding_hours: float = math.nan

    @classmethod
    def from_run(cls, run: RunResult) -> Arm:
        return cls(run.config.seed, run.config.advice_compliance, len(run.incidents),
                   dict(Counter(i.kind for i in run.incidents)), run.online_hours, len(run.alerts),
                   sum(bool(a["followed"]) for a in run.advice), run.riding_hours)


def rate_ratio_interval(n1: int, e1: float, n0: int, e0: float, conf: float = 0.95) -> tuple[float, float, float]:
    """Ratio of Poisson rates ``(n1/e1)/(n0/e0)`` with an exact (Clopper-Pearson, conditional) interval.

    Given ``n1 + n0``, ``n1`` is binomial with ``π = r·e1/(r·e1 + e0)``; the interval of π maps to r.

    >>> r, lo, hi = rate_ratio_interval(80, 1.0, 100, 1.0)
    >>> round(r, 2), round(lo, 2), round(hi, 2)
    (0.8, 0.59, 1.08)
    """
    n = n1 + n0
    if n == 0 or e1 <= 0 or e0 <= 0:
        return math.nan, math.nan, math.nan
    a = 1.0 - conf
    p_lo = float(beta.ppf(a / 2, n1, n0 + 1)) if n1 > 0 else 0.0
    p_hi = float(beta.ppf(1 - a / 2, n1 + 1, n0)) if n0 > 0 else 1.0
    to_ratio = lambda p: (p / (1 - p)) * (e0 / e1) if p < 1 else math.inf  # noqa: E731
    ratio = (n1 / e1) / (n0 / e0) if n0 else math.inf
    return ratio, to_ratio(p_lo), to_ratio(p_hi)


@dataclass
class LoopComparison:
    """Arms with alerts ignored (compliance 0) and followed (compliance p), per seed."""

    compliance: float
    ignored: list[Arm] = field(default_factory=list)
    followed: list[Arm] = field(default_factory=list)

    def totals(self, arms: list[Arm]) -> tuple[int, float]:
        return sum(a.incidents for a in arms), sum(a.online_hours for a in arms)

    def count_reduction(self) -> tuple[float, float, float]:
        """(reduction, low, high) of the incident count; the interval is 95 %."""
        n1, _ = self.totals(self.followed)
        n0, _ = self.totals(self.ignored)
        r, lo, hi = rate_ratio_interval(n1, 1.0, n0, 1.0)
        return 1 - r, 1 - hi, 1 - lo

    def rate_reduction(self) -> tuple[float, float, float]:
        """(reduction, low, high) of incidents per online rider-hour; 95 % interval."""
        n1, e1 = self.totals(self.followed)
        n0, e0 = self.totals(self.ignored)
        r, lo, hi = rate_ratio_interval(n1, e1, n0, e0)
        return 1 - r, 1 - hi, 1 - lo


def compare(riders: int, hours: float, seeds: list[int], compliance: float, scenario: str = "mixed",
            settings: Settings | None = None, progress: bool = False) -> LoopComparison:
    """Run every seed with alerts ignored and with alerts followed at ``compliance``."""
    out = LoopComparison(compliance)
    for seed in seeds:
        for p, arms in ((0.0, out.ignored), (compliance, out.followed)):
            cfg = SimConfig(riders=riders, seed=seed, scenario=scenario, advice_compliance=p)
            run = run_fleet(cfg, hours, settings, progress=progress, desc=f"seed {seed}, compliance {p:.1f}")
            arms.append(Arm.from_run(run))
    return out
