"""Thresholds of the rider alert policy and the premium signal, with their sources.

Every number cites where it comes from (see docs/domain.md); where sources disagree or none
exists, the default is a documented project choice and can be overridden through
``streams.settings`` (``RISKSTREAM_ALERTS__...`` / ``RISKSTREAM_PREMIUM__...``).
Exit thresholds give hysteresis: an alert enters at ``*_c`` and stays until the value
falls past ``*_exit_*``, so a reading that hovers at the line does not flap.

>>> cfg = AlertConfig()
>>> cfg.heat_index_danger_c, cfg.heat_index_danger_exit_c, cfg.max_alerts_per_hour
(39.4, 38.3, 1)
>>> try:
...     AlertConfig(heat_index_danger_c=30.0, heat_index_danger_exit_c=29.0)
... except ValueError as err:
...     print(err.errors()[0]["msg"])
Value error, heat_index danger threshold 30.0 must not be below its warning threshold 32.2; set both so danger is the more extreme
"""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import NoDecode

#: (warning enter, warning exit, danger enter, danger exit, "above"|"below") per thresholded signal.
_PAIRS: tuple[tuple[str, str, str, str, str], ...] = (
    ("heat_index_warning_c", "heat_index_warning_exit_c", "heat_index_danger_c", "heat_index_danger_exit_c", "above"),
    ("strain_warning", "strain_warning_exit", "strain_danger", "strain_danger_exit", "above"),
    ("above_85_warning_min", "above_85_warning_exit_min", "above_85_danger_min", "above_85_danger_exit_min", "above"),
    ("online_warning_h", "online_warning_exit_h", "online_danger_h", "online_danger_exit_h", "above"),
    ("continuous_warning_min", "continuous_warning_exit_min", "continuous_danger_min", "continuous_danger_exit_min", "above"),
    ("precip_warning_mm_h", "precip_warning_exit_mm_h", "precip_danger_mm_h", "precip_danger_exit_mm_h", "above"),
    ("gust_warning_ms", "gust_warning_exit_ms", "gust_danger_ms", "gust_danger_exit_ms", "above"),
    ("visibility_warning_m", "visibility_warning_exit_m", "visibility_danger_m", "visibility_danger_exit_m", "below"),
    ("injury_warning_p", "injury_warning_exit_p", "injury_danger_p", "injury_danger_exit_p", "above"),
    ("accident_warning_p", "accident_warning_exit_p", "accident_danger_p", "accident_danger_exit_p", "above"),
    ("model_risk_warning_rr", "model_risk_warning_exit_rr", "model_risk_danger_rr", "model_risk_danger_exit_rr", "above"),
)
_SINGLE: tuple[tuple[str, str, str], ...] = (
    ("hrr_warning_pct", "hrr_warning_exit_pct", "above"),
    ("harsh_brakes_warning", "harsh_brakes_warning_exit", "above"),
    ("speeding_warning_s", "speeding_warning_exit_s", "above"),
    ("phone_warning_s", "phone_warning_exit_s", "above"),
)


def _check_hysteresis(cfg: BaseModel) -> None:
    def bad(enter: str, exit_: str, direction: str) -> str | None:
        e, x = getattr(cfg, enter), getattr(cfg, exit_)
        if (direction == "above" and x > e) or (direction == "below" and x < e):
            side = "above" if direction == "above" else "below"
            return f"{exit_}={x} must not be {side} {enter}={e} (exit must be on the safe side of enter)"
        return None

    for w, wx, d, dx, direction in _PAIRS:
        for msg in (bad(w, wx, direction), bad(d, dx, direction)):
            if msg:
                raise ValueError(msg)
        wv, dv = getattr(cfg, w), getattr(cfg, d)
        if (direction == "above" and dv < wv) or (direction == "below" and dv > wv):
            name = w.split("_warning")[0]
            raise ValueError(
                f"{name} danger threshold {dv} must not be {'below' if direction == 'above' else 'above'} "
                f"its warning threshold {wv}; set both so danger is the more extreme"
            )
    for enter, exit_, direction in _SINGLE:
        if msg := bad(enter, exit_, direction):
            raise ValueError(msg)


