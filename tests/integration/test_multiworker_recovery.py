"""Several real workers, one killed with SIGKILL: every input record is applied exactly once to its rider's state.

Checked from the topics with ``streams.reconcile`` (input = applied + duplicate + too late + dead-lettered per
rider, no counter going down along the rider-state changelog), not from the workers' own counters.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from riskstream.testing.workers import REPO, Process, free_port, scrape, start_worker, wait_until
from streams.reconcile import Report, reconcile
from streams.settings import Settings

pytestmark = pytest.mark.integration

ROLES = ("wearable", "trip", "weather", "incidents", "responses", "alerts", "escalations", "risk_scores", "audit",
         "dlq", "acknowledgements")
PARTITIONS = 4


class Fleet:
    """Workers of one app id on their own topics; each with its own metrics port and state dir."""

    def __init__(self, broker: Any, tmp: Path) -> None:
        tag = uuid.uuid4().hex[:6]
        self.tmp = tmp
        self.base = {
            "RISKSTREAM_KAFKA__BROKER": broker.url,
            "RISKSTREAM_WORKER__APP_ID": f"riskstream-mw-{tag}",
            "RISKSTREAM_TOPICS__PARTITIONS": str(PARTITIONS),
        }
        for role in ROLES:
            self.base[f"RISKSTREAM_TOPICS__{role.upper()}"] = f"{tag}.{role}"
        self.settings = Settings.model_validate({
            "kafka": {"broker": broker.url},
            "topics": {**{role: f"{tag}.{role}" for role in ROLES}, "partitions": PARTITIONS},
            "worker": {"app_id": self.base["RISKSTREAM_WORKER__APP_ID"]},
        })
        self.workers: dict[str, tuple[Process, int]] = {}
        self.starts = 0
        self.crashes: list[str] = []

    def start(self, name: str) -> Process:
        self.starts += 1
        port = free_port()
        env = {**self.base, "RISKSTREAM_METRICS__PORT": str(port),
               "RISKSTREAM_WORKER__STATE_DIR": str(self.tmp / name)}
        proc = start_worker(env, self.tmp / f"{name}-{self.starts}.log")
        self.workers[name] = (proc, port)
        return proc

    def supervise(self) -> bool:
        """Restart a worker that exited by itself, as Kubernetes would (crash-only workers); always True.

        Seen: Faust's recovery crashes with "Offset must be a positive integer" when a rebalance lands while
        it seeks standby partitions; the restarted worker must still lose nothing.
        """
        for name, (proc, _) in list(self.workers.items()):
            if not proc.alive():
                errors = [line for line in proc.log().splitlines() if "Error" in line or "ERROR" in line]
                self.crashes.append(f"worker {name} exited with {proc.proc.returncode}: {errors[-1:] or '?'}")
                proc.stop()
                self.start(name)
        return True

    def kill(self, name: str) -> None:
        proc, _ = self.workers.pop(name)
        proc.stop(signal.SIGKILL)

    def assigned(self, name: str) -> set[int]:
        """Input partitions the worker reports lag for (its assignment, from its /metrics)."""
        text = scrape(self.workers[name][1]) or ""
        topic = re.escape(self.settings.topics.trip)
        return {int(p) for p in re.findall(
            r'riskstream_consumer_lag_records\{[^}]*partition="(\d+)"[^}]*topic="' + topic + '"', text)} | \
            {int(p) for p in re.findall(
                r'riskstream_consumer_lag_records\{[^}]*topic="' + topic + r'"[^}]*partition="(\d+)"', text)}

    def shared_by_all(self) -> bool:
        """Every worker holds partitions and together they hold each partition once."""
        parts = [self.assigned(name) for name in self.workers]
        return all(parts) and sorted(p for s in parts for p in s) == list(range(PARTITIONS))

    def rebalanced(self) -> bool:
        """Every worker is ready and each partition is held by exactly one of them (some may hold none:
        Faust's assignor is sticky, so a worker back after a crash can wait as a standby)."""
        ready = all("[^Worker]: Ready" in proc.log() for proc, _ in self.workers.values())
        parts = [self.assigned(name) for name in self.workers]
        return ready and sorted(p for s in parts for p in s) == list(range(PARTITIONS))

    def stop_all(self) -> None:
        for proc, _ in self.workers.values():
            proc.stop()

    def logs(self, tail: int = 3000) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-tail:]}" for p in sorted(self.tmp.glob("*.log")))


