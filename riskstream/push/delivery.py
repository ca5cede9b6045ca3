"""Deliver one alert to the push provider's webhook: signature, answer classes, retries with backoff.

Kafka-free, so each rule can be checked on its own; :mod:`riskstream.push.gateway` runs it per alert.

The signature is HMAC-SHA256 under the webhook secret, hex, in ``X-Riskstream-Signature:
sha256=<hex>``, of ``<X-Riskstream-Timestamp>.<Idempotency-Key>.<exact body bytes>``; the
timestamp is Unix seconds at the attempt. A receiver recomputes it (:func:`verify`), refuses a
timestamp more than :data:`SIGNATURE_TOLERANCE_S` away from its clock, and must remember the
Idempotency-Keys it accepted for at least that long: then a captured request can neither be
replayed later nor under another key, and a replay within the tolerance is a duplicate (409).
With a body-only HMAC test vector as a check of the construction:

>>> sign(b"key", b"The quick brown fox jumps over the lazy dog", "1700000000", "al-1") == sign(
...     b"key", b"1700000000.al-1.The quick brown fox jumps over the lazy dog")
True
>>> verify(b"key", b"{}", "1700000000", "al-1", sign(b"key", b"{}", "1700000000", "al-1"), now=1700000299.0)
>>> verify(b"key", b"{}", "1700000000", "al-1", sign(b"key", b"{}", "1700000000", "al-1"), now=1700000301.0)
'stale timestamp: 301 s from the receiver clock (tolerance 300 s)'
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import hmac
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timezone
from enum import Enum

import aiohttp

from streams import metrics
from streams.settings import PushSettings

SIGNATURE_HEADER = "X-Riskstream-Signature"
TIMESTAMP_HEADER = "X-Riskstream-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
#: Largest distance of a signed timestamp from the receiver's clock; a receiver keeps accepted keys this long.
SIGNATURE_TOLERANCE_S = 300
#: Characters of the provider's answer kept in a dead letter's reason.
BODY_SNIPPET_CHARS = 200
#: 4xx answers that invite a retry: 408 Request Timeout (RFC 9110 §15.5.9), 429 Too Many Requests (RFC 6585 §4).
RETRYABLE_4XX = frozenset({408, 429})


class Verdict(str, Enum):
    """What one HTTP answer means for the alert."""

    delivered = "delivered"  # 2xx
    duplicate = "duplicate"  # 409: the provider already has this idempotency key
    retry = "retry"  # 408, 429, 5xx, timeout, connection error
    rejected = "rejected"  # any other answer: retrying cannot help


def sign(secret: bytes, body: bytes, timestamp: str | None = None, idempotency_key: str | None = None) -> str:
    """Value of the ``X-Riskstream-Signature`` header (see the module docstring).

    Without ``timestamp`` and ``idempotency_key`` it is the plain HMAC of ``body``.
    """
    if timestamp is not None:
        body = f"{timestamp}.{idempotency_key or ''}.".encode() + body
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(secret: bytes, body: bytes, timestamp: str | None, idempotency_key: str | None, signature: str | None,
           now: float | None = None, tolerance_s: float = SIGNATURE_TOLERANCE_S) -> str | None:
    """What is wrong with a received request's signature, or None if it is good and fresh (the receiver's side)."""
    if not timestamp or not timestamp.isdigit():
        return f"missing or unreadable {TIMESTAMP_HEADER}"
    expected = sign(secret, body, timestamp, idempotency_key)
    if not hmac.compare_digest((signature or "").encode(), expected.encode()):
        return "bad signature"
    skew = abs((time.time() if now is None else now) - int(timestamp))
    if skew > tolerance_s:
        return f"stale timestamp: {skew:.0f} s from the receiver clock (tolerance {tolerance_s:.0f} s)"
    return None


def classify(status: int) -> Verdict:
    """Verdict of an HTTP status code.

    >>> [classify(s).value for s in (200, 202, 409, 429, 503, 400, 404, 301)]
    ['delivered', 'delivered', 'duplicate', 'retry', 'retry', 'rejected', 'rejected', 'rejected']
    """
    if 200 <= status < 300:
        return Verdict.delivered
    if status == 409:
        return Verdict.duplicate
    if status in RETRYABLE_4XX or 500 <= status < 600:
        return Verdict.retry
    return Verdict.rejected


def backoff_bound(retry: int, base_s: float, cap_s: float) -> float:
    """Largest wait before retry number ``retry`` (0 = the first retry): ``min(cap, base * 2**retry)``.

    >>> [backoff_bound(n, 0.5, 3.0) for n in range(5)]
    [0.5, 1.0, 2.0, 3.0, 3.0]
    """
    return min(cap_s, base_s * 2 ** min(retry, 62))


def backoff_delay(retry: int, base_s: float, cap_s: float, rng: random.Random | None = None) -> float:
    """Full-jitter wait: uniform in ``[0, backoff_bound(retry)]`` (spreads retries of many clients)."""
    return (rng or random).uniform(0.0, backoff_bound(retry, base_s, cap_s))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delay-seconds or an HTTP date); None if absent or unreadable.

    >>> parse_retry_after("3"), parse_retry_after("soon"), parse_retry_after(None)
    (3.0, None, None)
    >>> parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0)
    10.0
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


@dataclass(frozen=True)
class Attempt:
    """One HTTP attempt: its verdict, and what to report about it."""

    verdict: Verdict
    result: str  # metric label: ok, duplicate, retryable_status, timeout, connection_error, rejected
    status: int | None = None
    detail: str = ""  # status + body snippet, or the error
    retry_after_s: float | None = None


@dataclass
class Outcome:
    """How delivering one alert ended."""

    verdict: Verdict  # delivered, duplicate or rejected; retry means the attempts ran out
    attempts: int
    last: Attempt
    waited_s: list[float] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return self.verdict in (Verdict.delivered, Verdict.duplicate)

    @property
    def error_class(self) -> str:
        """Dead-letter class: ``push_rejected_<status>`` or ``push_retries_exhausted``."""
        if self.verdict is Verdict.rejected:
            return f"push_rejected_{self.last.status}"
        return "push_retries_exhausted"

    @property
    def reason(self) -> str:
        return f"after {self.attempts} attempt(s): {self.last.detail}"


class WebhookClient:
    """Posts signed alert bodies to the webhook with one shared aiohttp session.

    ``sleep`` and ``rng`` are injectable so tests can see the backoff waits without waiting.
    """

    def __init__(
        self,
        settings: PushSettings,
        *,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self._secret = settings.webhook_secret.get_secret_value().encode()
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._gate = asyncio.Semaphore(settings.concurrency)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> WebhookClient:
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout_s)
        connector = aiohttp.TCPConnector(limit=self.settings.concurrency)
        self._session = aiohttp.ClientSession(timeout=timeout, connector=connector)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def headers(self, idempotency_key: str, body: bytes) -> dict[str, str]:
        """Headers of one attempt: a fresh timestamp per attempt, signed with the key and the body."""
        timestamp = str(int(time.time()))
        return {
            "Content-Type": "application/json; charset=utf-8",
            IDEMPOTENCY_HEADER: idempotency_key,
            SIGNATURE_HEADER: sign(self._secret, body, timestamp, idempotency_key),
            TIMESTAMP_HEADER: timestamp,
        }

    async def attempt(self, idempotency_key: str, body: bytes) -> Attempt:
        """POST once and classify the answer; never raises for HTTP or network trouble."""
        assert self._session is not None, "use `async with WebhookClient(...)`"
        async with self._gate:
            try:
                async with self._session.post(
                    self.settings.webhook_url, data=body, headers=self.headers(idempotency_key, body),
                    allow_redirects=False,
                ) as resp:
                    snippet = (await resp.content.read(BODY_SNIPPET_CHARS * 4)).decode("utf-8", "replace")
                    status = resp.status
                    retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            except TimeoutError:
                return Attempt(Verdict.retry, "timeout", detail=f"no answer within {self.settings.timeout_s:g} s")
            except aiohttp.ClientError as exc:
                return Attempt(Verdict.retry, "connection_error", detail=f"{type(exc).__name__}: {exc}"[:300])
        verdict = classify(status)
        result = {Verdict.delivered: "ok", Verdict.duplicate: "duplicate",
                  Verdict.retry: "retryable_status", Verdict.rejected: "rejected"}[verdict]
        detail = f"HTTP {status}: {snippet[:BODY_SNIPPET_CHARS]!r}"
        return Attempt(verdict, result, status, detail, retry_after)

    async def deliver(self, idempotency_key: str, body: bytes) -> Outcome:
        """Attempt until accepted, rejected, or ``max_attempts`` ran out; wait with full jitter in between."""
        s = self.settings
        waited: list[float] = []
        n = 0
        while True:
            n += 1
            result = await self.attempt(idempotency_key, body)
            metrics.PUSH_ATTEMPTS.labels(result=result.result).inc()
            if result.verdict is not Verdict.retry or n >= s.max_attempts:
                return Outcome(result.verdict, n, result, waited)
            delay = backoff_delay(n - 1, s.backoff_base_s, s.backoff_cap_s, self._rng)
            if result.retry_after_s is not None:
                delay = max(delay, min(result.retry_after_s, s.retry_after_cap_s))
            waited.append(delay)
            metrics.PUSH_RETRIES.inc()
            await self._sleep(delay)
