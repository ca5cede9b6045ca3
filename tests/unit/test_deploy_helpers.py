"""Shared checks of the files in deploy/: env names against the settings, metric names against the registry."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from streams import metrics
from streams.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SELECTOR = re.compile(r"\b(riskstream_[a-z0-9_]+)")


def settings_env_names() -> set[str]:
    """Every ``RISKSTREAM_SECTION__FIELD`` the settings read (one level of nesting)."""
    names = set()
    for section, field in Settings.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            names |= {f"RISKSTREAM_{section}__{sub}".upper() for sub in kind.model_fields}
        else:
            names.add(f"RISKSTREAM_{section}".upper())
    return names


def exported_names() -> set[str]:
    """Sample names the worker can export (histograms with _bucket/_sum/_count, counters with _total)."""
    names = set()
    for family in metrics.REGISTRY.collect():
        names.add(family.name)
        names |= {family.name + s for s in ("_total", "_bucket", "_sum", "_count")}
    return names


def metric_names(expr: str) -> set[str]:
    return set(SELECTOR.findall(expr))


def test_settings_env_names_cover_the_documented_variables() -> None:
    names = settings_env_names()
    for name in ("RISKSTREAM_KAFKA__BROKER", "RISKSTREAM_KAFKA__EMBEDDED", "RISKSTREAM_METRICS__HOST",
                 "RISKSTREAM_METRICS__PORT", "RISKSTREAM_PRIVACY__HMAC_KEY", "RISKSTREAM_WORKER__APP_ID"):
        assert name in names
    assert "RISKSTREAM_KAFKA__BROKERS" not in names


def test_metric_names_are_found_in_expressions() -> None:
    assert metric_names('sum by (le) (rate(riskstream_risk_score_bucket[5m])) > up{job="x"}') == {
        "riskstream_risk_score_bucket"}
    assert "riskstream_risk_score_bucket" in exported_names()
