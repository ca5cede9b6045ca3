"""A local stand-in for the push provider's webhook, with faults on demand.

It checks the signature and its timestamp (:func:`riskstream.push.delivery.verify`: 401 if the
signature is wrong or the timestamp further than ``SIGNATURE_TOLERANCE_S`` from its clock),
accepts each ``Idempotency-Key`` once (a repeat gets 409 "already have it"; keys are kept for
the receiver's life, longer than the tolerance), and can fail the way real providers do:
500/503, 429 with ``Retry-After``, answering after the client gave up, closing the
connection, and rejecting chosen keys with 400. Faults are drawn from a seeded generator per (key, attempt), so a run is repeatable
whatever the thread interleaving. Used by the tests and handy for a local demo:

>>> with PushReceiver(secret=b"s") as rx:
...     rx.url.startswith("http://127.0.0.1:")
True
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from riskstream.push.delivery import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify


@dataclass
class Faults:
    """Chances per attempt (attempts after ``faulty_attempts`` always succeed), and keys that always fail."""

    seed: int = 0
    p_500: float = 0.0
    p_503: float = 0.0
    p_429: float = 0.0
    p_slow: float = 0.0  # answer after ``slow_s`` (past the client's timeout), having accepted the alert
    p_close: float = 0.0  # close the connection without an answer, alert not accepted
    slow_s: float = 1.0
    retry_after: str = "0"
    faulty_attempts: int = 3
    reject_400: frozenset[str] = frozenset()
    always_503: frozenset[str] = frozenset()

    def draw(self, key: str, attempt: int) -> str:
        if key in self.reject_400:
            return "400"
        if key in self.always_503:
            return "503"
        if attempt >= self.faulty_attempts:
            return "ok"
        u = random.Random(f"{self.seed}:{key}:{attempt}").random()
        for name, p in (("500", self.p_500), ("503", self.p_503), ("429", self.p_429),
                        ("slow", self.p_slow), ("close", self.p_close)):
            if u < p:
                return name
            u -= p
        return "ok"


@dataclass
class ReceiverLog:
    """What the receiver saw: accepted bodies by key (in order), and counts of every answer."""

    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    requests: Counter[str] = field(default_factory=Counter)  # per key
    answers: Counter[str] = field(default_factory=Counter)  # per answer kind
    bad_signatures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accept(self, key: str, body: dict[str, Any]) -> bool:
        """Record ``key`` once; False if it was already accepted."""
        with self.lock:
            if key in self.accepted:
                return False
            self.accepted[key] = body
            self.order.append(key)
            return True


class PushReceiver:
    """Threaded HTTP server on 127.0.0.1 (port 0 = a free one); a context manager."""

    def __init__(self, secret: bytes, faults: Faults | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.secret = secret
        self.faults = faults or Faults()
        self.log = ReceiverLog()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="push-receiver", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/push"

    def __enter__(self) -> PushReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = 64 * 1024  # headers and body in one send: split writes meet delayed ACKs (~40 ms each)

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def handle(self) -> None:
                try:
                    super().handle()
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout) first
                    self.close_connection = True

            def _answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                key = self.headers.get(IDEMPOTENCY_HEADER, "")
                log = receiver.log
                problem = verify(receiver.secret, body, self.headers.get(TIMESTAMP_HEADER), key,
                                 self.headers.get(SIGNATURE_HEADER))
                if problem is not None:
                    with log.lock:
                        log.bad_signatures += 1
                    return self._answer(401, problem.encode())
                if not key:
                    return self._answer(400, b"missing Idempotency-Key")
                with log.lock:
                    attempt = log.requests[key]
                    log.requests[key] += 1
                kind = receiver.faults.draw(key, attempt)
                with log.lock:
                    log.answers[kind] += 1
                if kind == "close":
                    self.close_connection = True
                    return None
                if kind == "400":
                    return self._answer(400, b'{"error": "invalid device token"}')
                if kind in ("500", "503"):
                    return self._answer(int(kind), b'{"error": "provider unavailable"}')
                if kind == "429":
                    return self._answer(429, b'{"error": "slow down"}', {"Retry-After": receiver.faults.retry_after})
                if kind == "slow":
                    time.sleep(receiver.faults.slow_s)
                fresh = log.accept(key, json.loads(body))
                if not fresh:
                    with log.lock:
                        log.answers["409"] += 1
                    return self._answer(409, b'{"status": "already have it"}')
                return self._answer(200, b'{"status": "accepted"}')

        return Handler
