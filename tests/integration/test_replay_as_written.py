"""``riskstream replay`` sends each value byte for byte as written (issue 14, finding 7).

The command runs as a process against the real embedded broker; the topics are read back with
confluent-kafka, a client independent of the command's aiokafka.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

#: Object values the schema model would have changed: a number as a string, spacing, an escape, a member the
#: model does not know, optional fields absent (the model would have filled null/defaults).
LINES = [
    '{"topic": "weather", "key": "z1", "value": {"event_id":"x1","ts":"2026-07-15T02:00:00Z","zone_id":"z1",'
    '"air_temp_c":"31.5", "relative_humidity_pct": 60.00 ,"note":"\\u00e9"}}',
    '{"topic": "wearable", "key": "r1", "value": {"ts": "2026-07-15T02:00:01Z", "rider_id": "r1", '
    '"event_id": "w1", "heart_rate_bpm": 1.2e2}}',
    '{"topic": "trip", "key": "r1", "value": {"event_id":"t1","ts":"2026-07-15T02:00:02Z","rider_id":"r1",'
    '"zone_id":"z1","status":"riding","lat":31.2,"lon":121.5,"speed_kmh":18,"accel_lat_g":null}}',
    '{"topic": "wearable", "key": "r2", "value": "{not json"}',
]
EXPECTED = {
    "weather": [(b"z1", b'{"event_id":"x1","ts":"2026-07-15T02:00:00Z","zone_id":"z1","air_temp_c":"31.5", '
                        b'"relative_humidity_pct": 60.00 ,"note":"\\u00e9"}')],
    "wearable": [(b"r1", b'{"ts": "2026-07-15T02:00:01Z", "rider_id": "r1", "event_id": "w1", "heart_rate_bpm": 1.2e2}'),
                 (b"r2", b"{not json")],
    "trip": [(b"r1", b'{"event_id":"t1","ts":"2026-07-15T02:00:02Z","rider_id":"r1","zone_id":"z1",'
                     b'"status":"riding","lat":31.2,"lon":121.5,"speed_kmh":18,"accel_lat_g":null}')],
}


def read_back(bootstrap: str, topics: dict[str, str], want: int, timeout_s: float = 60.0) -> dict[str, list[Any]]:
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"replay-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe(list(topics.values()))
    role_of = {name: role for role, name in topics.items()}
    out: dict[str, list[Any]] = {}
    deadline, n = time.monotonic() + timeout_s, 0
    try:
        while time.monotonic() < deadline and n < want:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            out.setdefault(role_of[msg.topic()], []).append((msg.key(), msg.value()))
            n += 1
    finally:
        consumer.close()
    return out


def test_replay_sends_each_value_as_written(broker: Any, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:6]
    topics = {role: f"{tag}.{role}" for role in ("wearable", "trip", "weather")}
    path = tmp_path / "recording.jsonl"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("RISKSTREAM_")},
           "RISKSTREAM_KAFKA__BROKER": broker.url,
           **{f"RISKSTREAM_TOPICS__{role.upper()}": name for role, name in topics.items()}}
    run = subprocess.run([sys.executable, "-m", "riskstream.cli.main", "replay", str(path)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "produced 4 records" in run.stdout
    got = read_back(broker.bootstrap_servers, topics, want=4)
    assert {role: sorted(items) for role, items in got.items()} == EXPECTED


def test_a_bad_line_stops_the_replay_before_anything_is_sent(broker: Any, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:6]
    topics = {role: f"{tag}.{role}" for role in ("wearable", "trip", "weather")}
    path = tmp_path / "recording.jsonl"
    path.write_text(LINES[0] + '\n{"topic": "weather", "key": "z1"}\n', encoding="utf-8")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("RISKSTREAM_")},
           "RISKSTREAM_KAFKA__BROKER": broker.url,
           **{f"RISKSTREAM_TOPICS__{role.upper()}": name for role, name in topics.items()}}
    run = subprocess.run([sys.executable, "-m", "riskstream.cli.main", "replay", str(path)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and f"{path}:2: " in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert read_back(broker.bootstrap_servers, topics, want=1, timeout_s=8.0) == {}  # not even the good first line
