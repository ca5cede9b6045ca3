"""The one reason catalog: every reason code's plain text in zh-CN and en.

The texts are data (``reasons.json`` next to this module, package data), so a translator
can edit them without touching code, and each code has exactly one text: the feature
reasons of ``models/reasons.py``, the alert and premium reasons of ``alerts/`` and the
fall-escalation reasons of ``streams/escalation.py`` all render from here. A missing or
NaN number renders as "–" rather than "nan" or a crash.

>>> reason_text("HEAVY_RAIN", 9.2)["zh-CN"]
'大雨 9 毫米/小时'
>>> reason_text("HEAT_INDEX_DANGER", float("nan"), 39.4)["en"]
'Heat index – °C (≥ 39.4 °C, danger)'
>>> reason_text("HEAT_INDEX", 41.04)["en"]
'Heat index 41.0 °C'
>>> reason_text("DATA_MISSING", None, name="hr_mean_1m")["en"]
'No recent data for hr_mean_1m'
"""

from __future__ import annotations

import json
import math
import string
from collections.abc import Mapping
from functools import cache
from importlib.resources import files
from typing import Any

LOCALES: tuple[str, ...] = ("zh-CN", "en")
#: Shown in place of a number that is missing or not finite.
MISSING = "–"


class _Missing:
    def __format__(self, spec: str) -> str:
        return MISSING


class _SafeFormatter(string.Formatter):
    """``str.format`` that renders unknown or non-finite values as :data:`MISSING`.

    A ``d`` spec rounds a float to the nearest whole number (``{value:d}``: a count or a level).
    """

    def format_field(self, value: Any, format_spec: str) -> Any:
        if format_spec.endswith("d") and isinstance(value, float):
            value = round(value)
        return super().format_field(value, format_spec)

    def get_value(self, key: int | str, args: Any, kwargs: Mapping[str, Any]) -> Any:
        value = kwargs.get(str(key)) if isinstance(key, str) else None
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return _Missing()
        return value


_FORMATTER = _SafeFormatter()


def placeholders(template: str) -> set[str]:
    """Names used in a template.

    >>> sorted(placeholders("Heat {heat_index_c:.0f} °C, {reasons}"))
    ['heat_index_c', 'reasons']
    """
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def render(template: str, values: Mapping[str, Any]) -> str:
    """Fill ``template`` from ``values``; missing or NaN numbers become "–".

    >>> render("{a:.1f} / {b:.0f}", {"a": float("nan")})
    '– / –'
    >>> render("level {a:d} of 4", {"a": 2.0})
    'level 2 of 4'
    """
    return _FORMATTER.vformat(template, (), values)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ValueError(f"reasons.json: {', '.join(twice)} given more than once (one code, one text)")
    return dict(pairs)


def load_catalog_text(text: str) -> dict[str, dict[str, str]]:
    """Parse the catalog's JSON text; a code (or locale) given twice is an error, not a silent override.

    >>> load_catalog_text('{"reasons": {"A": {"en": "a"}, "A": {"en": "b"}}}')
    Traceback (most recent call last):
    ...
    ValueError: reasons.json: A given more than once (one code, one text)
    """
    return json.loads(text, object_pairs_hook=_no_duplicate_keys)["reasons"]


@cache
def reason_catalog() -> dict[str, dict[str, str]]:
    """Code -> text template by locale, from ``riskstream/contracts/reasons.json`` (read once)."""
    return load_catalog_text(files("riskstream.contracts").joinpath("reasons.json").read_text(encoding="utf-8"))


def reason_text(code: str, value: float | None, threshold: float | None = None, **extra: Any) -> dict[str, str]:
    """Text of a reason code by locale, with its number (``value``) and threshold filled in.

    Derived placeholders: ``value_pct``/``threshold_pct`` (× 100) and ``value_h``/``threshold_h``
    (minutes → hours). An unknown code raises ``KeyError``: every code needs a text.
    """
    texts = reason_catalog()[code]
    params: dict[str, Any] = dict(extra, value=value, threshold=threshold)
    for name, number in (("value", value), ("threshold", threshold)):
        if number is not None:
            params[f"{name}_pct"] = number * 100.0
            params[f"{name}_h"] = number / 60.0
    return {loc: render(texts[loc], params) for loc in LOCALES}
