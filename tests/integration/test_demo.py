"""`riskstream demo` (what `make demo` runs): the console's URL, a live summary, nothing left behind."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from riskstream.testing.workers import free_port

pytestmark = pytest.mark.integration


def test_demo_shows_the_console_and_a_live_summary_and_stops_cleanly(tmp_path) -> None:  # noqa: ANN001
    broker_port, metrics_port, console_port = free_port(), free_port(), free_port()
    env = {**os.environ, "RISKSTREAM_KAFKA__BROKER": f"127.0.0.1:{broker_port}",
           "RISKSTREAM_METRICS__PORT": str(metrics_port), "RISKSTREAM_CONSOLE__PORT": str(console_port)}
    out = subprocess.run(
        [sys.executable, "-m", "riskstream.cli.main", "demo", "--duration", "40", "--riders", "30"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240,
    )
    text = out.stdout
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"embedded broker (Tansu) on 127.0.0.1:{broker_port}" in text
    assert f"safety console on http://127.0.0.1:{console_port}/" in text
    live, _, summary = text.partition("=== summary ===")
    refreshes = live.count("--- riskstream demo, ")
    assert refreshes >= 2, text[-3000:]  # printed every 10 s when not on a terminal
    # one counting line per refresh for dead letters, never a line per dead letter
    assert live.count("dead letters") == refreshes, live[-3000:]
    assert "DLQ " not in text and "ALERT " not in text
    last = live[live.rindex("--- riskstream demo, "):]
    assert "heat index" in last.split("top zones")[1].splitlines()[0], last
    assert int(last.split("alerts         ")[1].split(":")[0].split()[0]) > 0, last
    assert "records processed" in summary and "premium signals" in summary
    alerts = int(summary.split("alerts")[1].split()[0])
    assert alerts > 0 and int(summary.split("premium signals")[1].split()[0]) > 0, summary
    assert "体感温度" in text or "请" in text, "the latest alert is shown in Chinese too"
    leftovers = subprocess.run(["pgrep", "-f", f"127.0.0.1:{broker_port}"], capture_output=True, text=True)
    assert leftovers.stdout.strip() == "", f"processes left behind: {leftovers.stdout}"
    assert (tmp_path / ".riskstream" / "demo" / "worker.log").exists()
