"""`riskstream demo` (what `make demo` runs): alerts and premium signals on the console, nothing left behind."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from riskstream.testing.workers import free_port

pytestmark = pytest.mark.integration


def test_demo_shows_alerts_and_premium_signals_and_stops_cleanly(tmp_path) -> None:  # noqa: ANN001
    broker_port, metrics_port = free_port(), free_port()
    env = {**os.environ, "RISKSTREAM_KAFKA__BROKER": f"127.0.0.1:{broker_port}",
           "RISKSTREAM_METRICS__PORT": str(metrics_port)}
    out = subprocess.run(
        [sys.executable, "-m", "riskstream.cli.main", "demo", "--duration", "40", "--riders", "30"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240,
    )
    text = out.stdout
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"embedded broker (Tansu) on 127.0.0.1:{broker_port}" in text
    assert "ALERT" in text and "PREMIUM" in text, text[-3000:]
    assert "体感温度" in text or "请" in text, "alerts are shown in Chinese too"
    assert "=== summary ===" in text and "records processed" in text
    leftovers = subprocess.run(["pgrep", "-f", f"127.0.0.1:{broker_port}"], capture_output=True, text=True)
    assert leftovers.stdout.strip() == "", f"processes left behind: {leftovers.stdout}"
    assert (tmp_path / ".riskstream" / "demo" / "worker.log").exists()
