"""riskstream: rider risk stream processor."""
