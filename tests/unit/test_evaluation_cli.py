"""The evaluation commands end to end on tiny fleets (in-process, no Kafka)."""

from __future__ import annotations

from pathlib import Path

import pytest

from riskstream.cli.main import main


def test_evaluate_alerts_writes_a_report_with_every_section(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISKSTREAM_WORKER__STATE_DIR", str(tmp_path / "state"))
    report = tmp_path / "alerts.md"
    args = ["evaluate-alerts", "--riders", "4", "--hours", "0.4", "--seeds", "1", "--scenario", "heatwave",
            "--compliance", "1.0"]
    assert main([*args, "--report", str(report), "--jobs", "2"]) == 0
    text = report.read_text()
    assert "## Scenario `heatwave`" in text and "alerts per rider-hour" in text
    assert "Closed loop at compliance 1" in text and "incident reduction" in text
    assert text in capsys.readouterr().out
    # the runs are independent and deterministic: one process gives the same report
    serial = tmp_path / "serial.md"
    assert main([*args, "--report", str(serial), "--jobs", "1"]) == 0
    assert serial.read_text() == text


def test_fairness_writes_report_and_plot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISKSTREAM_WORKER__STATE_DIR", str(tmp_path / "state"))
    report = tmp_path / "r" / "fairness.md"
    assert main(["fairness", "--riders", "6", "--hours", "0.4", "--report", str(report)]) == 0
    text = report.read_text()
    assert "## By sex" in text and "## By age_band" in text
    assert "Model features named like a protected attribute: none" in text
    assert (tmp_path / "r" / "fairness.png").read_bytes()[:4] == b"\x89PNG"
