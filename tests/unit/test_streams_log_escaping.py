"""A record key or any other input in a log message cannot start a new log line or send terminal escapes."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams import safe_logging
from streams.processor import Processor, RawRecord
from streams.settings import Settings, WorkerSettings

FORGED = b"rider-7\n2026-07-15 02:00:00,000 ERROR streams.processor: FORGED line\x1b[2J"


@pytest.fixture
def installed() -> Iterator[None]:
    before = logging.getLogRecordFactory()
    safe_logging.install()
    try:
        yield
    finally:
        logging.setLogRecordFactory(before)


def test_a_key_with_a_newline_stays_on_its_log_line(installed: None, tmp_path: Path) -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("streams.processor")
    logger.addHandler(handler)
    try:
        proc = Processor(Settings(worker=WorkerSettings(state_dir=tmp_path)))
        proc.process_batch([RawRecord("telemetry.wearable", 3, 41, FORGED, b"{broken", 1.0)])
    finally:
        logger.removeHandler(handler)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("WARNING streams.processor: dead letter"), lines
    assert "telemetry.wearable[3]@41" in lines[0] and "rider-7\\n2026-07-15" in lines[0]
    assert "\x1b" not in lines[0] and "\\x1b[2J" in lines[0]


def test_escape() -> None:
    assert safe_logging.escape("a\r\nb\tc\u2028d\x85") == "a\\r\\nb\\tc\\u2028d\\x85"
    assert safe_logging.escape("zh-CN 请休息 ok") == "zh-CN 请休息 ok"


def test_the_cli_installs_it(tmp_path: Path) -> None:
    from riskstream.cli.main import main

    before = logging.getLogRecordFactory()
    try:
        assert main(["schemas", "--out", str(tmp_path)]) == 0
        assert logging.getLogRecordFactory() is safe_logging.OneLineRecord
    finally:
        logging.setLogRecordFactory(before)
