"""The safety console without a broker: its state, its escaping, its access rules and its acknowledgements."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from riskstream.console import page
from riskstream.console.server import COOKIE, Console, listen_address, make_app
from riskstream.console.state import ConsoleState
from riskstream.contracts.errors import ConfigError
from riskstream.contracts.records import AuditRecord, SafetyAcknowledgement
from streams.settings import ConsoleSettings, Settings

EVIL = '<img src=x onerror="alert(1)">'


def fall(rider: str = "r1", alert_id: str = "a1", ts: str = "2026-07-15T02:02:00Z") -> dict[str, Any]:
    return {"rider_id": rider, "alert_id": alert_id, "kind": "fall", "severity": "danger", "ts": ts,
            "requires_response": True, "title": {"en": "Are you OK?"}, "message": {"en": "We noticed a fall."},
            "model_versions": {"lightgbm": "v3"}, "conservative_mode": False}


class SentRecords:
    """Stands in for the Kafka producer: keeps what was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []

    async def send(self, topic: str, value: bytes, key: bytes) -> Awaitable[None]:
        self.sent.append((topic, value, key))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def with_client(console: Console, token: str | None, check: Callable[[TestClient], Awaitable[None]]) -> None:
    async def run() -> None:
        async with TestClient(TestServer(make_app(console, token), host="127.0.0.1")) as client:
            await check(client)

    asyncio.run(run())


# ---------------------------------------------------------------------- state


def test_an_escalation_a_response_and_a_resolution_move_a_question_along() -> None:
    s = ConsoleState()
    s.apply("trip", {"rider_id": "r1", "zone_id": "z9", "status": "waiting", "ts": "2026-07-15T02:01:00Z"})
    s.apply("alerts", fall())
    s.apply("alerts", fall("r2", "a2", "2026-07-15T02:03:00Z"))
    s.apply("escalations", {"alert_id": "a2", "rider_id": "r2", "escalation_id": "e2", "reason": "no_response",
                            "ts": "2026-07-15T02:05:00Z", "zone_id": "z2"})
    open_now = s.open_questions()
    assert [(q["alert_id"], q["status"], q["zone_id"]) for q in open_now] == [("a2", "escalated", "z2"),
                                                                              ("a1", "asked", "z9")]
    assert open_now[1]["age_s"] == 180.0  # event time: 02:05 - 02:02
    s.apply("responses", {"alert_id": "a1", "rider_id": "r1", "answer": "ok", "ts": "2026-07-15T02:06:00Z"})
    s.apply("acknowledgements", {"alert_id": "a2", "rider_id": "r2", "action": "acknowledge", "by": "lin",
                                 "ts": "2030-01-01T00:00:00Z"})
    assert [(q["alert_id"], q["status"], q["handled_by"]) for q in s.open_questions()] == [("a2", "acknowledged", "lin")]
    assert s.clock == datetime(2026, 7, 15, 2, 5, tzinfo=timezone.utc).timestamp(), \
        "the stream clock is the newest event time: an acknowledgement's wall time (2030 here) does not move it"
    s.apply("acknowledgements", {"alert_id": "a2", "rider_id": "r2", "action": "resolve", "by": "lin", "ts": 0})
    assert s.open_questions() == []
    assert [i["type"] for i in s.feed] == ["acknowledgement", "acknowledgement", "answer", "escalation", "alert",
                                           "alert"]


def test_an_escalation_whose_alert_was_not_read_back_is_still_an_open_question() -> None:
    s = ConsoleState()
    s.apply("escalations", {"alert_id": "old", "rider_id": "r5", "reason": "rider_needs_help",
                            "asked_at": "2026-07-15T01:00:00Z", "ts": "2026-07-15T01:01:00Z", "zone_id": "z1"})
    [q] = s.open_questions()
    assert (q["rider_id"], q["status"], q["age_s"], q["escalation_reason"]) == ("r5", "escalated", 60.0,
                                                                                "rider_needs_help")


def test_zones_count_online_riders_high_bands_and_alerts_of_the_last_hour() -> None:
    s = ConsoleState(online_window_s=300)
    s.apply("weather", {"zone_id": "z1", "ts": "2026-07-15T02:00:00Z", "air_temp_c": 25, "relative_humidity_pct": 50})
    for rider, status, ts in (("r1", "riding", "02:59:00"), ("r2", "offline", "02:59:00"), ("r3", "riding", "02:50:00"),
                              ("r4", "waiting", "02:58:00")):
        s.apply("trip", {"rider_id": rider, "zone_id": "z1", "status": status, "ts": f"2026-07-15T{ts}Z"})
    s.apply("audit", {"rider_id": "r1", "decision_type": "premium_signal", "ts": "2026-07-15T02:59:00Z",
                      "outcome": "premium multiplier 1.000 -> 1.100, band severe, published"})
    s.apply("alerts", {**fall("r1", "x1", "2026-07-15T01:30:00Z"), "requires_response": False})  # over an hour ago
    s.apply("alerts", {**fall("r4", "x2", "2026-07-15T02:40:00Z"), "requires_response": False})
    s.apply("trip", {"rider_id": "r1", "zone_id": "z1", "status": "riding", "ts": "2026-07-15T03:00:00Z"})
    [z] = s.zones()
    assert (z["riders_online"], z["riders_high_or_severe"], z["alerts_last_hour"]) == (2, 1, 1)
    assert z["heat_category"] == "none" and round(z["heat_index_c"], 1) == 24.9


