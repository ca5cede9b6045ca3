"""The gateway's per-record step without a broker: deliver, or dead-letter with where-from and why."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import pytest

from riskstream.contracts.records import DeadLetter, RiderAlert, Severity
from riskstream.push.delivery import WebhookClient
from riskstream.push.gateway import PushGateway
from riskstream.push.receiver import Faults, PushReceiver
from streams import metrics
from streams.settings import Settings

SECRET = "unit-secret"


@dataclass
class Msg:
    value: bytes | None
    key: bytes | None = b"r1"
    topic: str = "rider.alerts"
    partition: int = 2
    offset: int = 17
    timestamp: int = 1_782_864_000_000  # ms, as aiokafka's ConsumerRecord


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes]] = []

    async def send(self, topic: str, value: bytes, key: bytes | None = None) -> asyncio.Future[None]:
        self.sent.append((topic, key, value))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def alert_json(alert_id: str) -> bytes:
    return RiderAlert(
        event_id=f"e-{alert_id[:100]}", ts="2026-07-01T12:00:00Z", rider_id="r1", alert_id=alert_id, kind="heat",
        severity=Severity.danger, title={"en": "Heat"},
        message={"en": "Rest in shade", "zh-CN": "请在阴凉处休息"},
        reasons=[], model_versions={"lgbm": "1"},
    ).model_dump_json().encode()


def handle_all(url: str, msgs: list[Msg]) -> tuple[list[str], list[DeadLetter]]:
    settings = Settings.model_validate({"push": {
        "webhook_url": url, "webhook_secret": SECRET, "timeout_s": 0.5, "max_attempts": 2,
        "backoff_base_s": 0.001, "backoff_cap_s": 0.002,
    }})

    async def go() -> tuple[list[str], list[DeadLetter]]:
        gateway = PushGateway(settings, WebhookClient(settings.push))
        producer = FakeProducer()
        gateway._producer = producer  # type: ignore[assignment]
        async with gateway.client:
            outcomes = [await gateway.handle(m) for m in msgs]
        assert all(topic == settings.topics.dlq for topic, _, _ in producer.sent)
        assert all(key == b"rider.alerts" for _, key, _ in producer.sent)  # keyed by source topic, not rider id
        return outcomes, [DeadLetter.model_validate_json(v) for _, _, v in producer.sent]

    return asyncio.run(go())


def deliveries(outcome: str) -> float:
    return metrics.REGISTRY.get_sample_value("riskstream_push_deliveries_total", {"outcome": outcome}) or 0.0


def test_alerts_are_delivered_with_the_body_the_provider_shows() -> None:
    before = deliveries("delivered")
    with PushReceiver(SECRET.encode()) as rx:
        outcomes, letters = handle_all(rx.url, [Msg(alert_json("a-1")), Msg(alert_json("a-2"))])
    assert outcomes == ["delivered", "delivered"] and letters == []
    assert rx.log.accepted["a-1"]["message"]["zh-CN"] == "请在阴凉处休息"
    assert deliveries("delivered") - before == 2


@pytest.mark.parametrize(
    ("raw", "error_class"),
    [
        (None, "empty"),
        (b'{"alert_id": ', "invalid_json"),
        (b'"a string"', "not_an_object"),
        (b'{"event_id": "x", "ts": "2026-07-01T12:00:00Z"}', "validation_error"),
        (alert_json("a-1").replace(b'"schema_version":1', b'"schema_version":9'), "unsupported_schema_version"),
        (alert_json("bad key\n"), "invalid_idempotency_key"),
        (alert_json("x" * 300), "invalid_idempotency_key"),
    ],
)
def test_malformed_records_become_dead_letters_not_crashes(raw: bytes | None, error_class: str) -> None:
    with PushReceiver(SECRET.encode()) as rx:
        outcomes, letters = handle_all(rx.url, [Msg(raw)])
    assert outcomes == ["dead_letter"] and sum(rx.log.requests.values()) == 0
    (letter,) = letters
    assert (letter.error_class, letter.source_topic, letter.partition, letter.offset, letter.key) == (
        error_class, "rider.alerts", 2, 17, "r1")


def test_rejected_and_exhausted_alerts_carry_status_and_answer() -> None:
    faults = Faults(reject_400=frozenset({"rej"}), always_503=frozenset({"down"}))
    with PushReceiver(SECRET.encode(), faults) as rx:
        outcomes, letters = handle_all(rx.url, [Msg(alert_json("rej")), Msg(alert_json("down")),
                                                Msg(alert_json("fine"))])
    assert outcomes == ["dead_letter", "dead_letter", "delivered"]
    assert [x.error_class for x in letters] == ["push_rejected_400", "push_retries_exhausted"]
    assert "HTTP 400" in letters[0].reason and "invalid device token" in letters[0].reason
    assert "after 2 attempt(s)" in letters[1].reason and "HTTP 503" in letters[1].reason
    assert json.loads(letters[0].payload)["alert_id"] == "rej"  # the original alert is kept for a replay
