"""Rider-facing alert texts: load ``templates/messages.json`` (package data) and render it.

The texts are data, not code, so a translator can edit them without touching the policy.
Reason texts are not here: they live in the one reason catalog,
:mod:`riskstream.contracts.reasons` (``reasons.json``), shared with ``models/reasons.py``;
:func:`reason_text`, :func:`render` and :func:`placeholders` are re-exported from there.
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
from collections.abc import Mapping
from functools import cache
from importlib.resources import files
from typing import Any

from riskstream.contracts.reasons import LOCALES, MISSING, placeholders, reason_text, render

__all__ = ["LOCALES", "MISSING", "alert_kinds", "load_messages", "placeholders", "reason_text", "render", "render_alert",
           "render_also"]

#: Reason texts joined with these into the ``{reasons}`` placeholder.
_JOINERS = {"zh-CN": "；", "en": "; "}


@cache
def load_messages() -> dict[str, Any]:
    """The parsed ``alerts/templates/messages.json`` (read once)."""
    text = files("alerts").joinpath("templates/messages.json").read_text(encoding="utf-8")
    return json.loads(text)


def alert_kinds() -> dict[str, tuple[str, ...]]:
    """Kind -> severities that have texts, e.g. ``{'fall': ('danger',), ...}``."""
    return {kind: tuple(by_sev) for kind, by_sev in load_messages()["alerts"].items()}


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


def render_also(message: str, titles: list[str], locale: str) -> str:
    """``message`` followed by the titles of the alerts it stands for too (one message for co-occurring risks).

    >>> render_also("Heat index 41 °C: stop and rest", ["Heavy rain: ride slower"], "en")
    'Heat index 41 °C: stop and rest. Also: Heavy rain: ride slower'
    >>> render_also("高温", ["大雨"], "zh-CN"), render_also("Heat", [], "en")
    ('高温。另外：大雨', 'Heat')
    """
    if not titles:
        return message
    return render(load_messages()["also"][locale], {"message": message, "titles": _JOINERS[locale].join(titles)})
