"""The insurer quickstart (docs/insurer.md): its consumer reads a real worker's insurer records and validates them."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from riskstream.testing.workers import free_port, read_topic, scrape, start_worker, wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CONSUMER = ROOT / "docs" / "examples" / "insurer_consumer.py"
ROLES = ("wearable", "trip", "weather", "incidents", "responses", "alerts", "escalations", "risk_scores", "audit",
         "dlq")
N = 3


def test_the_example_consumer_validates_and_prints_the_workers_insurer_records(
    broker: Any, tmp_path: Path
) -> None:
    from riskstream.cli.producer import produce as produce_records
    from riskstream.simulation import FleetSimulator, SimConfig
    from streams.settings import Settings
    from streams.topics import ensure_topics

    tag = uuid.uuid4().hex[:6]
    topics = {role: f"{tag}.{role}" for role in ROLES}
    port = free_port()
    env = {
        "RISKSTREAM_KAFKA__BROKER": broker.url,
        "RISKSTREAM_METRICS__PORT": str(port),
        "RISKSTREAM_WORKER__STATE_DIR": str(tmp_path / "state"),
        "RISKSTREAM_WORKER__APP_ID": f"riskstream-test-{tag}",
        **{f"RISKSTREAM_TOPICS__{role.upper()}": name for role, name in topics.items()},
    }
    worker = start_worker(env, tmp_path / "worker.log")
    try:
        wait_until(lambda: scrape(port), 90, what="the worker's metrics endpoint", procs=(worker,))
        settings = Settings.model_validate({"kafka": {"broker": broker.url}, "topics": topics})
        asyncio.run(ensure_topics(settings))
        records = list(FleetSimulator(SimConfig(riders=4, seed=5)).records(15 * 60))
        asyncio.run(produce_records(settings, records))
        published = asyncio.run(read_topic(broker.bootstrap_servers, topics["risk_scores"], min_count=N, timeout=180))
        assert len(published) >= N, worker.log()[-3000:]
    finally:
        worker.stop()

    run = subprocess.run(
        [sys.executable, str(CONSUMER), "--bootstrap", broker.bootstrap_servers, "--topic", topics["risk_scores"],
         "--group", f"insurer-{tag}", "--max-records", str(N), "--from-beginning", "--idle-timeout", "60"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    ok = [line for line in lines if line.startswith("OK ")]
    assert len(ok) == N, run.stdout
    assert not [line for line in lines if line.startswith("INVALID")], run.stdout
    assert lines[-1] == f"done: {N} valid, 0 duplicates, 0 invalid", run.stdout
    pseudonyms = {r["value"]["rider_pseudonym"] for r in published}
    assert all(any(p in line for p in pseudonyms) for line in ok)
    assert all(" band=" in line and " multiplier=" in line and " reasons=" in line for line in ok)
