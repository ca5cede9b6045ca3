"""Push delivery rules: signature, answer classes, backoff bounds, and retries against a local HTTP server."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import time

import pytest

from riskstream.push.delivery import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Verdict,
    WebhookClient,
    backoff_bound,
    backoff_delay,
    classify,
    parse_retry_after,
    sign,
)
from riskstream.push.receiver import Faults, PushReceiver
from streams.settings import PushSettings

SECRET = b"test-secret"


def test_signature_is_hmac_sha256_of_the_body() -> None:
    body = b'{"alert_id": "a1"}'
    expected = hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    assert sign(SECRET, body) == f"sha256={expected}"
    assert sign(SECRET, body + b" ") != sign(SECRET, body)
    assert sign(b"other", body) != sign(SECRET, body)


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, Verdict.delivered), (201, Verdict.delivered), (202, Verdict.delivered), (204, Verdict.delivered),
        (409, Verdict.duplicate),
        (408, Verdict.retry), (429, Verdict.retry), (500, Verdict.retry), (502, Verdict.retry),
        (503, Verdict.retry), (504, Verdict.retry),
        (400, Verdict.rejected), (401, Verdict.rejected), (403, Verdict.rejected), (404, Verdict.rejected),
        (410, Verdict.rejected), (413, Verdict.rejected), (422, Verdict.rejected),
        (301, Verdict.rejected), (302, Verdict.rejected), (100, Verdict.rejected),
    ],
)
def test_classification_table(status: int, verdict: Verdict) -> None:
    assert classify(status) is verdict


@pytest.mark.parametrize(("base", "cap"), [(0.5, 30.0), (0.01, 0.05), (1.0, 1.0), (2.0, 0.5)])
def test_full_jitter_stays_within_bounds_and_spreads(base: float, cap: float) -> None:
    rng = random.Random(3)
    for n in range(12):
        bound = min(cap, base * 2**n)
        assert backoff_bound(n, base, cap) == pytest.approx(bound)
        samples = [backoff_delay(n, base, cap, rng) for _ in range(400)]
        assert all(0.0 <= d <= bound for d in samples)
        assert min(samples) < 0.1 * bound and max(samples) > 0.9 * bound  # full jitter, not a fixed wait


def test_backoff_bound_never_overflows() -> None:
    assert backoff_bound(10_000, 0.5, 30.0) == 30.0


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("0", 0.0), ("120", 120.0), (" 7 ", 7.0), ("", None), ("-1", None), ("1.5", None), ("tomorrow", None),
     ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],  # a date in the past asks for no wait
)
def test_retry_after(value: str, seconds: float | None) -> None:
    assert parse_retry_after(value, now=1445412500.0) == seconds


# ----------------------------------------------------------------------------- against a local server


def settings(url: str, **overrides: object) -> PushSettings:
    base = dict(webhook_url=url, webhook_secret=SECRET.decode(), timeout_s=0.5, max_attempts=4,
                backoff_base_s=0.2, backoff_cap_s=1.0, retry_after_cap_s=5.0, concurrency=4)
    return PushSettings.model_validate({**base, **overrides})


async def deliver(url: str, key: str, body: dict[str, object], waits: list[float], **overrides: object):  # noqa: ANN201
    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    async with WebhookClient(settings(url, **overrides), rng=random.Random(1), sleep=fake_sleep) as client:
        return await client.deliver(key, json.dumps(body).encode())


def run(coro):  # noqa: ANN001, ANN201
    return asyncio.run(coro)


def test_delivered_once_with_signed_headers() -> None:
    with PushReceiver(SECRET) as rx:
        waits: list[float] = []
        out = run(deliver(rx.url, "a-1", {"alert_id": "a-1", "message": {"en": "hot"}}, waits))
    assert (out.verdict, out.attempts, waits) == (Verdict.delivered, 1, [])
    assert rx.log.accepted == {"a-1": {"alert_id": "a-1", "message": {"en": "hot"}}}
    assert rx.log.bad_signatures == 0


def test_headers_carry_key_signature_and_timestamp() -> None:
    client = WebhookClient(settings("http://127.0.0.1:1/push"))
    headers = client.headers("k-9", b"{}")
    assert headers[IDEMPOTENCY_HEADER] == "k-9"
    assert headers[TIMESTAMP_HEADER].isdigit()
    assert headers[SIGNATURE_HEADER] == sign(SECRET, headers[TIMESTAMP_HEADER].encode() + b".k-9.{}")
    assert headers["Content-Type"].startswith("application/json")


def test_second_delivery_of_the_same_key_is_a_duplicate_not_a_second_acceptance() -> None:
    with PushReceiver(SECRET) as rx:
        first = run(deliver(rx.url, "a-2", {"n": 1}, []))
        again = run(deliver(rx.url, "a-2", {"n": 1}, []))
    assert (first.verdict, again.verdict) == (Verdict.delivered, Verdict.duplicate)
    assert again.accepted and len(rx.log.accepted) == 1 and rx.log.requests["a-2"] == 2


def test_permanent_rejection_is_not_retried_and_keeps_the_answer() -> None:
    with PushReceiver(SECRET, Faults(reject_400=frozenset({"bad"}))) as rx:
        waits: list[float] = []
        out = run(deliver(rx.url, "bad", {}, waits))
    assert (out.verdict, out.attempts, waits) == (Verdict.rejected, 1, [])
    assert out.error_class == "push_rejected_400"
    assert "HTTP 400" in out.reason and "invalid device token" in out.reason


def test_wrong_secret_is_rejected_401() -> None:
    with PushReceiver(b"the-providers-secret") as rx:
        out = run(deliver(rx.url, "a-3", {}, []))
    assert out.error_class == "push_rejected_401" and rx.log.bad_signatures == 1 and not rx.log.accepted


def test_retries_run_out_with_backoff_waits_within_bounds() -> None:
    with PushReceiver(SECRET, Faults(always_503=frozenset({"k"}))) as rx:
        waits: list[float] = []
        out = run(deliver(rx.url, "k", {}, waits, max_attempts=5))
    assert (out.verdict, out.attempts, out.error_class) == (Verdict.retry, 5, "push_retries_exhausted")
    assert "HTTP 503" in out.reason and "provider unavailable" in out.reason
    assert len(waits) == 4 and rx.log.requests["k"] == 5
    assert all(0 <= w <= min(1.0, 0.2 * 2**n) for n, w in enumerate(waits))


def test_retry_after_is_honoured_up_to_its_cap() -> None:
    faults = Faults(p_429=1.0, faulty_attempts=2, retry_after="3")
    with PushReceiver(SECRET, faults) as rx:
        waits: list[float] = []
        out = run(deliver(rx.url, "k", {}, waits))
    assert out.verdict is Verdict.delivered and out.attempts == 3
    assert waits == [3.0, 3.0]  # larger than the jittered waits (≤ 0.2, ≤ 0.4)
    faults = Faults(p_429=1.0, faulty_attempts=1, retry_after="3600")
    with PushReceiver(SECRET, faults) as rx:
        waits = []
        run(deliver(rx.url, "k", {}, waits))
    assert waits == [5.0]


def test_timeouts_and_closed_connections_are_retried_and_accepted_once() -> None:
    # attempt 0 answers after the client's timeout (but accepts), so the retry gets 409 "already have it"
    slow = Faults(p_slow=1.0, faulty_attempts=1, slow_s=0.8)
    with PushReceiver(SECRET, slow) as rx:
        out = run(deliver(rx.url, "slow", {}, [], timeout_s=0.3, backoff_base_s=0.01))
        time.sleep(0.6)  # let the slow handler finish before the server stops (not an assertion on time)
        run_again = run(deliver(rx.url, "slow", {}, [], timeout_s=0.3))
    assert out.accepted and out.attempts >= 2 and out.last.result in ("ok", "duplicate")
    assert run_again.verdict is Verdict.duplicate and list(rx.log.accepted) == ["slow"]
    closing = Faults(p_close=1.0, faulty_attempts=2)
    with PushReceiver(SECRET, closing) as rx:
        out = run(deliver(rx.url, "c", {}, []))
    assert (out.verdict, out.attempts) == (Verdict.delivered, 3) and list(rx.log.accepted) == ["c"]


def test_unreachable_webhook_exhausts_retries_as_connection_errors() -> None:
    from riskstream.testing.workers import free_port

    out = run(deliver(f"http://127.0.0.1:{free_port()}/push", "k", {}, [], max_attempts=2))
    assert (out.error_class, out.last.result) == ("push_retries_exhausted", "connection_error")


def test_push_settings_reject_a_non_http_url() -> None:
    with pytest.raises(ValueError, match="http:// or https://"):
        PushSettings(webhook_url="ftp://example.com/push")


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_captured_request_cannot_be_replayed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The signature covers the timestamp and the Idempotency-Key, not the body only."""
    import riskstream.push.delivery as delivery

    client = WebhookClient(settings("http://127.0.0.1:1/push"))
    body = b'{"alert_id": "a-7", "message": {"en": "hot"}}'
    with PushReceiver(SECRET) as rx:
        captured = client.headers("a-7", body)
        assert _post(rx.url, body, captured) == 200
        # replayed under another Idempotency-Key, so the provider would push it a second time
        assert _post(rx.url, body, {**captured, IDEMPOTENCY_HEADER: "a-7-again"}) == 401
        # the timestamp moved forward to look fresh
        assert _post(rx.url, body, {**captured, TIMESTAMP_HEADER: str(int(captured[TIMESTAMP_HEADER]) + 1)}) == 401
        # captured ten minutes ago: past the receiver's tolerance, even with a key never seen
        real_time = time.time
        monkeypatch.setattr(delivery.time, "time", lambda: real_time() - 600)
        old = client.headers("a-8", body)
        monkeypatch.undo()
        assert _post(rx.url, body, old) == 401
    assert list(rx.log.accepted) == ["a-7"] and rx.log.bad_signatures == 3
