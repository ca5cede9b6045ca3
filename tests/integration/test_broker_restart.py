"""A broker that lost everything (a restarted embedded broker), and topics nobody may auto-create (issue 12, 5)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaTimeoutError, UnknownTopicOrPartitionError

from riskstream.contracts.errors import BrokerError
from riskstream.testing.workers import free_port, metric_value, scrape, start_worker, wait_until
from streams.broker import EmbeddedBroker
from streams.kafka import consumer_kwargs, producer_kwargs
from streams.settings import Settings
from streams.topics import ensure_topics, topic_specs

pytestmark = pytest.mark.integration

ROLES = ("wearable", "trip", "weather", "incidents", "responses", "alerts", "escalations", "risk_scores", "audit",
         "dlq")


def settings_for(broker: EmbeddedBroker, tag: str) -> Settings:
    return Settings.model_validate({"kafka": {"broker": broker.url},
                                    "topics": {role: f"{tag}.{role}" for role in ROLES}})


async def partitions(broker: EmbeddedBroker) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
    await admin.start()
    try:
        return {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics()}
    finally:
        await admin.close()


def test_riskstream_clients_never_auto_create_a_topic(broker: EmbeddedBroker) -> None:
    s = settings_for(broker, uuid.uuid4().hex[:6])
    wanted, sent_to = f"ghost-{uuid.uuid4().hex[:6]}", f"ghost-{uuid.uuid4().hex[:6]}"

    async def touch() -> None:
        consumer = AIOKafkaConsumer(wanted, group_id=None, **consumer_kwargs(s.kafka))
        try:
            await consumer.start()
            await consumer.getmany(timeout_ms=1500)
        except UnknownTopicOrPartitionError:
            pass  # what a consumer of a missing topic gets, instead of a new topic
        finally:
            await consumer.stop()
        producer = AIOKafkaProducer(request_timeout_ms=3000, **producer_kwargs(s.kafka))
        await producer.start()
        try:
            with pytest.raises((KafkaTimeoutError, UnknownTopicOrPartitionError, asyncio.TimeoutError)):
                await asyncio.wait_for(producer.send_and_wait(sent_to, b"x"), 5)
        finally:
            await producer.stop()

    asyncio.run(touch())
    topics = asyncio.run(partitions(broker))
    assert wanted not in topics and sent_to not in topics, topics


def test_a_topic_with_the_wrong_partition_count_stops_the_start(broker: EmbeddedBroker) -> None:
    s = settings_for(broker, uuid.uuid4().hex[:6])

    async def create_weather_as_auto_created() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
        await admin.start()
        await admin.create_topics([NewTopic(s.topics.weather, 4, 1)])  # Tansu's auto-create default
        await admin.close()

    asyncio.run(create_weather_as_auto_created())
    with pytest.raises(BrokerError, match=rf"{s.topics.weather} has 4 partitions, riskstream needs 1"):
        asyncio.run(ensure_topics(s))


def test_a_restarted_embedded_broker_stops_the_worker_with_a_message_and_a_new_worker_starts_clean(
    tmp_path: Path,
) -> None:
    from riskstream.cli.producer import produce as produce_records
    from riskstream.simulation import FleetSimulator, SimConfig

    tag = uuid.uuid4().hex[:6]
    own = EmbeddedBroker("127.0.0.1", free_port(), log_path=tmp_path / "tansu.log")  # the session's stays up
    own.start()
    s = settings_for(own, tag)
    metrics_port = free_port()
    env = {"RISKSTREAM_KAFKA__BROKER": own.url, "RISKSTREAM_METRICS__PORT": str(metrics_port),
           "RISKSTREAM_WORKER__STATE_DIR": str(tmp_path / "state"), "RISKSTREAM_WORKER__APP_ID": f"restart-{tag}",
           **{f"RISKSTREAM_TOPICS__{role.upper()}": f"{tag}.{role}" for role in ROLES}}
    records = list(FleetSimulator(SimConfig(riders=3, seed=2, scenario="heatwave")).records(4 * 60))
    half = len(records) // 2

    def consumed() -> float:
        return metric_value(scrape(metrics_port) or "", "riskstream_records_consumed_total")

    worker = start_worker(env, tmp_path / "worker-1.log")
    second = None
    try:
        wait_until(lambda: scrape(metrics_port), 90, what="the worker's metrics endpoint", procs=(worker,))
        asyncio.run(produce_records(s, records[:half]))
        wait_until(lambda: consumed() >= half, 120, what="the first half to be processed", procs=(worker,))

        own.stop()
        own.start()  # same port, empty memory
        wait_until(lambda: not worker.alive(), 90, what="the worker to stop after the broker restart")
        code, log = worker.stop(), worker.log()
        assert code == 3, log[-3000:]
        assert "lost riskstream's data" in log and "keeps everything in memory" in log, log[-3000:]
        assert "start the worker again" in log
        # nothing was auto-created meanwhile: the restarted broker has no topic at all
        assert asyncio.run(partitions(own)) == {}

        # a new worker recreates the topics with their partition counts and processes what comes next
        second = start_worker(env, tmp_path / "worker-2.log")
        wait_until(lambda: scrape(metrics_port), 90, what="the new worker's metrics endpoint", procs=(second,))
        have = asyncio.run(partitions(own))
        assert {spec.name: have.get(spec.name) for spec in topic_specs(s)} == {
            spec.name: spec.num_partitions for spec in topic_specs(s)}
        asyncio.run(produce_records(s, records[half:]))
        wait_until(lambda: consumed() >= len(records) - half, 120, what="the second half to be processed",
                   procs=(second,))
        assert second.alive()
    finally:
        worker.stop()
        if second is not None:
            second.stop()
        own.stop()



def test_the_demo_stops_and_says_so_when_its_broker_restarts(tmp_path: Path) -> None:
    own = EmbeddedBroker("127.0.0.1", free_port(), log_path=tmp_path / "tansu.log")
    own.start()
    env = {**os.environ, "RISKSTREAM_KAFKA__BROKER": own.bootstrap_servers,
           "RISKSTREAM_METRICS__PORT": str(free_port())}
    demo = subprocess.Popen([sys.executable, "-m", "riskstream.cli.main", "demo", "--duration", "150", "--riders", "5"],
                            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    stdout = demo.stdout
    assert stdout is not None
    threading.Thread(target=lambda: lines.extend(iter(stdout.readline, "")), daemon=True).start()
    try:
        wait_until(lambda: any("worker running" in line for line in lines), 120, what="the demo's worker")
        own.stop()
        own.start()
        code = demo.wait(timeout=120)
        err = demo.stderr.read() if demo.stderr else ""
    finally:
        if demo.poll() is None:
            demo.terminate()
            demo.wait(30)
        own.stop()
    assert code == 1, (code, err[-2000:], "".join(lines)[-2000:])
    assert "restarted and lost every topic" in err and "riskstream demo` again" in err, err[-2000:]
    assert "=== summary ===" in "".join(lines)