class AlertConfig(BaseModel):
    """Thresholds, cooldown and cap of :class:`alerts.policy.AlertPolicy`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # --- heat: NWS heat index categories (°F converted), China 安监总安健〔2012〕89号
    heat_index_warning_c: float = Field(32.2, description="NWS 'extreme caution' starts at 90 °F (32.2 °C).")
    heat_index_warning_exit_c: float = Field(31.1, description="88 °F; hysteresis margin (project choice).")
    heat_index_danger_c: float = Field(39.4, description="NWS 'danger' starts at 103 °F (39.4 °C).")
    heat_index_danger_exit_c: float = Field(38.3, description="101 °F; hysteresis margin (project choice).")
    cn_heat_40_danger: bool = Field(True, description="Daily max ≥ 40 °C: stop outdoor work (安监总安健〔2012〕89号).")

    # --- physiological strain: Moran 1998 PSI; ACSM intensity bands
    strain_warning: float = Field(6.0, description="PSI 6: high strain, halfway into Moran's 'very high' band.")
    strain_warning_exit: float = 5.5
    strain_danger: float = Field(7.5, description="PSI ≥ 7.5 is the common 'at risk' line (Moran 1998).")
    strain_danger_exit: float = 7.0
    hrr_warning_pct: float = Field(90.0, description="≥ 90 % heart-rate reserve is near-maximal effort (ACSM).")
    hrr_warning_exit_pct: float = 85.0
    above_85_warning_min: float = Field(
        5.0, description="Minutes of 15 with HR > 85 % HR_max; sustained near-max HR is a stop-work sign (project choice)."
    )
    above_85_warning_exit_min: float = 3.0
    above_85_danger_min: float = Field(10.0, description="Two thirds of the last 15 min near HR_max (project choice).")
    above_85_danger_exit_min: float = 8.0

    # --- fatigue: Meituan online-time rules (2024-12-30); EU 561/2006 as an analogy
    online_warning_h: float = Field(8.0, description="Meituan prompts riders after 8 h online, then hourly.")
    online_warning_exit_h: float = 7.75
    online_danger_h: float = Field(12.0, description="Meituan forces riders offline at 12 h online in a day.")
    online_danger_exit_h: float = 11.75
    continuous_warning_min: float = Field(240.0, description="4 h without a break: EU 561 asks 45 min after 4.5 h; warn early.")
    continuous_warning_exit_min: float = 230.0
    continuous_danger_min: float = Field(270.0, description="4.5 h without a break: the EU 561/2006 driving limit.")
    continuous_danger_exit_min: float = 260.0
    break_minutes: float = Field(15.0, description="Advised break; EU 561/2006 allows a split break of 15 + 30 min.")

    # --- weather and road
    precip_warning_mm_h: float = Field(7.6, description="Heavy rain > 7.6 mm/h (AMS Glossary of Meteorology).")
    precip_warning_exit_mm_h: float = 5.0
    precip_danger_mm_h: float = Field(50.0, description="Violent rain > 50 mm/h (UK Met Office).")
    precip_danger_exit_mm_h: float = 40.0
    gust_warning_ms: float = Field(17.0, description="Gale, Beaufort 8 starts at 17.2 m/s.")
    gust_warning_exit_ms: float = 15.0
    gust_danger_ms: float = Field(24.5, description="Storm, Beaufort 10 starts at 24.5 m/s.")
    gust_danger_exit_ms: float = 22.0
    visibility_warning_m: float = Field(200.0, description="CMA fog orange signal: visibility < 200 m.")
    visibility_warning_exit_m: float = 300.0
    visibility_danger_m: float = Field(50.0, description="CMA fog red signal: visibility < 50 m.")
    visibility_danger_exit_m: float = 100.0
    road_flooding_danger: bool = Field(True, description="Waterlogged roads: > 20x loss-of-control risk for two-wheelers.")
    freezing_warning: bool = Field(True, description="Ice risk (air ≤ 0 °C with precipitation, or ≤ -2 °C).")
    rain_onset_warning: bool = Field(True, description="First rain after a dry spell is most slippery (Brodsky & Hakkert 1988).")

    # --- riding behaviour (CMT 2017: crash-involved drivers had 1.8x hard braking, 3x speeding, 3.4x phone use)
    harsh_brakes_warning: float = Field(3.0, description="Harsh brakes in 10 min (project choice).")
    harsh_brakes_warning_exit: float = 2.0
    speeding_warning_s: float = Field(60.0, description="Seconds over limit+tolerance in 10 min (project choice).")
    speeding_warning_exit_s: float = 30.0
    phone_warning_s: float = Field(30.0, description="Seconds handling the phone at ≥ 18 km/h in 10 min (project choice).")
    phone_warning_exit_s: float = 15.0

    # --- model risk: calibrated probabilities within the model horizon (project choice, tune on evaluation).
    # With a card population (alerts.reference) the thresholds are multiples of the population's
    # probability of each target (*_rr), so they mean the same at any scale; the absolute *_p values
    # apply when the artifact has no population and to the rule-based scores of the conservative mode.
    model_risk_warning_rr: float = Field(
        3.0, gt=0, description="Warn at 3x the population's probability of an injury (or accident) within the horizon "
        "(at the served scorer's 99th percentile on the card's calibration fleet instead, where that is lower: a "
        "scorer that never reaches 3x still warns its riskiest 1 %)."
    )
    model_risk_warning_exit_rr: float = Field(2.5, gt=0)
    model_risk_accident_warning_rr: float = Field(
        2.0, gt=0, description="Warn at this multiple of the population's accident probability (injury: "
        "model_risk_warning_rr). Lower than the injury line so that the model's crash risk competes for the alert "
        "budget: a model-risk warning waits for the budget like any warning, and its advice (a break) takes the rider "
        "off the road, where the crash hazard is 0 (project choice, measured in docs/reports/outcome.md)."
    )
    model_risk_accident_warning_exit_rr: float = Field(1.7, gt=0)
    model_risk_danger_rr: float = Field(6.0, gt=0, description="Danger at 6x the population's probability.")
    model_risk_danger_exit_rr: float = Field(5.0, gt=0)
    model_risk_covered_s: float = Field(
        3600.0, ge=0, description="A model-risk alert is held while the rider got a specific alert on the same risk, "
        "at least as severe, within this many seconds (heat/strain/fatigue for injury; weather/riding/fatigue for "
        "accidents): the specific alert already says what to do. 0 turns this off."
    )
    injury_warning_p: float = Field(0.10, ge=0, le=1)
    injury_warning_exit_p: float = Field(0.08, ge=0, le=1)
    injury_danger_p: float = Field(0.25, ge=0, le=1)
    injury_danger_exit_p: float = Field(0.20, ge=0, le=1)
    accident_warning_p: float = Field(0.10, ge=0, le=1)
    accident_warning_exit_p: float = Field(0.08, ge=0, le=1)
    accident_danger_p: float = Field(0.25, ge=0, le=1)
    accident_danger_exit_p: float = Field(0.20, ge=0, le=1)

    # --- delivery
    cooldown_s: float = Field(900.0, ge=0, description="Same kind at the same or lower severity is not resent within this (event time).")
    repeat_after_s: float = Field(
        14_400.0, ge=0, description="A danger-level condition that persists is reminded this often (project choice: "
        "twice in a hot afternoon; 2 h sent 1.3x the alerts for no more incidents warned, docs/reports/alerts.md)."
    )
    warning_repeat_after_s: float = Field(
        14_400.0, ge=0, description="A warning-level condition that persists (a hot day, rain) is reminded this often: "
        "it is the condition of the day, not news (project choice, measured in docs/reports/alerts.md)."
    )
    fatigue_repeat_after_s: float = Field(3600.0, ge=0, description="Fatigue prompts repeat hourly (Meituan, after 8 h online).")
    heat_break_after_min: float = Field(
        60.0, ge=0, description="While a heat alert is on, a rider who has ridden this many minutes without a break of "
        "≥ 15 min, and got no heat alert for as long, is reminded to take the break the heat warning advises (rest 15 "
        "min every hour of riding); like any reminder it waits for the alert budget. 0 turns it off (project choice)."
    )
    max_alerts_per_hour: int = Field(
        1, ge=1, description="Per-rider cap on warnings over a sliding hour (danger alerts count towards it); a held "
        "warning goes out when a slot frees if its condition lasts (project choice, measured in docs/reports/alerts.md)."
    )
    budget_enabled: bool = Field(
        True, description="Per-rider alert budget (alerts.policy.Budget): warnings and reminders wait while the rider "
        "has less than one alert left; first dangers and fall questions never wait. Off: only the hourly cap limits."
    )
    budget_online_hours_per_alert: float = Field(
        2.0, gt=0, description="A rider's alert budget earns one alert per this many online hours; every alert sent, "
        "dangers included, spends one. First dangers of heat, strain, fatigue and weather and fall questions go out "
        "on top, so the fleet stays under 1 alert per online rider-hour (project choice, measured in "
        "docs/reports/outcome.md)."
    )
    budget_min_risk_rr: float = Field(
        1.0, ge=0, description="A warning or reminder spends the budget only while the model's risk that its advice "
        "lowers (a break: injury and accident; calmer riding: accident) is at least this multiple of the usual "
        "(alerts.policy.AlertPolicy.risk_ratio); below it the alert waits (`low_risk`) and the budget is kept for a "
        "riskier moment. First dangers and fall questions never wait. 1 = the usual risk: at 0 (off) the first warning "
        "of a hot day took the budget at sign-on, when a break prevents least (project choice, measured in "
        "docs/reports/outcome.md)."
    )
    budget_burst: float = Field(
        1.0, ge=1, description="Most alerts a rider's budget holds, and what a rider starts with: one warning at "
        "sign-on, then one per budget_online_hours_per_alert (project choice)."
    )
    budget_gap_max_s: float = Field(
        300.0, gt=0, description="A gap between two evaluations of a rider counts at most this much online time for "
        "the budget (time away, unscored, earns nothing)."
    )
    merge_co_occurring: bool = Field(
        True, description="Alerts of several kinds due in the same evaluation go out as one message: the most severe "
        "(then the one whose advice lowers the most model risk) leads, the others are named in it and count as told; "
        "the message spends one alert of the budget. A fall question always goes out on its own."
    )
    danger_bypasses_cap: bool = Field(
        True, description="A danger-level alert (flooding, heat danger, ...) is never held by the hourly cap: "
        "a missed danger costs more than one message too many."
    )

    def repeat_after(self, kind: str, severity: str) -> float:
        """Seconds after which a persisting condition of ``kind`` at ``severity`` is reminded.

        >>> cfg = AlertConfig()
        >>> cfg.repeat_after("heat", "danger"), cfg.repeat_after("heat", "warning"), cfg.repeat_after("fatigue", "warning")
        (14400.0, 14400.0, 3600.0)
        """
        if kind == "fatigue":
            return self.fatigue_repeat_after_s
        return self.repeat_after_s if severity == "danger" else self.warning_repeat_after_s
    fall_danger_bypasses_limits: bool = Field(
        True, description="A suspected fall is sent even over the cap and within cooldown: a missed fall costs more than a repeat."
    )

    @model_validator(mode="after")
    def _consistent(self) -> AlertConfig:
        _check_hysteresis(self)
        for name in ("repeat_after_s", "warning_repeat_after_s", "fatigue_repeat_after_s"):
            if getattr(self, name) < self.cooldown_s:
                raise ValueError(f"{name}={getattr(self, name)} must be ≥ cooldown_s={self.cooldown_s}")
        return self


#: Three cut points; the text of an environment variable is read by ``_cuts_from_text`` (``0.8,1.5,3`` or JSON),
#: not decoded as JSON by the settings first.
_Cuts = Annotated[tuple[float, float, float], NoDecode]


class PremiumConfig(BaseModel):
    """Pricing constants of :class:`alerts.premium.PremiumCalculator`.

    Severities and the class mean are placeholders for an actuary to set: the signal is a
    multiplier, so only their ratio matters (class mean = Σ class probability × severity).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    severity_injury: float = Field(2000.0, gt=0, description="Expected claim cost of one injury event (currency units).")
    severity_accident: float = Field(5000.0, gt=0, description="Expected claim cost of one accident (crash) event.")
    class_expected_loss_per_hour: float = Field(
        3.0,
        gt=0,
        description="Class mean expected loss per exposure hour when the model card has no population; "
        "with one, the class mean is Σ population P × severity (alerts.reference).",
    )
    credibility_k_hours: float = Field(
        160.0, gt=0, description="Z = n/(n+k); k = 160 h, one month full time, gives Z = 0.5 (project choice)."
    )
    low_credibility_z: float = Field(0.25, ge=0, le=1, description="Below this Z the reasons say the price is mostly the class price.")
    smoothing_halflife_h: float = Field(
        40.0, gt=0, description="Exponential smoothing of own expected loss, half-life in exposure hours (one working week)."
    )
    pricing_period_s: float = Field(86_400.0, gt=0, description="The multiplier moves at most max_change per period (one day).")
    max_change: float = Field(0.10, gt=0, lt=1, description="Largest change per pricing period, ±10 % (surcharges are capped in UBI).")
    min_multiplier: float = Field(0.7, gt=0)
    max_multiplier: float = Field(1.5, gt=0)
    safe_riding_max_discount: float = Field(
        0.10, ge=0, lt=1, description="Up to 10 % off for safe periods (UBI behaviour discounts reach 30-45 %; we stay modest)."
    )
    band_cuts: _Cuts = Field(
        (0.01, 0.03, 0.10),
        description="risk_score cut points (low < c0 ≤ moderate < c1 ≤ high < c2 ≤ severe) when the model card "
        "has no population, and for the rule-based scores of the conservative mode.",
    )
    band_cuts_relative: _Cuts = Field(
        (0.8, 1.5, 3.0),
        description="With a card population: cut points as multiples of the population's P(any event); "
        "below 0.8x is low, 1.5x-3x high, 3x and more severe (project choice).",
    )
    stable_tolerance: float = Field(0.001, ge=0, description="A relative move below this is reported as RISK_STABLE.")

    @field_validator("band_cuts", "band_cuts_relative", mode="before")
    @classmethod
    def _cuts_from_text(cls, value: object) -> object:
        """An environment variable gives text: accept ``[0.8, 1.5, 3]`` or ``0.8,1.5,3``."""
        if isinstance(value, str):
            text = value.strip()
            try:
                return json.loads(text) if text.startswith("[") else [float(v) for v in text.split(",")]
            except ValueError:
                raise ValueError(f"{value!r} is not three numbers; write e.g. 0.8,1.5,3") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> PremiumConfig:
        if not self.min_multiplier <= 1.0 <= self.max_multiplier:
            raise ValueError(
                f"bounds [{self.min_multiplier}, {self.max_multiplier}] must contain 1.0, the class price of a new rider"
            )
        c = self.band_cuts
        if not 0 < c[0] < c[1] < c[2] < 1:
            raise ValueError(f"band_cuts {c} must be increasing and inside (0, 1)")
        r = self.band_cuts_relative
        if not 0 < r[0] < r[1] < r[2]:
            raise ValueError(f"band_cuts_relative {r} must be increasing and positive (multiples of the population risk)")
        return self
