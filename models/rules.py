"""The conservative rule-based scorer: no machine learning, only documented multipliers.

It is the fallback when the LightGBM model is missing or failing, and the floor in the
circuit breaker's conservative mode. Each rule multiplies the *odds* of an injury and of
an accident within the horizon; every multiplier is ≥ 1, and a missing or stale input
gets its own multiplier ≥ 1, so an absent sensor can only raise the risk, never lower it.

>>> scorer = RuleScorer()
>>> benign = {**{name: 0.0 for name in FEATURE_NAMES}, "visibility_m": 10000.0}
>>> calm = scorer.score_batch([benign])[0]
>>> round(calm.injury, 4), round(calm.accident, 4), calm.conservative
(0.002, 0.003, True)
>>> storm = scorer.score_batch([{**benign, "precip_mm_h": 12.0, "road_flooding": 1}])[0]
>>> round(storm.accident / calm.accident, 1)   # rain x2.5 and flooding x5 on the odds (x12.5)
12.1
>>> [r.code for r in storm.reasons]
['ROAD_FLOODING', 'RAIN']
>>> silent = scorer.score_batch([{}])[0]       # no data at all: never safer than calm
>>> silent.injury > calm.injury and silent.accident > calm.accident
True
"""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence

from features.catalog import FEATURE_NAMES
from models.reasons import reason_for
from models.risk import FeatureRow, ScoredRisk

RULES_VERSION = "1"

#: Baseline probabilities per 60-min horizon for a rider in benign conditions. A documented
#: choice of the order of occupational injury / crash rates of delivery riders; configurable.
BASE_INJURY_P = 0.002
BASE_ACCIDENT_P = 0.003
#: A suspected fall that is not answered is treated as a likely injury (Huynh 2015 wrist
#: detectors: 85-95 % sensitivity, 70-85 % specificity).
FALL_SUSPECTED_INJURY_P = 0.5
MAX_P = 0.99


class Rule(NamedTuple):
    """``levels``: (threshold, injury multiplier, accident multiplier), mildest first.

    The strongest level the value reaches applies (``value >= threshold``, or ``<=``
    when ``lower_is_worse``). ``unknown`` applies when the value is missing.
    """

    feature: str
    levels: tuple[tuple[float, float, float], ...]
    unknown: tuple[float, float] = (1.0, 1.0)
    lower_is_worse: bool = False


RULES: tuple[Rule, ...] = (
    # NWS heat index categories 1-4 (caution .. extreme danger); multipliers are our documented choice.
    Rule("heat_category", ((1, 1.3, 1.1), (2, 2.0, 1.2), (3, 4.0, 1.5), (4, 8.0, 2.0)), unknown=(1.5, 1.1)),
    # China 安监总安健〔2012〕89号: daily max >= 40 °C -> stop outdoor work.
    Rule("cn_heat_40", ((1, 2.0, 1.2),)),
    # Moran 1998 PSI: >= 7.5 "at risk"; 5 is a moderate strain.
    Rule("strain_index_est", ((5.0, 2.0, 1.1), (7.5, 4.0, 1.3)), unknown=(1.5, 1.0)),
    Rule("time_above_85pct_hrmax_15m", ((10.0, 1.5, 1.1),)),
    # Fatigue: EU 561/2006 break after 4.5 h; Meituan prompt at 8 h, forced offline at 12 h.
    Rule("continuous_riding_min", ((270.0, 1.5, 1.5),)),
    Rule("online_hours_today", ((8.0, 1.5, 1.5), (12.0, 2.5, 2.5))),
    # FHWA motorcycle crash causation: night / sleep debt, OR ~ 2.
    Rule("night_riding_min_today", ((30.0, 1.2, 2.0),)),
    Rule("darkness", ((1, 1.0, 1.5),)),
    # Brodsky & Hakkert 1988: rain x2-3 injury crashes, more after a dry spell.
    Rule("precip_mm_h", ((0.5, 1.1, 2.5),), unknown=(1.0, 1.5)),
    Rule("rain_onset", ((1, 1.0, 1.5),)),
    # Waterlogged roads / low adhesion: many-fold loss of control for two-wheelers.
    Rule("road_flooding", ((1, 1.5, 5.0),)),
    Rule("freezing", ((1, 1.5, 3.0),)),
    Rule("visibility_m", ((1000.0, 1.0, 1.5), (200.0, 1.0, 2.0)), lower_is_worse=True),
    Rule("wind_gust_ms", ((17.0, 1.2, 1.5),)),
    # CMT 2017: crashed drivers had 1.8x hard braking, 3.0x excessive speeding, 3.4x phone distraction.
    Rule("harsh_brakes_10m", ((3.0, 1.1, 1.8),)),
    Rule("speeding_s_10m", ((30.0, 1.1, 3.0),)),
    Rule("phone_handling_s_10m", ((10.0, 1.0, 3.4),)),
    Rule("impact_peak_g_1m", ((3.0, 1.5, 1.5),)),
    # Freshness: a silent source raises the risk (docs/design.md: never silently safe).
    Rule("wearable_age_s", ((120.0, 1.5, 1.0),), unknown=(1.5, 1.0)),
    Rule("weather_age_s", ((1800.0, 1.3, 1.3),), unknown=(1.3, 1.3)),
    Rule("trip_age_s", ((300.0, 1.0, 1.2),), unknown=(1.0, 1.2)),
)


def _value(row: FeatureRow, name: str) -> float | None:
    v = row.get(name)
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _multiplier(rule: Rule, value: float | None) -> tuple[float, float]:
    if value is None:
        return rule.unknown
    best = (1.0, 1.0)
    for threshold, m_inj, m_acc in rule.levels:
        if (value <= threshold) if rule.lower_is_worse else (value >= threshold):
            best = (m_inj, m_acc)
    return best


def _from_odds(p0: float, multiplier: float) -> float:
    odds = p0 / (1.0 - p0) * multiplier
    return min(MAX_P, odds / (1.0 + odds))


class RuleScorer:
    """Probabilities from :data:`RULES` applied to the baseline odds; always ``conservative=True``."""

    version = RULES_VERSION

    def __init__(self, base_injury_p: float = BASE_INJURY_P, base_accident_p: float = BASE_ACCIDENT_P, top_k: int = 3):
        self.base_injury_p = base_injury_p
        self.base_accident_p = base_accident_p
        self.top_k = top_k

    def score_one(self, row: FeatureRow) -> ScoredRisk:
        m_inj = m_acc = 1.0
        fired: list[tuple[float, str, float | None]] = []
        for rule in RULES:
            value = _value(row, rule.feature)
            a, b = _multiplier(rule, value)
            m_inj *= a
            m_acc *= b
            if max(a, b) > 1.0:
                fired.append((max(a, b), rule.feature, value))
        injury = _from_odds(self.base_injury_p, m_inj)
        if (_value(row, "fall_suspected") or 0.0) >= 1:
            injury = max(injury, FALL_SUSPECTED_INJURY_P)
            fired.append((math.inf, "fall_suspected", 1.0))
        accident = _from_odds(self.base_accident_p, m_acc)
        fired.sort(key=lambda f: (-f[0], FEATURE_NAMES.index(f[1])))
        reasons = [reason_for(name, value) for _, name, value in fired[: self.top_k]]
        return ScoredRisk(injury=injury, accident=accident, reasons=reasons, source="rules", conservative=True)

    def score_batch(self, rows: Sequence[FeatureRow]) -> list[ScoredRisk]:
        """Score each row; pure Python, about the cost of reading its ~20 rule inputs."""
        return [self.score_one(row) for row in rows]
