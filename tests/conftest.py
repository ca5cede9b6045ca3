"""Shared fixtures: environment isolation for settings tests."""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Remove every RISKSTREAM_* variable for the test; monkeypatch restores them after."""
    for name in list(os.environ):
        if name.startswith("RISKSTREAM_"):
            monkeypatch.delenv(name)
    return monkeypatch