def test_dead_letters_are_counted_per_minute_with_the_latest_reason() -> None:
    s = ConsoleState()
    for ts in ("2026-07-15T02:00:05Z", "2026-07-15T02:00:50Z", "2026-07-15T02:02:00Z"):
        s.apply("dlq", {"ts": ts, "error_class": "invalid_json", "reason": "Expecting value"})
    per_minute = s.dead_letters_per_minute(3)
    assert [n for _, n in per_minute] == [2, 0, 1]
    assert s.dead_letters == 3 and s.dead_letter_latest == "invalid_json: Expecting value"
    assert s.clock == 0.0, "a dead letter's ts is its source's Kafka time, not event time"


# ---------------------------------------------------------------------- escaping


def test_everything_rendered_from_the_topics_is_escaped() -> None:
    s = ConsoleState()
    s.apply("trip", {"rider_id": EVIL, "zone_id": EVIL, "status": "riding", "ts": "2026-07-15T02:00:00Z"})
    s.apply("weather", {"zone_id": EVIL, "ts": "2026-07-15T02:00:00Z", "air_temp_c": 30, "relative_humidity_pct": 40})
    s.apply("alerts", {**fall(EVIL, EVIL), "title": {"en": EVIL}})
    s.apply("acknowledgements", {"alert_id": EVIL, "rider_id": EVIL, "action": "acknowledge", "by": EVIL, "ts": 1})
    s.apply("dlq", {"ts": "2026-07-15T02:00:00Z", "error_class": EVIL, "reason": EVIL})
    s.apply("audit", {"rider_id": EVIL, "decision_type": "alert", "model_versions": {EVIL: EVIL}, "ts": 1,
                      "outcome": "alert fall/danger sent"})
    html = page.panels(s.snapshot()) + page.rider_page(EVIL, [EVIL], 6)
    assert "<img" not in html and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert 'href="/rider/%3Cimg%20src%3Dx%20onerror%3D%22alert%281%29%22%3E"' in html


# ---------------------------------------------------------------------- access


def test_with_a_token_every_request_needs_it() -> None:
    console = Console(Settings())

    async def check(client: TestClient) -> None:
        for path in ("/", "/panels", "/api/state", "/events", "/rider/r1", "/static/console.js"):
            response = await client.get(path)
            assert response.status == 401, path
            assert "RISKSTREAM_CONSOLE__TOKEN" in await response.text()
        assert (await client.get("/api/state", headers={"Authorization": "Bearer nope"})).status == 401
        assert (await client.get("/api/state", headers={"Authorization": "Bearer s3cret"})).status == 200
        first = await client.get("/?token=s3cret", allow_redirects=False)
        assert first.status == 303 and first.headers["Location"] == "/"
        assert first.cookies[COOKIE].value == "s3cret" and first.cookies[COOKIE]["httponly"]
        page_ = await client.get("/")  # the cookie from now on
        assert page_.status == 200 and "Access needs the token" in await page_.text()
        assert "script-src 'self'" in page_.headers["Content-Security-Policy"]

    with_client(console, "s3cret", check)


def test_without_a_token_only_loopback_host_names_are_answered_and_posts_need_the_header() -> None:
    console = Console(Settings())

    async def check(client: TestClient) -> None:
        assert (await client.get("/")).status == 200
        rebound = await client.get("/api/state", headers={"Host": "evil.example:8090"})
        assert rebound.status == 403 and "loopback" in await rebound.text()
        assert (await client.get("/api/state", headers={"Host": "localhost:8090"})).status == 200
        cross_site = await client.post("/api/ack", data=json.dumps({"alert_id": "a1", "action": "resolve"}))
        assert cross_site.status == 403 and "X-Riskstream-Console" in await cross_site.text()

    with_client(console, None, check)


def test_listen_address_is_loopback_without_a_token_and_says_so() -> None:
    open_ = Settings(console=ConsoleSettings(host="0.0.0.0"))
    host, port, why = listen_address(open_)
    assert (host, port) == ("127.0.0.1", 8090) and "listens on 127.0.0.1 only (not on 0.0.0.0)" in why
    tokened = Settings(console=ConsoleSettings(host="0.0.0.0", token=SecretStr("t0ken")))
    assert listen_address(tokened)[0] == "0.0.0.0"
    with pytest.raises(ConfigError, match="RISKSTREAM_CONSOLE__TOKEN is empty"):
        listen_address(Settings(console=ConsoleSettings(token=SecretStr(" "))))


