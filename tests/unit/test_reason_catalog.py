"""The one reason catalog: every code used anywhere has both texts, and no code has two."""

from __future__ import annotations

import ast
import re
from importlib.resources import files
from pathlib import Path

import pytest

from alerts.config import AlertConfig
from alerts.signals import build_signals
from features.catalog import FEATURE_NAMES
from models.reasons import MISSING_CODE, MISSING_CODE_BY_SOURCE, REASON_CODES, reason_for
from riskstream.contracts.reasons import LOCALES, MISSING, load_catalog_text, reason_catalog, reason_text
from streams.escalation import ANSWERED_OK_CODE, ESCALATION_CODES

ROOT = Path(__file__).resolve().parents[2]
CJK = re.compile(r"[\u4e00-\u9fff]")


def _code_strings(path: Path) -> list[str]:
    """String literals of a module, docstrings (and their doctests) left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body
            and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs]


def _model_codes() -> set[str]:
    return set(REASON_CODES.values()) | {MISSING_CODE, *MISSING_CODE_BY_SOURCE.values()}


def _alert_codes() -> set[str]:
    return {r.code for s in build_signals(AlertConfig()) for r in s.rules}


def _premium_codes() -> set[str]:
    source = (ROOT / "alerts" / "premium.py").read_text(encoding="utf-8")
    return set(re.findall(r'"((?:RISK|MAIN_DRIVER|CAP|BOUND|LOW|SAFE|CONSERVATIVE)_[A-Z_]+)"', source))


def _escalation_codes() -> set[str]:
    return {*ESCALATION_CODES.values(), ANSWERED_OK_CODE}


def _used_codes() -> set[str]:
    return _model_codes() | _alert_codes() | _premium_codes() | _escalation_codes()


def test_catalog_is_package_data_of_the_floor() -> None:
    assert files("riskstream.contracts").joinpath("reasons.json").is_file()


def test_every_code_used_has_a_text_in_both_languages() -> None:
    catalog = reason_catalog()
    assert _used_codes() - set(catalog) == set()
    for code in _used_codes():
        assert set(catalog[code]) == set(LOCALES), code
        assert all(catalog[code][loc].strip() for loc in LOCALES), code
        for loc in LOCALES:
            text = reason_text(code, 0.25, 0.5, name="x", cap_pct=10, min_multiplier=0.7, max_multiplier=1.5,
                               rr=2.0, horizon_min=60)[loc]
            assert "{" not in text and MISSING not in text, (code, loc, text)


def test_every_text_in_the_catalog_is_used() -> None:
    assert set(reason_catalog()) - _used_codes() == set()


def test_zh_texts_are_chinese_and_en_texts_are_not() -> None:
    for code, texts in reason_catalog().items():
        assert CJK.search(texts["zh-CN"]), code
        assert not CJK.search(texts["en"]), code


def test_no_code_has_two_texts() -> None:
    # in the file: a code given twice is an error, not a silent last-one-wins
    text = files("riskstream.contracts").joinpath("reasons.json").read_text(encoding="utf-8")
    assert len(load_catalog_text(text)) == len(re.findall(r'^\s*"[A-Z0-9_]+": \{', text, re.MULTILINE))
    with pytest.raises(ValueError, match="HEAT_INDEX given more than once"):
        load_catalog_text('{"reasons": {"HEAT_INDEX": {"en": "a"}, "HEAT_INDEX": {"en": "b"}}}')
    # nowhere else: neither the alert texts nor the code carry reason texts of their own
    assert '"reasons"' not in (ROOT / "alerts" / "templates" / "messages.json").read_text(encoding="utf-8")
    for module in ("models/reasons.py", "alerts/messages.py", "alerts/policy.py", "alerts/premium.py", "alerts/signals.py",
                   "streams/escalation.py"):
        assert not [s for s in _code_strings(ROOT / module) if CJK.search(s)], module


@pytest.mark.parametrize("code", sorted(_model_codes() & (_alert_codes() | _premium_codes())))
def test_a_code_shared_by_a_feature_reason_and_an_alert_reason_reads_the_same(code: str) -> None:
    feature = next(f for f, c in REASON_CODES.items() if c == code)
    threshold = next(r.enter for s in build_signals(AlertConfig()) for r in s.rules if r.code == code)
    for value in (1.0, 3.0, 42.0):
        assert reason_for(feature, value).text == reason_text(code, value, threshold), (code, value)


def test_the_texts_chosen_where_the_two_catalogs_disagreed() -> None:
    # issue 13: models/reasons.py and alerts/templates/messages.json had two texts for these codes
    assert reason_text("CN_HEAT_40", 1.0)["en"] == "Daily maximum ≥ 40 °C: stop outdoor work"
    assert reason_text("CN_HEAT_40", 1.0)["zh-CN"] == "日最高气温≥40°C：应停止户外作业"
    assert reason_text("RAIN_ONSET", 1.0)["en"] == "First rain after a dry spell: roads are at their most slippery"
    assert reason_text("RAIN_ONSET", 1.0)["zh-CN"] == "久晴后刚下雨，路面最滑"
    assert reason_text("ROAD_FLOODING", 1.0) == {"zh-CN": "所在区域道路积水", "en": "Flooded roads in your area"}
    assert reason_text("SPEEDING", 12.0)["en"] == "12 s over the speed limit in 10 min"
    assert reason_text("FALL_SUSPECTED", 1.0)["en"] == "Impact followed by stillness: possible fall"


@pytest.mark.parametrize("feature", FEATURE_NAMES)
def test_feature_reasons_render_from_the_catalog(feature: str) -> None:
    r = reason_for(feature, 2.0)
    assert r.text == reason_text(REASON_CODES[feature], 2.0)


def test_whole_number_spec_rounds_like_before() -> None:
    assert reason_for("heat_category", 2.0).text["en"] == "Heat danger level 2 of 4"
    assert reason_for("heat_category", -0.3).text["en"] == "Heat danger level 0 of 4"
