"""One exception base for the project; bad-input errors are also ``ValueError``."""

from __future__ import annotations


class RiskstreamError(Exception):
    """Base of every error riskstream raises on purpose."""


class ConfigError(RiskstreamError):
    """A setting is wrong; the message says which and what to do."""


class BrokerError(RiskstreamError):
    """The Kafka broker cannot be started or reached."""


class InputError(RiskstreamError, ValueError):
    """A record cannot be processed. ``error_class`` is a short stable label for metrics."""

    def __init__(self, error_class: str, reason: str) -> None:
        super().__init__(reason)
        self.error_class = error_class
        self.reason = reason
