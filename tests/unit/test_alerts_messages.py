"""Message templates: complete in both languages, every placeholder renders, every reason has text."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

import pytest

from alerts.config import AlertConfig
from alerts.messages import LOCALES, MISSING, alert_kinds, load_messages, placeholders, reason_text, render, render_alert
from alerts.signals import KINDS, MESSAGE_INPUTS, MODEL_FEATURES, build_signals
from features.catalog import FEATURE_NAMES
from riskstream.contracts.reasons import reason_catalog

ALERTS_DIR = Path(__file__).resolve().parents[2] / "alerts"
#: Derived values the policy adds for messages and reasons.
DERIVED = {"reasons", "break_min", "continuous_riding_h", "value", "threshold", "value_pct", "threshold_pct",
           "value_h", "threshold_h", "cap_pct", "min_multiplier", "max_multiplier"}
SAMPLE = {name: 12.345 for name in (*FEATURE_NAMES, *MODEL_FEATURES, *DERIVED)}


def _signal_pairs() -> set[tuple[str, str]]:
    signals = build_signals(AlertConfig())
    return {(s.kind, r.severity.value) for s in signals for r in s.rules}


def test_templates_are_package_data() -> None:
    assert files("alerts").joinpath("templates/messages.json").is_file()


def test_every_kind_and_severity_the_policy_can_raise_has_texts() -> None:
    have = {(k, sev) for k, sevs in alert_kinds().items() for sev in sevs}
    assert _signal_pairs() <= have
    assert set(alert_kinds()) == set(KINDS)


@pytest.mark.parametrize("kind,severity", sorted(_signal_pairs()))
def test_both_languages_and_every_placeholder_renders(kind: str, severity: str) -> None:
    spec = load_messages()["alerts"][kind][severity]
    for part in ("title", "message"):
        assert set(spec[part]) == set(LOCALES)
        for loc in LOCALES:
            names = placeholders(spec[part][loc])
            assert names <= set(SAMPLE), f"{kind}/{severity}/{part}/{loc} uses unknown {names - set(SAMPLE)}"
    title, message = render_alert(kind, severity, SAMPLE, {loc: ["R"] for loc in LOCALES})
    for loc in LOCALES:
        assert title[loc] and message[loc]
        assert "{" not in message[loc] and MISSING not in message[loc]
        assert len(message[loc]) <= 200  # short enough for a push notification


def test_message_inputs_cover_the_placeholders_the_policy_fills() -> None:
    signals = build_signals(AlertConfig())
    for kind, sevs in alert_kinds().items():
        provided = {s.feature for s in signals if s.kind == kind} | set(MESSAGE_INPUTS.get(kind, ())) | DERIVED
        for sev in sevs:
            for loc in LOCALES:
                used = placeholders(load_messages()["alerts"][kind][sev]["message"][loc])
                assert used <= provided, f"{kind}/{sev}: {used - provided} would render as '{MISSING}'"


def test_every_reason_code_used_in_code_has_texts_in_both_languages() -> None:
    reasons = reason_catalog()
    codes = {r.code for s in build_signals(AlertConfig()) for r in s.rules}
    source = (ALERTS_DIR / "premium.py").read_text(encoding="utf-8")
    codes |= set(re.findall(r'"((?:RISK|MAIN_DRIVER|CAP|BOUND|LOW|SAFE|CONSERVATIVE)_[A-Z_]+)"', source))
    assert codes <= set(reasons)
    for code in codes:
        texts = reasons[code]
        assert set(texts) == set(LOCALES), code
        for loc in LOCALES:
            rendered = reason_text(code, 0.25, 0.5, cap_pct=10, min_multiplier=0.7, max_multiplier=1.5, rr=2.0,
                                   horizon_min=60)[loc]
            assert "{" not in rendered and MISSING not in rendered, (code, loc, rendered)


def test_alert_texts_hold_no_reason_texts_of_their_own() -> None:
    # reason texts live in the one catalog (riskstream/contracts/reasons.json), not beside the alert texts
    assert "reasons" not in load_messages()


def test_missing_numbers_render_as_dash_not_nan() -> None:
    assert render("{a:.1f} / {b:.0f}", {"a": float("nan")}) == f"{MISSING} / {MISSING}"


def test_every_message_says_what_to_do() -> None:
    # an instruction verb in each locale, not only the danger
    verbs = {"en": re.compile(r"\b(rest|slow|stop|pause|take|tap|finish|ride|keep)\b", re.I),
             "zh-CN": re.compile("请")}
    for kind, sevs in alert_kinds().items():
        for sev in sevs:
            for loc in LOCALES:
                text = load_messages()["alerts"][kind][sev]["message"][loc]
                assert verbs[loc].search(text), (kind, sev, loc)