# ---------------------------------------------------------------------- acknowledgements


def test_an_acknowledgement_is_written_with_its_audit_record_and_a_closed_question_is_refused() -> None:
    console = Console(Settings())
    producer = SentRecords()
    console.producer = producer  # type: ignore[assignment]
    console.state.apply("trip", {"rider_id": "r1", "zone_id": "z1", "status": "riding", "ts": "2026-07-15T02:01:00Z"})
    console.state.apply("alerts", fall())
    console.state.apply("trip", {"rider_id": "r1", "zone_id": "z1", "status": "riding", "ts": "2026-07-15T02:03:00Z"})
    post = {"headers": {"X-Riskstream-Console": "1"}}

    async def check(client: TestClient) -> None:
        done = await client.post("/api/ack", json={"alert_id": "a1", "action": "acknowledge", "by": "ops-1"}, **post)
        assert done.status == 202, await done.text()
        nobody = await client.post("/api/ack", json={"alert_id": "a1", "action": "resolve", "by": " "}, **post)
        assert nobody.status == 400 and "by (your name" in await nobody.text()
        wrong = await client.post("/api/ack", json={"alert_id": "a1", "action": "delete", "by": "x"}, **post)
        assert wrong.status == 400
        unknown = await client.post("/api/ack", json={"alert_id": "zz", "action": "resolve", "by": "x"}, **post)
        assert unknown.status == 409 and "not open" in await unknown.text()

    with_client(console, None, check)
    (t1, v1, k1), (t2, v2, k2) = producer.sent
    ack = SafetyAcknowledgement.model_validate_json(v1)
    audit = AuditRecord.model_validate_json(v2)
    assert (t1, t2, k1, k2) == ("safety.acknowledgements", "audit.decisions", b"r1", b"r1")
    assert (ack.alert_id, ack.rider_id, ack.action, ack.by) == ("a1", "r1", "acknowledge", "ops-1")
    assert audit.decision_type == "acknowledgement" and audit.decision_id == ack.ack_id
    assert audit.outcome == "suspected fall acknowledged by ops-1 on the safety console (alert a1)"
    assert audit.inputs == {"question_age_s": 60.0}


def test_the_rider_page_says_the_decisions_in_plain_words_without_inputs() -> None:
    console = Console(Settings())
    console.state.apply("alerts", fall())
    console.state.apply("audit", {"event_id": "d1", "ts": "2026-07-15T02:02:00Z", "decision_id": "a1",
                                  "decision_type": "alert", "rider_id": "r1", "outcome": "alert fall/danger sent",
                                  "inputs": {"hr_mean_bpm": 150.0}, "reasons": [], "model_versions": {"rules": "1"}})
    console.state.apply("audit", {"event_id": "d0", "ts": "2026-07-14T12:00:00Z", "decision_id": "x",  # > 6 h before
                                  "decision_type": "alert", "rider_id": "r1", "outcome": "alert heat/danger sent",
                                  "inputs": {}, "reasons": [], "model_versions": {}})
    assert console.rider_lines("r1") == [
        "2026-07-15 02:02:00 UTC | alert sent: suspected fall (danger) | reasons: none | thresholds: none | "
        "models: rules=1 | conservative mode: off"]
    assert console.rider_lines("nobody") == []


def test_memory_is_bounded_by_the_riders_active_in_the_retention_window() -> None:
    from riskstream.console.state import PRUNE_EVERY

    s = ConsoleState(retain_s=3600)
    s.apply("alerts", {"rider_id": "fallen", "alert_id": "q1", "kind": "fall", "severity": "danger",
                       "requires_response": True, "ts": "2026-07-15T00:00:00Z"})
    for i in range(3 * PRUNE_EVERY):  # a day of riders, each heard of once
        minute = i * 86400 // (3 * PRUNE_EVERY) // 60
        ts = f"2026-07-15T{minute // 60:02d}:{minute % 60:02d}:00Z"
        s.apply("trip", {"rider_id": f"r{i}", "zone_id": "z", "status": "riding", "ts": ts})
        s.apply("audit", {"rider_id": f"r{i}", "decision_type": "alert", "ts": ts, "outcome": "x"})
    assert len(s.riders) <= PRUNE_EVERY  # about the last hour and the last prune's interval, not 30,000
    assert len(s.decisions) <= PRUNE_EVERY + 1
    assert "r0" not in s.riders and f"r{3 * PRUNE_EVERY - 1}" in s.riders
    assert [q["alert_id"] for q in s.open_questions()] == ["q1"]  # an open question outlives the window
