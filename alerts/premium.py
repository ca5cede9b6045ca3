"""Dynamic premium signal: calibrated risk -> expected loss -> a capped, explained multiplier.

Expected loss per exposure hour = Σ P(event) × severity (probabilities over the model horizon,
scaled to one hour). The rider's own expected loss is smoothed over exposure, blended with the
class mean by credibility ``Z = n/(n + k)``, divided by the class mean, reduced by a
safe-riding discount, capped at ±``max_change`` per pricing period and kept within bounds.
Every decision carries reason codes saying why the price moved.

The class mean and the risk bands come from the population the model is calibrated for
(:class:`alerts.reference.PopulationRisk`, from the artifact card) when there is one, so an
average rider of that population is priced at 1.0 whatever the scale of the probabilities;
otherwise from the absolute values in :class:`alerts.config.PremiumConfig`. In the
conservative mode (rule-based scores, not calibrated to that population) the multiplier is
held and the band never falls: a fallback must not reprice anybody.

>>> calc = PremiumCalculator(PremiumConfig())
>>> state = PremiumState()
>>> d = calc.update(state, RiskScores(injury=0.001, accident=0.0005), {}, exposure_hours=160, now=0.0)

Own loss 0.001·2000 + 0.0005·5000 = 4.5 per hour; Z = 160/(160+160) = 0.5;
blended 0.5·4.5 + 0.5·3.0 = 3.75; 3.75/3.0 = 1.25, capped to +10 %:

>>> round(d.expected_loss, 4), d.credibility, round(d.multiplier, 4), d.previous_multiplier
(3.75, 0.5, 1.1, None)
>>> [r.code for r in d.reasons]
['RISK_UP', 'MAIN_DRIVER_ACCIDENT', 'CAP_APPLIED']
>>> round(d.risk_score, 7), d.risk_band.value   # 1 - 0.999 · 0.9995
(0.0014995, 'low')

Against a population of P = 0.06 (injury) and 0.04 (accident) per hour, the class mean is
0.06·2000 + 0.04·5000 = 320 per hour, and a rider at exactly that risk is priced at 1.0:

>>> from alerts.reference import PopulationRisk
>>> calc = PremiumCalculator(PremiumConfig(), PopulationRisk(injury=0.06, accident=0.04))
>>> d = calc.update(PremiumState(), RiskScores(injury=0.06, accident=0.04), {}, exposure_hours=160, now=0.0)
>>> d.multiplier, d.risk_band.value, d.thresholds["class_expected_loss_per_hour"]
(1.0, 'moderate', 320.0)
>>> held = calc.update(PremiumState(), RiskScores(injury=0.5, accident=0.5), {}, 1.0, now=0.0, hold=True)
>>> held.multiplier, [r.code for r in held.reasons]
(1.0, ['CONSERVATIVE_HOLD', 'LOW_CREDIBILITY'])
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from alerts.config import PremiumConfig
from alerts.messages import reason_text
from alerts.reference import PopulationRisk
from riskstream.contracts.records import Reason, RiskBand, RiskScores

#: Behaviour features that must all be exactly zero for a period to count as safe riding.
SAFE_RIDING_FEATURES: tuple[str, ...] = (
    "harsh_brakes_60m",
    "harsh_accels_10m",
    "speeding_s_10m",
    "phone_handling_s_10m",
)

#: Config values recorded with every premium decision (audit).
_PRICING_CONSTANTS: tuple[str, ...] = (
    "severity_injury",
    "severity_accident",
    "class_expected_loss_per_hour",
    "credibility_k_hours",
    "smoothing_halflife_h",
    "max_change",
    "min_multiplier",
    "max_multiplier",
    "safe_riding_max_discount",
)


@dataclass(slots=True)
class PremiumState:
    """Per-rider pricing memory; JSON-safe through :meth:`to_dict`."""

    exposure_hours: float = 0.0
    smoothed_expected_loss: float | None = None
    last_multiplier: float = 1.0
    last_period_end: float | None = None
    period_start: float | None = None  # start of the pricing period the cap counts from
    period_start_multiplier: float = 1.0
    safe_share: float = 0.0  # exposure-weighted share of safe-riding periods, 0..1
    last_published_at: float | None = None
    last_published_multiplier: float | None = None
    last_published_band: str | None = None
    last_band: str | None = None  # band of the last decision (held, never lowered, in conservative mode)

    def mark_published(self, decision: PremiumDecision, now: float) -> None:
        """Remember what the insurer last saw (call after sending the record)."""
        self.last_published_at = float(now)
        self.last_published_multiplier = decision.multiplier
        self.last_published_band = decision.risk_band.value

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PremiumState:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class PremiumDecision:
    """One premium signal: the multiplier, the numbers behind it and the reasons it moved."""

    expected_loss: float  # credibility-blended, per exposure hour
    own_expected_loss: float  # the rider's smoothed own expected loss, per exposure hour
    multiplier: float
    previous_multiplier: float | None
    credibility: float
    risk_score: float
    risk_band: RiskBand
    reasons: list[Reason]
    risk: RiskScores
    exposure_hours: float
    period_start: float
    period_end: float
    safe_riding_discount: float = 0.0
    inputs: dict[str, float | None] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)


def combined_probability(risk: RiskScores) -> float:
    """P(any event) = 1 - (1 - p_injury)(1 - p_accident), treating the two as independent.

    >>> combined_probability(RiskScores(injury=0.1, accident=0.2))
    0.28
    """
    return round(risk.any_event, 12)


#: Risk bands, lowest first.
_BANDS: tuple[RiskBand, ...] = (RiskBand.low, RiskBand.moderate, RiskBand.high, RiskBand.severe)


def risk_band(score: float, cuts: tuple[float, float, float]) -> RiskBand:
    """Band of a combined probability.

    >>> risk_band(0.02, (0.01, 0.03, 0.10)).value
    'moderate'
    """
    return _BANDS[sum(score >= c for c in cuts)]


def _reason(code: str, value: float, **extra: float) -> Reason:
    return Reason(code=code, value=value, text=reason_text(code, value, **extra))


def _is_safe_period(features: dict[str, float]) -> bool:
    # unknown is not safe: a discount needs evidence
    values = [features.get(name) for name in SAFE_RIDING_FEATURES]
    return all(v is not None and math.isfinite(float(v)) and float(v) == 0.0 for v in values)


class PremiumCalculator:
    """Turns calibrated risk into a premium multiplier against the class base premium.

    ``population`` (settable, e.g. on a model reload) is what the class mean and the bands
    are measured against; ``None`` uses the absolute values of the config.
    """

    def __init__(self, cfg: PremiumConfig | None = None, population: PopulationRisk | None = None) -> None:
        self.cfg = cfg or PremiumConfig()
        self.population = population

    @property
    def class_expected_loss_per_hour(self) -> float:
        """The class mean the multiplier divides by."""
        if self.population is None:
            return self.cfg.class_expected_loss_per_hour
        return self.population.expected_loss_per_hour(self.cfg.severity_injury, self.cfg.severity_accident)

    def band_cuts(self, conservative: bool = False) -> tuple[float, float, float]:
        """Risk-band cut points of the combined probability (absolute for rule-based scores)."""
        if self.population is None or conservative:
            return self.cfg.band_cuts
        moderate, high, severe = self.population.scaled(self.cfg.band_cuts_relative)
        return moderate, high, severe

    def update(
        self,
        state: PremiumState,
        risk: RiskScores,
        features: dict[str, float],
        exposure_hours: float,
        now: float,
        hold: bool = False,
    ) -> PremiumDecision:
        """Add ``exposure_hours`` at ``risk`` to ``state`` and return the new premium signal.

        ``hold`` (conservative mode): the exposure counts, but the multiplier and the smoothed
        expected loss stay as they were and the band does not fall.
        """
        cfg = self.cfg
        if not (math.isfinite(exposure_hours) and exposure_hours >= 0):
            raise ValueError(f"exposure_hours must be a finite number ≥ 0, got {exposure_hours}")
        class_loss = self.class_expected_loss_per_hour
        per_hour = 60.0 / risk.horizon_min
        loss_injury = risk.injury * cfg.severity_injury * per_hour
        loss_accident = risk.accident * cfg.severity_accident * per_hour
        own_now = loss_injury + loss_accident
        weight = 1.0 - 0.5 ** (exposure_hours / cfg.smoothing_halflife_h)
        prev_own = state.smoothed_expected_loss
        if hold:
            own = prev_own if prev_own is not None else class_loss
        else:
            own = own_now if prev_own is None else prev_own + weight * (own_now - prev_own)
        n = state.exposure_hours + exposure_hours
        z = n / (n + cfg.credibility_k_hours)
        blended = z * own + (1.0 - z) * class_loss
        safe = _is_safe_period(features)
        safe_share = state.safe_share if hold else state.safe_share + weight * ((1.0 if safe else 0.0) - state.safe_share)
        discount = cfg.safe_riding_max_discount * safe_share
        target = state.last_multiplier if hold else blended / class_loss * (1.0 - discount)

        if state.period_start is None or now - state.period_start >= cfg.pricing_period_s:
            period_start, base = float(now), state.last_multiplier
        else:
            period_start, base = state.period_start, state.period_start_multiplier
        capped = min(max(target, base * (1.0 - cfg.max_change)), base * (1.0 + cfg.max_change))
        final = min(max(capped, cfg.min_multiplier), cfg.max_multiplier)

        prev = state.last_multiplier
        move = final / prev - 1.0
        code = "RISK_UP" if move > cfg.stable_tolerance else "RISK_DOWN" if move < -cfg.stable_tolerance else "RISK_STABLE"
        reasons = [_reason("CONSERVATIVE_HOLD", final)] if hold else [_reason(code, move)]
        if own_now > 0 and not hold:
            main, share = (
                ("MAIN_DRIVER_ACCIDENT", loss_accident / own_now)
                if loss_accident >= loss_injury
                else ("MAIN_DRIVER_INJURY", loss_injury / own_now)
            )
            reasons.append(_reason(main, share))
        if z < cfg.low_credibility_z:
            reasons.append(_reason("LOW_CREDIBILITY", z))
        if discount >= 0.0005 and not hold:
            reasons.append(_reason("SAFE_RIDING_DISCOUNT", discount))
        if not math.isclose(capped, target, rel_tol=1e-12):
            reasons.append(_reason("CAP_APPLIED", target, cap_pct=cfg.max_change * 100))
        if not math.isclose(final, capped, rel_tol=1e-12):
            reasons.append(
                _reason("BOUND_APPLIED", capped, min_multiplier=cfg.min_multiplier, max_multiplier=cfg.max_multiplier)
            )

        score = combined_probability(risk)
        cuts = self.band_cuts(conservative=hold)
        band = risk_band(score, cuts)
        if hold and state.last_band is not None and _BANDS.index(RiskBand(state.last_band)) > _BANDS.index(band):
            band = RiskBand(state.last_band)  # a fallback scorer never lowers the band
        thresholds = {name: float(getattr(cfg, name)) for name in _PRICING_CONSTANTS}
        thresholds["class_expected_loss_per_hour"] = class_loss
        thresholds.update({f"band_cut_{b.value}": c for b, c in zip(_BANDS[1:], cuts)})
        if self.population is not None:
            thresholds["population_p_injury"] = self.population.injury
            thresholds["population_p_accident"] = self.population.accident
        inputs: dict[str, float | None] = {"p_injury": risk.injury, "p_accident": risk.accident, "exposure_hours": exposure_hours}
        for name in SAFE_RIDING_FEATURES:
            v = features.get(name)
            inputs[name] = float(v) if v is not None and math.isfinite(float(v)) else None
        decision = PremiumDecision(
            expected_loss=blended,
            own_expected_loss=own,
            multiplier=final,
            previous_multiplier=prev if state.last_period_end is not None else None,
            credibility=z,
            risk_score=score,
            risk_band=band,
            reasons=reasons,
            risk=risk,
            exposure_hours=n,
            period_start=state.last_period_end if state.last_period_end is not None else now - exposure_hours * 3600.0,
            period_end=float(now),
            safe_riding_discount=discount,
            inputs=inputs,
            thresholds=thresholds,
        )
        state.exposure_hours = n
        state.smoothed_expected_loss = own
        state.last_multiplier = final
        state.last_period_end = float(now)
        state.period_start, state.period_start_multiplier = period_start, base
        state.safe_share = safe_share
        state.last_band = band.value
        return decision


def should_publish(
    state: PremiumState, decision: PremiumDecision, now: float, cadence_s: float, material_change: float = 0.02
) -> bool:
    """Send to insurers on a cadence, or sooner on a material change of multiplier or band.

    >>> s = PremiumState(last_published_at=0.0, last_published_multiplier=1.00, last_published_band="low")
    >>> d = PremiumDecision(3.0, 3.0, 1.01, 1.0, 0.5, 0.001, RiskBand.low, [], RiskScores(injury=0, accident=0), 1, 0, 1)
    >>> should_publish(s, d, now=600, cadence_s=900), should_publish(s, d, now=900, cadence_s=900)
    (False, True)
    """
    if state.last_published_at is None or state.last_published_multiplier is None:
        return True
    if now - state.last_published_at >= cadence_s:
        return True
    if state.last_published_band != decision.risk_band.value:
        return True
    return abs(decision.multiplier / state.last_published_multiplier - 1.0) >= material_change