def produce(settings: Settings, records: list[Any]) -> None:
    """Produce with an outside client (librdkafka): its default partitioner is not Kafka's murmur2."""
    from confluent_kafka import Producer

    from riskstream.cli.producer import encode

    topics = settings.topics.by_role()
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers, "linger.ms": 5,
                         "batch.num.messages": 1})  # one record per batch: the embedded broker's defect
    for record in records:
        role, key, value = encode(record)
        while True:
            try:
                producer.produce(topics[role], value=value, key=key)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    assert producer.flush(60) == 0, "records not delivered within 60 s"


def reconciled(fleet: Fleet, timeout: float) -> Report:
    """Reconcile until it adds up (the workers caught up) or ``timeout``; the last report either way."""
    deadline = time.monotonic() + timeout
    while True:
        report = asyncio.run(reconcile(fleet.settings, timeout=60))
        if report.ok or time.monotonic() > deadline:
            return report
        fleet.supervise()
        time.sleep(3)


def uncommitted(fleet: Fleet) -> dict[str, int]:
    """Records not committed by the workers' group, per input topic partition with any (for failure messages)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    async def read() -> dict[str, int]:
        consumer = AIOKafkaConsumer(bootstrap_servers=fleet.settings.kafka.bootstrap_servers,
                                    group_id=fleet.settings.worker.app_id, enable_auto_commit=False)
        await consumer.start()
        try:
            tps = [TopicPartition(getattr(fleet.settings.topics, role), p)
                   for role in ("wearable", "trip") for p in range(PARTITIONS)]
            ends = await consumer.end_offsets(tps)
            out = {}
            for tp in tps:
                left = ends[tp] - (await consumer.committed(tp) or 0)
                if left:
                    out[f"{tp.topic}[{tp.partition}]"] = left
            return out
        finally:
            await consumer.stop()

    return asyncio.run(read())


def history(fleet: Fleet, report: Report, limit: int = 3) -> str:
    """For a failure message: each rider-state changelog write of (up to ``limit``) riders the report finds
    records missing for, with the counts and input offsets it held, and the input offsets of those riders'
    records no state counted (where the gap lies)."""
    from streams.reconcile import changelog_topic, read_all

    lost = sorted({rider for riders in report.riders.values() for rider, c in riders.items() if c.missing > 0})[:limit]
    writes = asyncio.run(read_all(fleet.settings, changelog_topic(fleet.settings.worker.app_id), 60))
    lines = []
    for rider in lost:
        lines.append(f"rider {rider}: changelog writes (partition@offset, broker time, applied per role, offsets):")
        for msg in sorted(writes, key=lambda m: (m.partition, m.offset)):
            if msg.key and msg.key.decode() == rider:
                state = json.loads(msg.value) if msg.value else None
                applied = {role: c.get("applied") for role, c in ((state or {}).get("records") or {}).items()}
                lines.append(f"  {msg.partition}@{msg.offset} t={msg.timestamp} {applied} {(state or {}).get('offsets')}")
    return "\n".join(lines)


def settled(fleet: Fleet, condition: Any, what: str, timeout: float = 240) -> None:
    wait_until(lambda: fleet.supervise() and condition(), timeout, what=what)


def simulated(riders: int, seconds: int, seed: int, **config: Any) -> list[Any]:
    from riskstream.simulation import FleetSimulator, SimConfig

    sim = FleetSimulator(SimConfig(riders=riders, seed=seed, scenario="heatwave", duplicate_rate=0.01, **config))
    return list(sim.records(seconds))


def split_by_time(records: list[Any], parts: int) -> list[list[Any]]:
    """``records`` cut into ``parts`` consecutive pieces of about equal length, in order."""
    size = -(-len(records) // parts)
    return [records[i:i + size] for i in range(0, len(records), size)]


def stall(broker: Any, seconds: float) -> None:
    """Freeze the broker process for ``seconds`` (as a long GC pause or a network stall would)."""
    broker.process.send_signal(signal.SIGSTOP)
    try:
        time.sleep(seconds)
    finally:
        broker.process.send_signal(signal.SIGCONT)


def test_no_record_is_lost_when_a_worker_is_killed_mid_burst(broker: Any, tmp_path: Path) -> None:
    """Issue 12 finding 4: records on the partitions a survivor took over were committed, never applied.

    The input is produced with librdkafka (confluent-kafka), whose default partitioner is not Kafka's
    murmur2: the rider state used to go to the changelog partition murmur2 picked, so the survivor of a
    kill took over input partitions without their riders' state. The broker also stalls for longer than
    Faust's commit interval just before each kill: Faust's flush before a commit gives up after 0.1 s
    without a send, and offsets must still not run ahead of the state. Two workers, three rounds of:
    a burst of records, a stall, worker b killed with SIGKILL, and restarted after worker a took over.
    """
    from streams.topics import ensure_topics

    fleet = Fleet(broker, tmp_path)
    asyncio.run(ensure_topics(fleet.settings))
    first, *bursts = split_by_time(simulated(riders=80, seconds=240, seed=4), 4)
    try:
        fleet.start("a")
        fleet.start("b")
        settled(fleet, fleet.shared_by_all, "both workers to share the partitions", 180)
        produce(fleet.settings, first)
        report = reconciled(fleet, 180)
        assert report.ok, report.render()
        for burst in bursts:
            producing = threading.Thread(target=produce, args=(fleet.settings, burst))
            producing.start()
            time.sleep(1.5)  # the workers are busy with the burst
            stall(broker, 3.0)  # longer than Faust's commit interval (2.8 s): a commit starts during it
            fleet.kill("b")  # as the broker comes back
            producing.join()
            settled(fleet, lambda: fleet.assigned("a") == set(range(PARTITIONS)),
                    "worker a to take over every partition", 180)
            fleet.start("b")
            settled(fleet, fleet.shared_by_all, "both workers to share the partitions again", 180)
        report = reconciled(fleet, 240)
        assert report.ok, (f"after {len(bursts)} stalls and kills of worker b (crashes: {fleet.crashes}; not committed: "
                           f"{uncommitted(fleet)}):\n{report.render()}")
        assert sum(t["applied"] for t in report.topics.values()) > 0
    finally:
        fleet.stop_all()
        print(fleet.logs())
        print("workers that crashed by themselves and were restarted:", fleet.crashes)


def test_three_workers_one_killed_and_restarted_mid_stream_exactly_once_and_every_hot_rider_alerted(
        broker: Any, tmp_path: Path) -> None:
    """Issue 12: 3 workers, one killed with SIGKILL and restarted mid-stream, three times (a different one each time).

    Every input record is applied exactly once to its rider's state (reconciled from the topics), and every
    rider who rode in a zone at a heat index far above the danger line got a heat alert.
    """
    from confluent_kafka import Consumer

    from streams.topics import ensure_topics

    fleet = Fleet(broker, tmp_path)
    asyncio.run(ensure_topics(fleet.settings))
    hot = {"air_temp_c": 40.0, "relative_humidity_pct": 60.0}  # heat index ≈ 55 °C in every zone
    records = simulated(riders=60, seconds=300, seed=7, weather_override=hot)
    chunks = split_by_time(records, 4)
    try:
        for name in ("a", "b", "c"):
            fleet.start(name)
        settled(fleet, fleet.shared_by_all, "three workers to share the partitions", 240)
        produce(fleet.settings, chunks[0])
        for victim, chunk in zip(("b", "c", "a"), chunks[1:]):
            producing = threading.Thread(target=produce, args=(fleet.settings, chunk))
            producing.start()  # mid-stream
            time.sleep(1.0)
            fleet.kill(victim)
            producing.join()
            fleet.start(victim)
            settled(fleet, fleet.rebalanced, f"worker {victim} back among the three", 240)
        report = reconciled(fleet, 300)
        assert report.ok, (f"3 workers, 3 kills (crashes: {fleet.crashes}; not committed: {uncommitted(fleet)}):\n"
                           f"{report.render()}\n{history(fleet, report)}")
        trip = report.topics[fleet.settings.topics.trip]
        assert trip["applied"] == len({r.value.event_id for r in records if r.role == "trip"})
        # the same through the command anyone can run
        out = tmp_path / "reconcile.json"
        cli = subprocess.run([sys.executable, "-m", "riskstream.cli.main", "reconcile", "--json", str(out)], cwd=REPO,
                             env={**os.environ, **fleet.base}, capture_output=True, text=True, timeout=300)
        assert cli.returncode == 0, cli.stdout + cli.stderr
        assert json.loads(out.read_text())["ok"] and "reconciled: every input record" in cli.stdout

        riders_in_heat = {r.key for r in records if r.role == "trip"}
        consumer = Consumer({"bootstrap.servers": broker.bootstrap_servers, "group.id": f"t-{uuid.uuid4().hex[:8]}",
                             "auto.offset.reset": "earliest", "enable.auto.commit": False})
        consumer.subscribe([fleet.settings.topics.alerts])
        alerted: set[str] = set()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not riders_in_heat <= alerted:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                alert = json.loads(msg.value())
                if alert["kind"] == "heat":
                    alerted.add(alert["rider_id"])
        consumer.close()
        missing = sorted(riders_in_heat - alerted)
        assert not missing, f"{len(missing)} of {len(riders_in_heat)} riders in ~55 °C heat got no heat alert: {missing}"
    finally:
        fleet.stop_all()
        print(fleet.logs())
        print("workers that crashed by themselves and were restarted:", fleet.crashes)


def test_records_committed_but_in_no_recovered_state_are_read_again(broker: Any, tmp_path: Path) -> None:
    """Issue 12: whatever moved a partition's committed offset past records no state absorbed (a commit that ran
    ahead, a recovery that missed the last state writes), the worker that takes the partition re-reads them.

    A worker applies a first part, then drops a second part unapplied while acknowledging it
    (tests/integration/forgetful_app.py), so the group's offsets are committed past records in no state, and
    stops. The ordinary worker that starts next recovers states that stop short of the committed offsets: it
    reads from the newest offset its states hold and applies what they lack.
    """
    from streams.topics import ensure_topics
    from tests.integration.forgetful_app import FORGET_MARK

    fleet = Fleet(broker, tmp_path)
    asyncio.run(ensure_topics(fleet.settings))
    first, second = split_by_time(simulated(riders=20, seconds=120, seed=11), 2)
    marker = tmp_path / "forget"
    env = {**fleet.base, "RISKSTREAM_METRICS__PORT": str(free_port()), "RISKSTREAM_WORKER__STATE_DIR": str(tmp_path / "f"),
           "FORGET_FILE": str(marker)}
    forgetful = Process([sys.executable, "-m", "tests.integration.forgetful_app", "worker"], env,
                        tmp_path / "forgetful.log")
    try:
        wait_until(lambda: "[^Worker]: Ready" in forgetful.log(), 180, what="the forgetful worker to start",
                   procs=(forgetful,))
        produce(fleet.settings, first)
        report = reconciled(fleet, 180)
        assert report.ok, report.render()
        marker.touch()
        produce(fleet.settings, second)
        wait_until(lambda: not uncommitted(fleet), 180, what="the second part committed unapplied", procs=(forgetful,))
        assert FORGET_MARK in forgetful.log()
        forgetful.stop(signal.SIGTERM)
        marker.unlink()
        lost = asyncio.run(reconcile(fleet.settings, timeout=60))
        missing = sum(c.missing for riders in lost.riders.values() for c in riders.values())
        assert missing > 0, lost.render()  # committed, in no state: what the next worker must repair

        fleet.start("a")
        report = reconciled(fleet, 240)
        assert report.ok, f"{missing} records were committed in no state:\n{report.render()}"
        trip = report.topics[fleet.settings.topics.trip]
        assert trip["applied"] == len({r.value.event_id for r in first + second if r.role == "trip"})
        metrics = scrape(fleet.workers["a"][1]) or ""
        behind = sum(float(v) for v in re.findall(r"riskstream_recovered_behind_offsets_total\{[^}]*\} (\S+)", metrics))
        assert behind >= missing, (behind, missing)
    finally:
        forgetful.stop()
        fleet.stop_all()
        print(fleet.logs())
