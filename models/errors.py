"""Errors raised by the model layer, under the project's one base :class:`RiskstreamError`."""

from __future__ import annotations

from riskstream.contracts.errors import RiskstreamError


class ModelError(RiskstreamError):
    """Something went wrong in the model layer (loading, scoring, training)."""


class ModelLoadError(ModelError):
    """A model artifact is missing, incomplete or corrupt; the message says which file and what to do."""


class ScoringError(ModelError, ValueError):
    """A model could not score a batch (bad shape, model failure); callers fall back to rules."""
