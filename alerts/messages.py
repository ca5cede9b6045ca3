"""Rider-facing texts: load ``templates/messages.json`` (package data) and render it.

The texts are data, not code, so a translator can edit them without touching the policy.
A missing or NaN number renders as "–" rather than "nan" or a crash.

>>> title, message = render_alert("heat", "warning",
...     {"heat_index_c": 35.4, "continuous_riding_h": 2.5, "break_min": 15})
>>> title["en"]
'Heat warning'
>>> message["en"]
'Heat index 35 °C: rest 15 min in the shade every hour of riding and drink water'
>>> reason_text("HEAVY_RAIN", 9.2)["zh-CN"]
'大雨 9 毫米/小时'
>>> reason_text("HEAT_INDEX_DANGER", float("nan"), 39.4)["en"]
'Heat index – °C (≥ 39.4 °C, danger)'
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
#: Reason texts joined with these into the ``{reasons}`` placeholder.
_JOINERS = {"zh-CN": "；", "en": "; "}


class _Missing:
    def __format__(self, spec: str) -> str:
        return MISSING


class _SafeFormatter(string.Formatter):
    """``str.format`` that renders unknown or non-finite values as :data:`MISSING`."""

    def get_value(self, key: int | str, args: Any, kwargs: Mapping[str, Any]) -> Any:
        value = kwargs.get(str(key)) if isinstance(key, str) else None
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return _Missing()
        return value


_FORMATTER = _SafeFormatter()


@cache
def load_messages() -> dict[str, Any]:
    """The parsed ``alerts/templates/messages.json`` (read once)."""
    text = files("alerts").joinpath("templates/messages.json").read_text(encoding="utf-8")
    return json.loads(text)


def alert_kinds() -> dict[str, tuple[str, ...]]:
    """Kind -> severities that have texts, e.g. ``{'fall': ('danger',), ...}``."""
    return {kind: tuple(by_sev) for kind, by_sev in load_messages()["alerts"].items()}


def placeholders(template: str) -> set[str]:
    """Names used in a template.

    >>> sorted(placeholders("Heat {heat_index_c:.0f} °C, {reasons}"))
    ['heat_index_c', 'reasons']
    """
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def render(template: str, values: Mapping[str, Any]) -> str:
    """Fill ``template`` from ``values``; missing or NaN numbers become "–"."""
    return _FORMATTER.vformat(template, (), values)


def reason_text(code: str, value: float | None, threshold: float | None = None, **extra: float) -> dict[str, str]:
    """Text of a reason code by locale, with its number (``value``) and threshold filled in.

    Derived placeholders: ``value_pct``/``threshold_pct`` (× 100) and ``value_h``/``threshold_h``
    (minutes → hours). An unknown code raises ``KeyError``: every code needs a text.
    """
    texts = load_messages()["reasons"][code]
    params: dict[str, Any] = dict(extra, value=value, threshold=threshold)
    for name, number in (("value", value), ("threshold", threshold)):
        if number is not None:
            params[f"{name}_pct"] = number * 100.0
            params[f"{name}_h"] = number / 60.0
    return {loc: render(texts[loc], params) for loc in LOCALES}


def render_alert(
    kind: str, severity: str, values: Mapping[str, Any], reasons: Mapping[str, list[str]] | None = None
) -> tuple[dict[str, str], dict[str, str]]:
    """Title and message by locale for an alert ``kind`` at ``severity``.

    ``reasons`` maps a locale to the reason texts; they fill the ``{reasons}`` placeholder.
    """
    spec = load_messages()["alerts"][kind][severity]
    title: dict[str, str] = {}
    message: dict[str, str] = {}
    for loc in LOCALES:
        params = dict(values)
        params["reasons"] = _JOINERS[loc].join((reasons or {}).get(loc, [])) or MISSING
        title[loc] = render(spec["title"][loc], params)
        message[loc] = render(spec["message"][loc], params)
    return title, message
