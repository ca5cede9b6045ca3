"""Push gateway on the real embedded broker against a webhook that fails in every usual way.

Every alert must end accepted exactly once by the receiver or on the dead-letter topic
with the reason — never both, never neither — in per-rider order, with every offset
committed, and a restarted gateway must not re-send what was finished.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from riskstream.contracts.records import Reason, RiderAlert, Severity
from riskstream.push.gateway import PushGateway
from riskstream.push.receiver import Faults, PushReceiver
from riskstream.testing.workers import produce, read_topic
from streams import metrics
from streams.settings import Settings

pytestmark = pytest.mark.integration

SECRET = "integration-webhook-secret"
PARTITIONS = 4
RIDERS = 12
REJECTED = frozenset({"alert-007", "alert-023", "alert-041"})  # e.g. the rider uninstalled the app
UNAVAILABLE = frozenset({"alert-015", "alert-052"})  # the provider never manages these
MALFORMED = [b'{"alert_id": "broken",', b"[1, 2]", b'{"event_id": "no-fields", "ts": "2026-07-01T12:00:00Z"}']


def alert(i: int) -> RiderAlert:
    return RiderAlert(
        event_id=f"evt-{i:03d}", ts=datetime(2026, 7, 1, 12, tzinfo=timezone.utc) + timedelta(seconds=i),
        rider_id=f"r{i % RIDERS}", alert_id=f"alert-{i:03d}", kind="heat", severity=Severity.warning,
        title={"en": "Heat", "zh-CN": "高温"},
        message={"en": "Heat index 41 °C: pause outdoor deliveries for 15 min in shade.",
                 "zh-CN": "体感温度 41 °C：请在阴凉处暂停送餐 15 分钟。"},
        reasons=[Reason(code="HEAT_INDEX_DANGER", value=41.0, text={"en": "heat index 41 °C"})],
        model_versions={"lgbm": "test"},
    )


def records(ids: range) -> list[tuple[bytes, bytes]]:
    return [(alert(i).rider_id.encode(), alert(i).model_dump_json().encode()) for i in ids]


async def create_topics(bootstrap: str, alerts: str, dlq: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(alerts, PARTITIONS, 1), NewTopic(dlq, 1, 1)])
    finally:
        await admin.close()


async def committed_and_end(bootstrap: str, group: str, topic: str) -> tuple[dict[int, int | None], dict[int, int]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        committed = {tp.partition: await consumer.committed(tp) for tp in tps}
        end = {tp.partition: off for tp, off in (await consumer.end_offsets(tps)).items()}
    finally:
        await consumer.stop()
    return committed, end


async def read_raw(bootstrap: str, topic: str, count: int) -> list[tuple[str, tuple[int, int]]]:
    """(alert_id or the raw value, (partition, offset)) of the first ``count`` records of ``topic``."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    out: list[tuple[str, tuple[int, int]]] = []
    try:
        deadline = time.monotonic() + 15
        while len(out) < count and time.monotonic() < deadline:
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                for msg in messages:
                    try:
                        name = json.loads(msg.value).get("alert_id") or msg.value.decode()
                    except (ValueError, AttributeError):
                        name = msg.value.decode("utf-8", "replace")
                    out.append((name, (msg.partition, msg.offset)))
    finally:
        await consumer.stop()
    return out


