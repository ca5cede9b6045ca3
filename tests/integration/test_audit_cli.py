"""`riskstream audit` against the real embedded broker: produce audit records, read them back as text."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from riskstream.contracts.records import AuditRecord, Reason
from riskstream.testing.workers import REPO, produce


def _records() -> list[AuditRecord]:
    heat = Reason(code="HEAT_INDEX_DANGER", value=41.9,
                  text={"en": "Heat index 42 °C (≥ 39.4 °C, danger)", "zh-CN": "体感温度 42°C（≥ 39.4°C，危险级）"})
    common = {"model_versions": {"lightgbm": "v7", "river": "river-logreg:n=3"}}
    return [
        AuditRecord(event_id="e2", ts="2026-07-15T03:00:00Z", decision_id="d2", decision_type="premium_signal",
                    rider_id="rider-7", outcome="premium multiplier 1.000 -> 1.050, band high, published",
                    inputs={"p_injury": 0.02}, thresholds={"max_change": 0.1}, reasons=[], **common),
        AuditRecord(event_id="e1", ts="2026-07-15T02:12:00Z", decision_id="d1", decision_type="alert",
                    rider_id="rider-7", outcome="alert heat/danger sent", inputs={"heat_index_c": 41.85},
                    thresholds={"heat_index_c.danger.enter": 39.4}, reasons=[heat], conservative_mode=True, **common),
        AuditRecord(event_id="e3", ts="2026-07-15T02:30:00Z", decision_id="d3", decision_type="alert",
                    rider_id="rider-8", outcome="alert riding/warning sent", inputs={}, reasons=[], **common),
        # rider-1 is keyed to partition 0 of 2, rider-7 and rider-8 to partition 1
        AuditRecord(event_id="e4", ts="2026-07-15T02:40:00Z", decision_id="d4", decision_type="alert",
                    rider_id="rider-1", outcome="alert weather/danger sent", inputs={}, reasons=[], **common),
    ]


async def _create(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 2, 1)])
    finally:
        await admin.close()


def _audit(broker_url: str, topic: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RISKSTREAM_KAFKA__BROKER": broker_url, "RISKSTREAM_TOPICS__AUDIT": topic}
    return subprocess.run([sys.executable, "-m", "riskstream.cli.main", "audit", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_audit_explains_one_riders_history_oldest_first(broker) -> None:  # noqa: ANN001
    topic = f"audit-{uuid.uuid4().hex[:8]}"
    asyncio.run(_create(broker.bootstrap_servers, topic))
    asyncio.run(produce(broker.bootstrap_servers, topic,
                        [(r.rider_id.encode(), r.model_dump_json().encode()) for r in _records()]))

    done = _audit(broker.url, topic, "--rider", "rider-7")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2, done.stdout
    assert lines[0].startswith("2026-07-15 02:12:00 UTC | alert sent: heat (danger)")
    assert "Heat index 42 °C" in lines[0] and "heat_index_c.danger.enter=39.4" in lines[0]
    assert "lightgbm=v7" in lines[0] and lines[0].endswith("conservative mode: on")
    assert "premium multiplier 1.000 → 1.050 (risk band high)" in lines[1]

    zh = _audit(broker.url, topic, "--rider", "rider-7", "--since", "2026-07-15T02:30:00Z", "--lang", "zh-CN")
    assert zh.returncode == 0, zh.stderr
    assert zh.stdout.strip().splitlines() == [
        line for line in zh.stdout.strip().splitlines() if "保费系数 1.000 → 1.050（风险等级：高）" in line]
    assert len(zh.stdout.strip().splitlines()) == 1

    # each rider is read from its own partition only; scanning all of them finds the same
    other = _audit(broker.url, topic, "--rider", "rider-1")
    assert other.returncode == 0 and len(other.stdout.strip().splitlines()) == 1, other.stdout + other.stderr
    assert "alert sent: weather (danger)" in other.stdout
    scan = _audit(broker.url, topic, "--rider", "rider-7", "--all-partitions")
    assert scan.returncode == 0 and scan.stdout.strip().splitlines() == lines

    none = _audit(broker.url, topic, "--rider", "rider-404")
    assert none.returncode == 0 and none.stdout == "" and "no decisions for rider rider-404" in none.stderr
