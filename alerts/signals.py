"""The table of alert signals: which feature, at which threshold, raises which alert kind.

Each signal watches one feature and has one rule per severity (enter and exit thresholds
and a reason code). :class:`alerts.policy.AlertPolicy` walks this table; the thresholds
come from :class:`alerts.config.AlertConfig`.

>>> from alerts.config import AlertConfig
>>> heat = next(s for s in build_signals(AlertConfig()) if s.feature == "heat_index_c")
>>> [(r.severity.value, r.enter, r.exit, r.code) for r in heat.rules]
[('warning', 32.2, 31.1, 'HEAT_INDEX_WARNING'), ('danger', 39.4, 38.3, 'HEAT_INDEX_DANGER')]
>>> heat.level(35.0, None).value, heat.level(38.9, Severity.danger).value, heat.level(31.0, Severity.warning)
('warning', 'danger', None)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from alerts.config import AlertConfig
from alerts.reference import PopulationRisk
from riskstream.contracts.records import Severity

#: Order of severities; a higher rank is more urgent.
RANK: dict[Severity, int] = {Severity.info: 0, Severity.warning: 1, Severity.danger: 2}
#: A boolean feature (0/1) is on at or above this.
FLAG_ON = 0.5
#: Alert kinds, as in ``RiderAlert.kind``.
KINDS: tuple[str, ...] = ("fall", "heat", "strain", "fatigue", "weather", "riding", "model_risk")
#: Pseudo-features the policy adds from ``RiskScores`` so model risk runs through the same table.
MODEL_FEATURES = ("p_injury", "p_accident")
#: Alert kinds whose advice already covers a model-risk signal (see ``AlertConfig.model_risk_covered_s``).
COVERED_BY: dict[str, frozenset[str]] = {
    "p_injury": frozenset({"heat", "strain", "fatigue"}),
    "p_accident": frozenset({"weather", "riding", "fatigue"}),
}
#: Features a kind's message shows besides the ones its signals watch.
MESSAGE_INPUTS: dict[str, tuple[str, ...]] = {
    "heat": ("continuous_riding_min",),
    "fatigue": ("online_hours_today", "continuous_riding_min"),
    "fall": ("impact_peak_g_1m",),
}


@dataclass(frozen=True, slots=True)
class Rule:
    """One severity of a signal: on at ``enter``, stays on until past ``exit``."""

    severity: Severity
    enter: float
    exit: float
    code: str


@dataclass(frozen=True, slots=True)
class Signal:
    """A feature watched for one alert kind; ``rules`` run from least to most severe."""

    kind: str
    feature: str
    rules: tuple[Rule, ...]
    below: bool = False  # True when low values are the danger (visibility)

    def past(self, value: float, line: float) -> bool:
        """``value`` is on the danger side of ``line`` (at or above it; below it for a ``below`` signal)."""
        return value < line if self.below else value >= line

    def _still(self, value: float, line: float) -> bool:
        return value < line if self.below else value >= line

    def level(self, value: float, active: Severity | None) -> Severity | None:
        """Severity this signal is at for ``value``, given the severity it was at before.

        A rule is on when the value is past its enter threshold, or when the signal was
        already at that severity or higher and the value has not yet crossed back past the
        exit threshold (hysteresis). A non-finite value keeps the previous severity: missing
        data neither raises nor clears an alert.
        """
        if not math.isfinite(value):
            return active
        level: Severity | None = None
        was = RANK[active] if active is not None else -1
        for rule in self.rules:
            if self.past(value, rule.enter) or (was >= RANK[rule.severity] and self._still(value, rule.exit)):
                level = rule.severity
        return level

    def rule(self, severity: Severity) -> Rule:
        return next(r for r in self.rules if r.severity == severity)


def _flag(kind: str, feature: str, severity: Severity, code: str) -> Signal:
    return Signal(kind, feature, (Rule(severity, FLAG_ON, FLAG_ON, code),))


def _two(kind: str, feature: str, c: AlertConfig, prefix: str, unit: str, codes: tuple[str, str], below: bool = False) -> Signal:
    g = lambda name: float(getattr(c, name))  # noqa: E731 - short field lookup
    return Signal(
        kind,
        feature,
        (
            Rule(Severity.warning, g(f"{prefix}_warning{unit}"), g(f"{prefix}_warning_exit{unit}"), codes[0]),
            Rule(Severity.danger, g(f"{prefix}_danger{unit}"), g(f"{prefix}_danger_exit{unit}"), codes[1]),
        ),
        below,
    )


def _one(kind: str, feature: str, enter: float, exit_: float, code: str) -> Signal:
    return Signal(kind, feature, (Rule(Severity.warning, enter, exit_, code),))


def _relative(feature: str, c: AlertConfig, population: PopulationRisk, target: str, codes: tuple[str, str]) -> Signal:
    """Model risk at multiples of the population probability of ``target`` (thresholds in probability)."""
    warn, warn_exit = ((c.model_risk_accident_warning_rr, c.model_risk_accident_warning_exit_rr) if target == "accident"
                       else (c.model_risk_warning_rr, c.model_risk_warning_exit_rr))
    w, wx, d, dx = population.scaled((warn, warn_exit, c.model_risk_danger_rr, c.model_risk_danger_exit_rr), target)
    w, wx = population.reach(target, w, wx)  # a line the served scorer can reach
    return Signal("model_risk", feature, (Rule(Severity.warning, w, wx, codes[0]), Rule(Severity.danger, d, dx, codes[1])))


def build_signals(c: AlertConfig, population: PopulationRisk | None = None) -> tuple[Signal, ...]:
    """All signals for a config, in a fixed order; model risk relative to ``population`` when given.

    >>> ref = PopulationRisk(injury=0.05, accident=0.04)
    >>> acc = next(s for s in build_signals(AlertConfig(), ref) if s.feature == "p_accident")
    >>> [(r.severity.value, round(r.enter, 3), round(r.exit, 3)) for r in acc.rules]   # 2x, 1.7x, 6x, 5x of 0.04
    [('warning', 0.08, 0.068), ('danger', 0.24, 0.2)]
    """
    if population is not None:
        injury = _relative("p_injury", c, population, "injury", ("MODEL_INJURY_WARNING", "MODEL_INJURY_DANGER"))
        accident = _relative("p_accident", c, population, "accident", ("MODEL_ACCIDENT_WARNING", "MODEL_ACCIDENT_DANGER"))
    else:
        injury = _two("model_risk", "p_injury", c, "injury", "_p", ("MODEL_INJURY_WARNING", "MODEL_INJURY_DANGER"))
        accident = _two("model_risk", "p_accident", c, "accident", "_p", ("MODEL_ACCIDENT_WARNING", "MODEL_ACCIDENT_DANGER"))
    signals = [
        _flag("fall", "fall_suspected", Severity.danger, "FALL_SUSPECTED"),
        _two("heat", "heat_index_c", c, "heat_index", "_c", ("HEAT_INDEX_WARNING", "HEAT_INDEX_DANGER")),
        _two("strain", "strain_index_est", c, "strain", "", ("STRAIN_WARNING", "STRAIN_DANGER")),
        _one("strain", "hrr_pct", c.hrr_warning_pct, c.hrr_warning_exit_pct, "HRR_HIGH"),
        _two("strain", "time_above_85pct_hrmax_15m", c, "above_85", "_min", ("HR_NEAR_MAX_WARNING", "HR_NEAR_MAX_DANGER")),
        _two("fatigue", "online_hours_today", c, "online", "_h", ("ONLINE_HOURS_WARNING", "ONLINE_HOURS_DANGER")),
        _two("fatigue", "continuous_riding_min", c, "continuous", "_min", ("CONTINUOUS_RIDING_WARNING", "CONTINUOUS_RIDING_DANGER")),
        _two("weather", "precip_mm_h", c, "precip", "_mm_h", ("HEAVY_RAIN", "VIOLENT_RAIN")),
        _two("weather", "wind_gust_ms", c, "gust", "_ms", ("STRONG_GUST", "STORM_GUST")),
        _two("weather", "visibility_m", c, "visibility", "_m", ("LOW_VISIBILITY", "VERY_LOW_VISIBILITY"), below=True),
        _one("riding", "harsh_brakes_10m", c.harsh_brakes_warning, c.harsh_brakes_warning_exit, "HARSH_BRAKING"),
        _one("riding", "speeding_s_10m", c.speeding_warning_s, c.speeding_warning_exit_s, "SPEEDING"),
        _one("riding", "phone_handling_s_10m", c.phone_warning_s, c.phone_warning_exit_s, "PHONE_HANDLING"),
        injury,
        accident,
    ]
    if c.cn_heat_40_danger:
        signals.append(_flag("heat", "cn_heat_40", Severity.danger, "CN_HEAT_40"))
    if c.road_flooding_danger:
        signals.append(_flag("weather", "road_flooding", Severity.danger, "ROAD_FLOODING"))
    if c.freezing_warning:
        signals.append(_flag("weather", "freezing", Severity.warning, "FREEZING"))
    if c.rain_onset_warning:
        signals.append(_flag("weather", "rain_onset", Severity.warning, "RAIN_ONSET"))
    return tuple(signals)