async def wait_for(predicate: Any, timeout: float, what: str, task: asyncio.Task[Any]) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if task.done():
            task.result()
            raise AssertionError(f"the gateway stopped while waiting for {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.1)


def deliveries() -> dict[str, float]:
    return {o: metrics.REGISTRY.get_sample_value("riskstream_push_deliveries_total", {"outcome": o}) or 0.0
            for o in ("delivered", "duplicate", "dead_letter")}


def test_every_alert_accepted_once_or_dead_lettered_with_reason(broker: Any) -> None:
    tag = uuid.uuid4().hex[:6]
    alerts_topic, dlq_topic, group = f"push-{tag}.alerts", f"push-{tag}.dlq", f"riskstream-push-{tag}"
    faults = Faults(seed=11, p_500=0.12, p_503=0.08, p_429=0.1, p_slow=0.06, p_close=0.08, slow_s=0.9,
                    retry_after="0", faulty_attempts=3, reject_400=REJECTED, always_503=UNAVAILABLE)
    first, second = range(60), range(60, 70)
    before = deliveries()

    with PushReceiver(SECRET.encode(), faults) as rx:
        settings = Settings.model_validate({
            "kafka": {"broker": broker.url},
            "topics": {"alerts": alerts_topic, "dlq": dlq_topic},
            "push": {"webhook_url": rx.url, "webhook_secret": SECRET, "timeout_s": 0.5, "max_attempts": 6,
                     "backoff_base_s": 0.02, "backoff_cap_s": 0.2, "concurrency": 3, "group_id": group,
                     "commit_interval_s": 0.2, "shutdown_grace_s": 2.0},
        })

        async def scenario() -> dict[str, Any]:
            await create_topics(broker.bootstrap_servers, alerts_topic, dlq_topic)
            await produce(broker.bootstrap_servers, alerts_topic,
                          records(first)[:30] + [(b"r0", raw) for raw in MALFORMED] + records(first)[30:])
            gateway = PushGateway(settings)
            task = asyncio.create_task(gateway.run())
            n_first = len(first) + len(MALFORMED)
            await wait_for(lambda: sum(gateway.stats.values()) >= n_first, 45, "the first 63 records", task)
            # still running after every kind of fault: more alerts go through
            await produce(broker.bootstrap_servers, alerts_topic, records(second))
            await wait_for(lambda: sum(gateway.stats.values()) >= n_first + len(second), 20, "10 more", task)
            assert not task.done()
            gateway.stop()
            await asyncio.wait_for(task, 15)
            committed, end = await committed_and_end(broker.bootstrap_servers, group, alerts_topic)
            # a restart with the same group resumes after the committed offsets: only the new alert is sent
            requests_before = sum(rx.log.requests.values())
            await produce(broker.bootstrap_servers, alerts_topic, records(range(70, 71)))
            again = PushGateway(settings)
            task2 = asyncio.create_task(again.run())
            await wait_for(lambda: sum(again.stats.values()) >= 1, 30, "the alert after the restart", task2)
            await asyncio.sleep(0.5)  # room for any (wrong) re-sends to show up
            again.stop()
            await asyncio.wait_for(task2, 15)
            n_dead = len(REJECTED) + len(UNAVAILABLE) + len(MALFORMED)
            dlq = await read_topic(broker.bootstrap_servers, dlq_topic, min_count=n_dead, timeout=15)
            sent = await read_raw(broker.bootstrap_servers, alerts_topic, count=74)
            return {"stats": gateway.stats, "stats2": again.stats, "committed": committed, "end": end, "dlq": dlq,
                    "sent": sent, "requests_after_restart": sum(rx.log.requests.values()) - requests_before}

        out = asyncio.run(scenario())
        log = rx.log

    all_ids = {f"alert-{i:03d}" for i in range(71)}
    accepted = set(log.accepted)
    dead = {json.loads(d["value"]["payload"]).get("alert_id", "?") if d["value"]["error_class"].startswith("push_")
            else None: d["value"] for d in out["dlq"]}
    dead.pop(None, None)
    malformed_letters = [d["value"] for d in out["dlq"] if not d["value"]["error_class"].startswith("push_")]

    # every alert exactly once: accepted, or dead-lettered — none both, none missing
    assert accepted.isdisjoint(dead), accepted & set(dead)
    assert accepted | set(dead) == all_ids, all_ids - accepted - set(dead)
    assert len(log.order) == len(accepted) and len(out["dlq"]) == len(REJECTED) + len(UNAVAILABLE) + len(MALFORMED)
    assert log.bad_signatures == 0

    # dead letters say why and where from
    where = {alert_id: place for alert_id, place in out["sent"]}
    for alert_id, letter in dead.items():
        assert letter["source_topic"] == alerts_topic
        assert (letter["partition"], letter["offset"]) == where[alert_id]
        if alert_id in REJECTED:
            assert letter["error_class"] == "push_rejected_400"
            assert "HTTP 400" in letter["reason"] and "invalid device token" in letter["reason"]
        else:
            assert alert_id in UNAVAILABLE
            assert letter["error_class"] == "push_retries_exhausted"
            assert "after 6 attempt(s)" in letter["reason"] and "HTTP 503" in letter["reason"]
    assert sorted(m["error_class"] for m in malformed_letters) == ["invalid_json", "not_an_object",
                                                                  "validation_error"]
    assert {d["key"] for d in out["dlq"]} == {alerts_topic.encode()}  # keyed by source topic, as the README says

    # the webhook really misbehaved, and the gateway retried through it
    for kind in ("500", "503", "429", "slow", "close", "400"):
        assert log.answers[kind] > 0, (kind, log.answers)
    assert sum(log.requests.values()) > len(all_ids)

    # a rider's alerts arrive in the order they were produced
    by_rider: dict[str, list[int]] = defaultdict(list)
    for key in log.order:
        by_rider[log.accepted[key]["rider_id"]].append(int(key.split("-")[1]))
    assert all(seq == sorted(seq) for seq in by_rider.values()), by_rider

    # offsets: everything finished before the stop was committed; the restart sent only the new alert
    assert out["committed"] == {p: out["end"][p] for p in range(PARTITIONS)}
    assert out["requests_after_restart"] == 1 and dict(out["stats2"]) == {"delivered": 1}

    # metrics agree with what happened
    after = deliveries()
    gained = {o: after[o] - before[o] for o in after}
    assert gained["delivered"] + gained["duplicate"] == len(accepted)
    assert gained["dead_letter"] == len(out["dlq"])
    assert metrics.REGISTRY.get_sample_value("riskstream_push_in_flight") == 0
