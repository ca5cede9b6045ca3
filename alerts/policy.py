"""Rider alert policy: features and risk in, alert decisions with reason codes out.

Pure and synchronous; all time is event time (``now`` in epoch seconds). Per rider and
kind it applies hysteresis (enter/exit thresholds), a cooldown (no repeat of the same or a
lower severity within ``cooldown_s``; an escalation goes out at once), a reminder for a
condition that persists (:meth:`AlertConfig.repeat_after`; a dip and return within it is the
same episode; a heat alert also when the break it advised is overdue, ``heat_break_after_min``) and an hourly cap per rider on warnings. A suspected fall at danger level passes
cap and cooldown. A model-risk alert is held while a specific alert on the same risk, at least
as severe, was sent within ``model_risk_covered_s`` (it already said what to do). NaN or
missing inputs never raise or clear an alert.

On top of these, a per-rider **alert budget** (:class:`Budget`) keeps the alerts a rider gets
to about one per ``budget_online_hours_per_alert`` online hours: every alert sent spends one, online time
earns them back, and a warning or a reminder waits while less than one is left (``budget``).
It also waits while the model's risk that its advice lowers is below ``budget_min_risk_rr`` times the usual
(``low_risk``, :meth:`AlertPolicy.risk_ratio`): what a followed alert prevents grows with the risk the rider
is in, so the budget is kept for a riskier moment rather than spent on the first warning of the day.
A *first danger* (a danger of heat, strain, fatigue or weather not yet told in its episode) and a
fall question always go out and never wait for the budget; a model-risk danger, an estimate whose
advice is a rest after this order, waits like a warning. Warnings due at once compete for the budget: the
one whose advice lowers the highest model risk (:meth:`AlertPolicy.top_risk_ratio`) goes first, a break
before calmer riding at a tie (:func:`kind_rank_break`); a calmer-riding alert does not cover the model's
crash risk (:data:`CALM_ADVICE_KINDS`). Alerts of several kinds due in one evaluation go out as one message
(``merge_co_occurring``): the first leads, the others are named in it and count as told, and it spends one
alert; a fall question stays a message of its own. A rider who is not online (signed off or on a
break, ``online=False``) gets no warnings or reminders (``offline``), only first dangers and
fall questions.

>>> policy = AlertPolicy(AlertConfig())
>>> state = AlertState()
>>> [(d.kind, d.severity.value) for d in policy.evaluate(state, {"heat_index_c": 40.1}, None, now=0.0)]
[('heat', 'danger')]
>>> policy.evaluate(state, {"heat_index_c": 38.9}, None, now=60.0)   # still above the 38.3 exit: no repeat
[]
>>> state.level("heat").value
'danger'
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from alerts.config import AlertConfig
from alerts.messages import reason_text, render_alert, render_also
from alerts.reference import PopulationRisk
from alerts.signals import COVERED_BY, KINDS, MESSAGE_INPUTS, RANK, Signal, build_signals
from riskstream.contracts.records import Reason, RiskScores, Severity

#: Bound on remembered send times (the cap window normally holds far fewer).
_MAX_SENT_TIMES = 32
_CAP_WINDOW_S = 3600.0
#: Why an alert was held back (``Suppressed.why``; the ``reason`` label of ``riskstream_alerts_suppressed_total``).
SUPPRESSION_REASONS: tuple[str, ...] = ("cooldown", "hourly_cap", "covered", "budget", "offline", "low_risk")
#: Kinds whose first danger never waits for the budget: conditions the rider is in, whose danger text says stop
#: (pause, shelter, rest, go offline). A model-risk danger is an estimate whose advice is a rest after this order.
FIRST_DANGER_KINDS: frozenset[str] = frozenset({"heat", "strain", "fatigue", "weather"})
#: The model risks each kind's advice lowers: a break (heat, strain, fatigue, model risk) takes the rider off the road
#: and out of the effort, so it lowers both; calmer riding (a riding alert, a weather warning) lowers the accident risk.
ADVICE_LOWERS: dict[str, tuple[str, ...]] = {
    "heat": ("p_injury", "p_accident"), "strain": ("p_injury", "p_accident"), "fatigue": ("p_injury", "p_accident"),
    "model_risk": ("p_injury", "p_accident"), "weather": ("p_accident",), "riding": ("p_accident",),
}
#: Kinds whose advice (below danger) is calmer riding: the rider stays on the road. They do not cover the model's
#: crash risk, whose model-risk advice is a break, the one action that takes the crash risk off the road.
CALM_ADVICE_KINDS: frozenset[str] = frozenset({"riding", "weather"})
#: Kinds whose advice is a break (a weather danger: off the road); at one severity and risk they go first.
BREAK_ADVICE_KINDS: frozenset[str] = frozenset({"heat", "strain", "fatigue", "model_risk"})
#: A budget this close to one holds one alert (120 one-minute earnings sum to 0.999...).
_ONE_ALERT = 1.0 - 1e-9


def kind_rank_break(kind: str, level: Severity) -> int:
    """0 for an alert whose advice is a break or off the road (a weather danger), 1 for calmer riding.

    >>> kind_rank_break("model_risk", Severity.warning), kind_rank_break("weather", Severity.warning)
    (0, 1)
    >>> kind_rank_break("weather", Severity.danger)
    0
    """
    return 0 if kind in BREAK_ADVICE_KINDS or (kind == "weather" and level == Severity.danger) else 1


@dataclass(frozen=True, slots=True)
class Budget:
    """A rider's alert budget: a token bucket filled by online time, one token per alert sent.

    The balance starts full (``burst``), grows by ``per_hour`` for each online hour (a gap between
    two evaluations counts at most ``gap_max_s``, so time away is not earned), never above
    ``burst``, and drops by one for each alert sent, never below 0 (a danger can use it up, not put
    the rider in debt). A warning or a reminder needs a balance of at least one.

    >>> b = Budget(per_hour=0.5, burst=1.0, gap_max_s=300.0)
    >>> b.earn(1.0, seconds=1800.0)   # full stays full
    1.0
    >>> b.earn(0.0, seconds=240.0), b.earn(0.0, seconds=3 * 3600.0)   # 4 min online earn 1/30; a 3 h gap only 300 s
    (0.03333333333333333, 0.041666666666666664)
    """

    per_hour: float
    burst: float
    gap_max_s: float

    def earn(self, balance: float, seconds: float) -> float:
        """The balance after ``seconds`` online (at most ``gap_max_s`` of them count)."""
        return min(self.burst, balance + self.per_hour * min(max(0.0, seconds), self.gap_max_s) / 3600.0)


@dataclass(slots=True)
class AlertState:
    """Per-rider alert memory; small, bounded and JSON-safe through :meth:`to_dict`.

    ``active`` holds the severity of each signal (by feature) that is on, so hysteresis works
    per signal; a kind's level is the highest of its signals (:meth:`level`).
    ``notified`` is the severity already told in the current episode of a kind.
    """

    active: dict[str, str] = field(default_factory=dict)
    active_kind: dict[str, str] = field(default_factory=dict)
    notified: dict[str, str] = field(default_factory=dict)
    last_sent_at: dict[str, float] = field(default_factory=dict)
    last_sent_severity: dict[str, str] = field(default_factory=dict)
    sent_times: list[float] = field(default_factory=list)
    #: Alert budget left (None: a rider not seen yet, full) and the event time it was last brought up to date.
    budget: float | None = None
    budget_at: float | None = None

    def level(self, kind: str) -> Severity | None:
        """Active severity of an alert kind, or None."""
        value = self.active_kind.get(kind)
        return Severity(value) if value is not None else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "active": dict(self.active),
            "active_kind": dict(self.active_kind),
            "notified": dict(self.notified),
            "last_sent_at": dict(self.last_sent_at),
            "last_sent_severity": dict(self.last_sent_severity),
            "sent_times": list(self.sent_times),
            "budget": self.budget,
            "budget_at": self.budget_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AlertState:
        return cls(
            active=dict(data.get("active", {})),
            active_kind=dict(data.get("active_kind", {})),
            notified=dict(data.get("notified", {})),
            last_sent_at={k: float(v) for k, v in data.get("last_sent_at", {}).items()},
            last_sent_severity=dict(data.get("last_sent_severity", {})),
            sent_times=[float(t) for t in data.get("sent_times", [])][-_MAX_SENT_TIMES:],
            budget=None if data.get("budget") is None else float(data["budget"]),
            budget_at=None if data.get("budget_at") is None else float(data["budget_at"]),
        )


@dataclass(frozen=True)
class AlertDecision:
    """One alert to send, with everything needed for the push, the audit and the reasons."""

    kind: str
    severity: Severity
    reasons: list[Reason]
    values: dict[str, float | None]
    thresholds: dict[str, float]
    title: dict[str, str]
    message: dict[str, str]
    requires_response: bool = False
    escalation: bool = False


@dataclass(frozen=True)
class Suppressed:
    """An alert the policy wanted but held back, and why (one of :data:`SUPPRESSION_REASONS`)."""

    kind: str
    severity: Severity
    why: str
    reasons: list[Reason]
    values: dict[str, float | None] = field(default_factory=dict)


def _num(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]  # any value: what float() refuses is caught below
    except (TypeError, ValueError):
        return math.nan


def _clean(value: float) -> float | None:
    return value if math.isfinite(value) else None


class AlertPolicy:
    """Decides which alerts a rider gets now. One instance serves all riders.

    With a ``population`` (settable, e.g. on a model reload) model-risk thresholds are
    multiples of the population's probabilities; :meth:`evaluate` with ``relative=False``
    (rule-based scores of the conservative mode) uses the absolute ones.
    """

    def __init__(self, cfg: AlertConfig | None = None, population: PopulationRisk | None = None) -> None:
        self.cfg = cfg or AlertConfig()
        self.signals: tuple[Signal, ...] = build_signals(self.cfg)
        self._relative_signals: tuple[Signal, ...] | None = None
        self.population = population
        #: Alerts held back by the last :meth:`evaluate` call (for audit).
        self.last_suppressed: list[Suppressed] = []
        #: Held-back alerts since start, by why (for metrics).
        self.suppressed_counts: Counter[str] = Counter()

    @property
    def population(self) -> PopulationRisk | None:
        """What model-risk thresholds are relative to (None: absolute thresholds)."""
        return self._population

    @population.setter
    def population(self, population: PopulationRisk | None) -> None:
        self._population = population
        self._relative_signals = build_signals(self.cfg, population) if population is not None else None

    def evaluate(
        self,
        state: AlertState,
        features: dict[str, float],
        risk: RiskScores | None,
        now: float,
        relative: bool = True,
        online: bool = True,
    ) -> list[AlertDecision]:
        """Update ``state`` with this evaluation and return the alerts to send now.

        ``relative=False`` judges ``risk`` by the absolute thresholds (scores not calibrated
        to the population, such as the rule-based fallback's). ``online=False`` (the rider is
        signed off or on a break at ``now``) holds warnings and reminders and earns no budget.
        """
        values = {k: _num(v) for k, v in features.items()}
        if risk is not None:
            values["p_injury"], values["p_accident"] = risk.injury, risk.accident
        self.last_suppressed = []
        signals = self._relative_signals if relative and self._relative_signals is not None else self.signals
        self._usual = self._usual_risk(relative and self._relative_signals is not None,
                                       float(risk.horizon_min) if risk is not None else 60.0)
        self._online = online
        self._bring_budget_up_to(state, now, online)

        fired: dict[str, list[tuple[Signal, Severity, float]]] = {}
        for sig in signals:
            before = state.active.get(sig.feature)
            x = values.get(sig.feature, math.nan)
            level = sig.level(x, Severity(before) if before else None)
            if level is None:
                state.active.pop(sig.feature, None)
            else:
                state.active[sig.feature] = level.value
                fired.setdefault(sig.kind, []).append((sig, level, x))

        decisions: list[AlertDecision] = []
        spent_before = (state.budget, list(state.sent_times))
        kinds = sorted({s.kind for s in signals}, key=KINDS.index)
        levels = {k: max((lv for _, lv, _ in fired.get(k, [])), key=RANK.__getitem__, default=None) for k in kinds}
        # danger first, so the most urgent alert gets a slot under the cap; at one severity the kind whose advice
        # lowers the highest model risk first, then a break before calmer riding: it gets the budget (they compete)
        for kind in sorted(kinds, key=lambda k: (-RANK[lv], -min(self.top_risk_ratio(k, values), 1e9),
                                                 kind_rank_break(k, lv)) if (lv := levels[k]) else (1, 0.0, 0)):
            level = levels[kind]
            if level is None:
                state.active_kind.pop(kind, None)
                state.notified.pop(kind, None)
                continue
            state.active_kind[kind] = level.value
            decision = self._decide(state, kind, level, fired[kind], values, now)
            if decision is not None:
                decisions.append(decision)
        if self.cfg.merge_co_occurring:
            decisions = self._merge(state, decisions, now, spent_before)
        return decisions

    def _merge(self, state: AlertState, decisions: list[AlertDecision], now: float,
               spent_before: tuple[float | None, list[float]]) -> list[AlertDecision]:
        """One message for the alerts of several kinds due now: the first (most severe, then the highest
        risk its advice lowers) leads and names the others, which count as told; a fall question stays apart.

        The others were sent as far as the state knows (told, last sent), so they are not repeated; the
        budget and the hourly cap count one message (``spent_before``: both before this evaluation's alerts).
        """
        falls = [d for d in decisions if d.requires_response]
        rest = [d for d in decisions if not d.requires_response]
        if len(rest) < 2:
            return decisions
        lead, others = rest[0], rest[1:]
        budget, sent_times = spent_before
        state.sent_times = [t for t in sent_times if now - t < _CAP_WINDOW_S][-_MAX_SENT_TIMES + 1:] + [float(now)]
        state.budget = None if budget is None else max(0.0, budget - 1.0)
        codes = {r.code for r in lead.reasons}
        reasons = list(lead.reasons) + [r for d in others for r in d.reasons if r.code not in codes]
        message = {loc: render_also(lead.message[loc], [d.title[loc] for d in others], loc) for loc in lead.message}
        merged = AlertDecision(
            kind=lead.kind, severity=lead.severity, reasons=reasons,
            values={**{k: v for d in others for k, v in d.values.items()}, **lead.values},
            thresholds={**{k: v for d in others for k, v in d.thresholds.items()}, **lead.thresholds},
            title=lead.title, message=message, requires_response=False,
            escalation=lead.escalation or any(d.escalation for d in others),
        )
        return falls + [merged]

    def _decide(
        self,
        state: AlertState,
        kind: str,
        level: Severity,
        fired: list[tuple[Signal, Severity, float]],
        values: dict[str, float],
        now: float,
    ) -> AlertDecision | None:
        cfg = self.cfg
        told = state.notified.get(kind)
        last_at = state.last_sent_at.get(kind)
        if told is not None and RANK[level] < RANK[Severity(told)] and (
            last_at is None or now - last_at >= cfg.repeat_after(kind, told)
        ):
            # eased long enough after the last alert: a later rise is news again (a dip and
            # return within the reminder interval is the same episode, so a hovering value is quiet)
            state.notified[kind] = told = level.value
        last_sev = state.last_sent_severity.get(kind)
        new = told is None or RANK[level] > RANK[Severity(told)]
        reminder = not new and last_at is not None and (
            now - last_at >= cfg.repeat_after(kind, level.value) or self._heat_break_due(kind, values, now - last_at))
        if not (new or reminder):
            return None

        reasons, thresholds = self._reasons(fired, level, getattr(self, "_usual", None))
        escalation = last_sev is not None and RANK[level] > RANK[Severity(last_sev)]
        exempt = kind == "fall" and level == Severity.danger and cfg.fall_danger_bypasses_limits
        # a danger of a condition the rider is in, not yet told in this episode, is news that must not wait;
        # warnings, reminders and the model's estimate (its advice: a rest after this order) can
        first_danger = new and level == Severity.danger and kind in FIRST_DANGER_KINDS
        why = None
        if not getattr(self, "_online", True) and not (exempt or first_danger):
            why = "offline"
        elif last_at is not None and now - last_at < cfg.cooldown_s and not (escalation or exempt):
            why = "cooldown"
        elif kind == "model_risk" and self._covered(state, fired, level, now):
            why = "covered"
        else:
            state.sent_times = [t for t in state.sent_times if now - t < _CAP_WINDOW_S][-_MAX_SENT_TIMES:]
            uncapped = exempt or (level == Severity.danger and cfg.danger_bypasses_cap)
            if len(state.sent_times) >= cfg.max_alerts_per_hour and not uncapped:
                why = "hourly_cap"
            elif cfg.budget_enabled and not (exempt or first_danger):
                if (state.budget or 0.0) < _ONE_ALERT:
                    why = "budget"
                elif self.risk_ratio(kind, values) < cfg.budget_min_risk_rr:
                    why = "low_risk"
        if why is not None:
            seen = {sig.feature: _clean(x) for sig, _, x in fired}
            self.last_suppressed.append(Suppressed(kind, level, why, reasons, seen))
            self.suppressed_counts[why] += 1
            return None

        state.notified[kind] = level.value
        state.last_sent_at[kind] = float(now)
        state.last_sent_severity[kind] = level.value
        if not exempt:  # a fall prompt is outside the cap and the budget and does not use up their slots
            state.sent_times.append(float(now))
            if state.budget is not None:
                state.budget = max(0.0, state.budget - 1.0)
        return self._build(kind, level, reasons, thresholds, fired, values, escalation)

    def risk_ratio(self, kind: str, values: dict[str, float]) -> float:
        """The model's risk that ``kind``'s advice lowers, as a multiple of the usual (:data:`ADVICE_LOWERS`).

        What a followed alert prevents grows with the risk the rider is in while following it, so a
        budgeted alert is worth its token when this is high. The usual is the population's
        probability (relative mode) or the absolute warning line over the warning multiple, as in
        the rider's text. No estimate (no risk scored, NaN) gives ``inf``: the budget alone decides.

        >>> policy = AlertPolicy(AlertConfig())   # no population: usual = 0.10 / 3 for each target
        >>> _ = policy.evaluate(AlertState(), {}, RiskScores(injury=0.05, accident=0.15, horizon_min=60), now=0.0)
        >>> round(policy.risk_ratio("heat", {"p_injury": 0.05, "p_accident": 0.15}), 2)   # (0.05 + 0.15) / (2 × 0.10 / 3)
        3.0
        >>> round(policy.risk_ratio("riding", {"p_injury": 0.05, "p_accident": 0.15}), 2), policy.risk_ratio("heat", {})
        (4.5, inf)
        """
        targets = ADVICE_LOWERS.get(kind, ())
        usual = getattr(self, "_usual", None) or self._usual_risk(False, 60.0)
        p = sum(values.get(t, math.nan) for t in targets)
        base = sum(float(usual["usual"][t]) for t in targets)
        return p / base if targets and math.isfinite(p) and base > 0 else math.inf

    def top_risk_ratio(self, kind: str, values: dict[str, float]) -> float:
        """The highest of the model's risks that ``kind``'s advice lowers, each as a multiple of its usual
        (``inf`` without an estimate): what the alerts due at once compete on for the budget.

        >>> policy = AlertPolicy(AlertConfig())   # no population: usual = 0.10 / 3 for each target
        >>> v = {"p_injury": 0.02, "p_accident": 0.15}
        >>> round(policy.top_risk_ratio("heat", v), 2), round(policy.top_risk_ratio("weather", v), 2)
        (4.5, 4.5)
        """
        usual = getattr(self, "_usual", None) or self._usual_risk(False, 60.0)
        ratios = [values.get(t, math.nan) / float(usual["usual"][t]) for t in ADVICE_LOWERS.get(kind, ())
                  if float(usual["usual"][t]) > 0]
        finite = [r for r in ratios if math.isfinite(r)]
        return max(finite) if finite else math.inf

    def _heat_break_due(self, kind: str, values: dict[str, float], since_last_s: float) -> bool:
        """A heat alert is on and the rider rode ``heat_break_after_min`` without the break it advised.

        Heat illness builds up with time worked in the heat (it grows with continuous riding), so the
        reminder comes when the advised break ("rest 15 min every hour of riding") is overdue, not on
        a clock of its own.
        """
        after = self.cfg.heat_break_after_min
        riding = values.get("continuous_riding_min", math.nan)
        return kind == "heat" and after > 0 and since_last_s >= after * 60.0 and riding >= after

    def _bring_budget_up_to(self, state: AlertState, now: float, online: bool) -> None:
        """Earn the budget for the online time since the last evaluation (a new rider starts full)."""
        c = self.cfg
        budget = Budget(1.0 / c.budget_online_hours_per_alert, c.budget_burst, c.budget_gap_max_s)
        if state.budget is None:
            state.budget = budget.burst
        elif online and state.budget_at is not None:
            state.budget = budget.earn(state.budget, now - state.budget_at)
        state.budget_at = float(now) if state.budget_at is None else max(state.budget_at, float(now))

    def _covered(self, state: AlertState, fired: list[tuple[Signal, Severity, float]], level: Severity,
                 now: float) -> bool:
        """Every model-risk signal that is on was just addressed by a specific alert at least as severe."""
        window = self.cfg.model_risk_covered_s

        def recent(kind: str, feature: str) -> bool:
            at, sev = state.last_sent_at.get(kind), state.last_sent_severity.get(kind)
            if feature == "p_accident" and kind in CALM_ADVICE_KINDS and sev != Severity.danger.value:
                return False  # "ride slower" leaves the rider on the road: the model's break advice is still news
            return at is not None and now - at < window and sev is not None and RANK[Severity(sev)] >= RANK[level]

        return window > 0 and all(any(recent(k, sig.feature) for k in COVERED_BY.get(sig.feature, ()))
                                  for sig, _, _ in fired)

    def _usual_risk(self, relative: bool, horizon_min: float) -> dict[str, Any]:
        """What a model risk is compared with in a rider's text: the population's probability (relative mode),
        else the absolute warning threshold over the warning multiple; and the horizon.

        Riders read "about 3× your usual crash risk in the next 60 min", never a probability: the
        model's probabilities are of a simulated world whose rates are far above real ones.
        """
        c = self.cfg
        if relative and self._population is not None:
            usual = {"p_injury": self._population.injury, "p_accident": self._population.accident}
        else:
            usual = {"p_injury": c.injury_warning_p / c.model_risk_warning_rr,
                     "p_accident": c.accident_warning_p / c.model_risk_warning_rr}
        rr = self._population.relative_risk if relative and self._population is not None else None
        return {"usual": usual, "horizon_min": horizon_min, "relative_risk": rr}

    @staticmethod
    def _reasons(fired: list[tuple[Signal, Severity, float]], level: Severity, usual: dict[str, Any] | None = None
                 ) -> tuple[list[Reason], dict[str, float]]:
        reasons: list[Reason] = []
        thresholds: dict[str, float] = {}
        # most severe signals first; all signals that are on are reasons
        for sig, lv, x in sorted(fired, key=lambda f: -RANK[f[1]]):
            rule = sig.rule(lv)
            value = _clean(x)
            # a signal held on by hysteresis is past its exit line, not its enter line: the text states the
            # line the value is past, never one it is below ("Heat index 31.5 °C (≥ 31.1 °C)", not "≥ 32.2")
            shown = rule.enter if value is None or sig.past(value, rule.enter) else rule.exit
            extra: dict[str, Any] = {}
            if usual is not None and sig.feature in usual["usual"] and value is not None:
                rr = usual.get("relative_risk")  # what the scorer's high scores came to, where the card shows it
                extra = {"rr": rr(sig.feature[2:], value) if rr else value / usual["usual"][sig.feature],
                         "horizon_min": usual["horizon_min"]}
            reasons.append(Reason(code=rule.code, value=value, text=reason_text(rule.code, value, shown, **extra)))
            thresholds[f"{sig.feature}.{lv.value}.enter"] = rule.enter
            thresholds[f"{sig.feature}.{lv.value}.exit"] = rule.exit
        return reasons, thresholds

    def _build(
        self,
        kind: str,
        level: Severity,
        reasons: list[Reason],
        thresholds: dict[str, float],
        fired: list[tuple[Signal, Severity, float]],
        values: dict[str, float],
        escalation: bool,
    ) -> AlertDecision:
        used = {s.feature for s in self.signals if s.kind == kind} | set(MESSAGE_INPUTS.get(kind, ()))
        used_values = {name: _clean(values.get(name, math.nan)) for name in sorted(used)}
        params: dict[str, Any] = dict(used_values, break_min=self.cfg.break_minutes)
        if (minutes := used_values.get("continuous_riding_min")) is not None:
            params["continuous_riding_h"] = minutes / 60.0
        # the message leads with the reasons at the alert's own severity
        top = [r for r, (_, lv, _) in zip(reasons, sorted(fired, key=lambda f: -RANK[f[1]])) if lv == level]
        by_locale = {loc: [r.text[loc] for r in top] for loc in ("zh-CN", "en")}
        title, message = render_alert(kind, level.value, params, by_locale)
        return AlertDecision(
            kind=kind,
            severity=level,
            reasons=reasons,
            values=used_values,
            thresholds=thresholds,
            title=title,
            message=message,
            requires_response=kind == "fall",
            escalation=escalation,
        )
