"""Two Faust workers share partitions; one stops; the other recovers its table exactly from the changelog."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest

from riskstream.testing.workers import Process, produce, wait_until

pytestmark = pytest.mark.integration


def _state_worker(broker, topic: str, name: str, tmp: Path) -> tuple[Process, Path]:
    dump = tmp / f"{name}.json"
    env = {"STATE_BROKER": broker.url, "STATE_TOPIC": topic, "STATE_DUMP": str(dump),
           "STATE_DATADIR": str(tmp / name)}
    proc = Process([sys.executable, "-m", "tests.integration.state_app", "worker", "-l", "info",
                    "--without-web"], env, tmp / f"{name}.log")
    return proc, dump


def _read(dump: Path) -> dict | None:
    try:
        return json.loads(dump.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _batch(keys: list[str], rounds: int) -> list[tuple[bytes, bytes]]:
    return [(k.encode(), b"x") for r in range(rounds) for k in keys]


def test_table_state_moves_with_changelog_when_a_worker_stops(broker, tmp_path: Path) -> None:
    topic = f"state-{uuid.uuid4().hex[:8]}"
    keys = [f"rider-{i}" for i in range(40)]
    expected: Counter[str] = Counter()

    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    async def create() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
        await admin.start()
        await admin.create_topics([NewTopic(topic, 4, 1)])
        await admin.close()

    asyncio.run(create())
    a, dump_a = _state_worker(broker, topic, "a", tmp_path)
    b, dump_b = _state_worker(broker, topic, "b", tmp_path)
    try:
        def both_assigned() -> bool:
            da, db = _read(dump_a), _read(dump_b)
            return bool(da and db and da["assigned"] and db["assigned"]
                        and sorted(da["assigned"] + db["assigned"]) == [0, 1, 2, 3])

        wait_until(both_assigned, 120, what="both workers to share the 4 partitions", procs=(a, b))
        first = _batch(keys, 25)
        asyncio.run(produce(broker.bootstrap_servers, topic, first))
        expected.update(k.decode() for k, _ in first)

        def all_counted() -> bool:
            merged: Counter[str] = Counter()
            for d in (_read(dump_a), _read(dump_b)):
                merged.update((d or {}).get("counts", {}))
            return merged == expected

        wait_until(all_counted, 90, what="both workers to count the first batch", procs=(a, b))
        b_partitions = _read(dump_b)["assigned"]
        assert b_partitions, "worker b owned no partition"

        assert b.stop(signal.SIGTERM) is not None  # at once: its last offsets may not be committed yet
        wait_until(lambda: (_read(dump_a) or {}).get("assigned") == [0, 1, 2, 3], 120,
                   what="worker a to take over all partitions", procs=(a,))
        second = _batch(keys, 5)
        asyncio.run(produce(broker.bootstrap_servers, topic, second))
        expected.update(k.decode() for k, _ in second)

        wait_until(lambda: Counter((_read(dump_a) or {}).get("counts", {})) == expected, 90,
                   what="worker a's table to equal the exact counts", procs=(a,))
        assert Counter(_read(dump_a)["counts"]) == expected
    finally:
        for proc in (a, b):
            proc.stop()
        print(a.log()[-3000:])
