"""`riskstream broker --help` says what a restart of the embedded broker does (issue 12, finding 5)."""

from __future__ import annotations

from typing import Any

import pytest


def test_the_broker_command_says_it_keeps_nothing_on_disk(capsys: Any) -> None:
    from riskstream.cli.main import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["broker", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "in memory only" in text and "restart" in text
