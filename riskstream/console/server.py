"""``riskstream console``: the safety team's web page, fed from the topics by its own consumer.

:class:`Console` reads the output topics (and the zone weather, the riders' zone and status from
trip telemetry, their answers) with its own consumer: no group, nothing committed, outside the
worker. At start it reads back ``RISKSTREAM_CONSOLE__BACKLOG_RECORDS`` per partition, one topic
after another in :data:`ROLES` order (weather and trips before the alerts they place in a zone),
then follows every topic. An acknowledgement or resolution from the page is written to
``safety.acknowledgements`` with an audit record on ``audit.decisions`` (both keyed by rider id);
the page shows it once the console reads it back, so the topic is the one owner of what was done.

Access (:func:`make_app`): with ``RISKSTREAM_CONSOLE__TOKEN`` every request needs the token (a
bearer header, the cookie the page's ``?token=`` sets, or ``?token=`` itself); without one the
console listens on 127.0.0.1 only and answers only requests addressed to a loopback host name
(so another web site cannot reach it by DNS rebinding). A POST needs the ``X-Riskstream-Console``
header, which a cross-site form cannot send.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import signal
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError
from pydantic import ValidationError

from riskstream.cli.audit import history
from riskstream.console import page
from riskstream.console.state import OPEN, ConsoleState
from riskstream.contracts.errors import BrokerError, ConfigError
from riskstream.contracts.records import AuditRecord, SafetyAcknowledgement
from streams.kafka import consumer_kwargs, producer_kwargs
from streams.settings import Settings
from streams.topics import ensure_topics

log = logging.getLogger(__name__)

#: Topic roles the console reads, in the order their backlog is read at start.
ROLES = ("weather", "trip", "audit", "alerts", "escalations", "responses", "acknowledgements", "risk_scores", "dlq")
COOKIE = "riskstream_console"
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
_STATE_KEY: web.AppKey[Console] = web.AppKey("console")


class Console:
    """The console's state, its Kafka reader and writer, and the live-feed subscribers."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        c = settings.console
        self.state = ConsoleState(online_window_s=c.online_window_s, feed_size=c.feed_size,
                                  decisions_per_rider=c.decisions_per_rider, retain_s=c.rider_history_h * 3600)
        self.subscribers: set[asyncio.Queue[str]] = set()
        self.producer: AIOKafkaProducer | None = None
        self.ready = asyncio.Event()
        topics = settings.topics.by_role()
        self.role_of = {topics[role]: role for role in ROLES}

    # ------------------------------------------------------------------ reading

    async def follow(self, stop: asyncio.Event) -> None:
        """Read the backlog topic by topic, then every topic as records arrive, until ``stop``."""
        consumer = AIOKafkaConsumer(group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
                                    **consumer_kwargs(self.settings.kafka))
        await consumer.start()
        try:
            await consumer.topics()
            by_role = {role: [TopicPartition(t, p) for p in sorted(consumer.partitions_for_topic(t) or ())]
                       for t, role in self.role_of.items()}
            every = [tp for tps in by_role.values() for tp in tps]
            consumer.assign(every)
            end = await consumer.end_offsets(every)
            first = await consumer.beginning_offsets(every)
            position = {tp: max(first[tp], end[tp] - self.settings.console.backlog_records) for tp in every}
            for role in ROLES:  # the backlog in order: a zone's riders before its alerts, alerts before their answers
                left = {tp for tp in by_role[role] if end[tp] > position[tp]}
                for tp in by_role[role]:
                    consumer.seek(tp, position[tp])
                while left and not stop.is_set():
                    batches = await consumer.getmany(*left, timeout_ms=500)
                    for tp, messages in batches.items():
                        self._apply(role, [m.value for m in messages if m.offset < end[tp]])
                    for tp in list(left):
                        if await consumer.position(tp) >= end[tp]:
                            left.discard(tp)
                for tp in by_role[role]:
                    position[tp] = max(position[tp], min(await consumer.position(tp), end[tp]))
            for tp in every:
                consumer.seek(tp, position[tp])
            self.ready.set()
            self._publish([])
            log.info("console: read back %d records; following %s", sum(position[tp] - max(first[tp], end[tp] -
                     self.settings.console.backlog_records) for tp in every), ", ".join(sorted(self.role_of)))
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=500)
                items: list[dict[str, Any]] = []
                for tp, messages in batches.items():
                    items += self._apply(self.role_of[tp.topic], [m.value for m in messages])
                if batches:
                    self._publish(items)
        finally:
            await consumer.stop()

    def _apply(self, role: str, values: list[bytes | None]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for raw in values:
            try:
                value = json.loads(raw or b"")
            except ValueError:
                continue  # the worker dead-letters bad input; the console only skips it
            items += self.state.apply(role, value)
        return items

    def _publish(self, items: list[dict[str, Any]]) -> None:
        messages = ([f"event: feed\ndata: {json.dumps(items)}\n\n"] if items else []) + ["event: update\ndata: {}\n\n"]
        for queue in list(self.subscribers):
            for msg in messages:
                with contextlib.suppress(asyncio.QueueFull):  # a slow browser misses feed items, not the state
                    queue.put_nowait(msg)

    # ------------------------------------------------------------------ writing

    async def acknowledge(self, alert_id: str, action: str, by: str, note: str = "") -> SafetyAcknowledgement:
        """Write the safety team's action on an open question, and its audit record; raise ValueError if refused."""
        q = self.state.questions.get(alert_id)
        if q is None or q.status not in OPEN:
            raise LookupError(f"suspected fall {alert_id!r} is not open (answered, resolved or unknown); "
                              "reload the page")
        now = datetime.now(timezone.utc)
        ack = SafetyAcknowledgement(
            event_id=f"ack-{uuid.uuid4()}", ts=now, ack_id=str(uuid.uuid4()), alert_id=alert_id,
            escalation_id=q.escalation_id, rider_id=q.rider_id, action=action, by=by, note=note,  # type: ignore[arg-type]
        )
        done = "resolved" if action == "resolve" else "acknowledged"
        audit = AuditRecord(
            event_id=f"audit-{ack.ack_id}", ts=now, decision_id=ack.ack_id, decision_type="acknowledgement",
            rider_id=q.rider_id, outcome=f"suspected fall {done} by {by} on the safety console (alert {alert_id})",
            inputs={"question_age_s": round(max(0.0, self.state.clock - q.asked_at), 1)}, reasons=[],
            model_versions={},
        )
        if self.producer is None:
            raise BrokerError("the console's producer is not running")
        key = q.rider_id.encode()
        topics = self.settings.topics
        sent = [await self.producer.send(topics.acknowledgements, ack.model_dump_json().encode(), key=key),
                await self.producer.send(topics.audit, audit.model_dump_json().encode(), key=key)]
        await asyncio.gather(*sent)
        return ack

    def rider_lines(self, rider_id: str) -> list[str]:
        """The rider's decisions of the last hours of stream time, as ``riskstream audit`` says them, no inputs.

        From the audit records the console read (the newest ``decisions_per_rider`` of the rider).
        """
        hours = self.settings.console.rider_history_h
        since = (datetime.fromtimestamp(self.state.clock, timezone.utc) - timedelta(hours=hours)
                 if self.state.clock else None)
        records = []
        for value in self.state.decisions.get(rider_id, ()):
            with contextlib.suppress(ValueError):
                records.append(AuditRecord.model_validate(value))
        return [" | ".join(part for part in line.split(" | ") if not part.startswith("inputs: "))
                for line in history(records, rider_id, since=since)]


# ---------------------------------------------------------------------- the web app


def _token_given(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return auth[len("Bearer "):].strip()
    return request.cookies.get(COOKIE) or request.query.get("token")


def make_app(console: Console, token: str | None) -> web.Application:
    """The console's routes behind the access rules of the module docstring."""

    @web.middleware
    async def guard(request: web.Request,
                    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        if token is not None:
            given = _token_given(request)
            if given is None or not hmac.compare_digest(given.encode(), token.encode()):
                return web.Response(status=401, text="This console needs its access token "
                                    "(RISKSTREAM_CONSOLE__TOKEN): open it once as /?token=<token>.\n")
            if "token" in request.query and request.method == "GET":  # keep the token out of the address bar
                rest = {k: v for k, v in request.query.items() if k != "token"}
                found = web.Response(status=303, headers={"Location": request.path + (f"?{urlencode(rest)}" if rest
                                                                                       else "")})
                found.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/")
                return found
        elif (request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host) not in LOOPBACK_NAMES:
            return web.Response(status=403, text="Without RISKSTREAM_CONSOLE__TOKEN this console answers only "
                                "on loopback (127.0.0.1 or localhost).\n")
        if request.method == "POST" and request.headers.get("X-Riskstream-Console") != "1":
            return web.Response(status=403, text="POST needs the header X-Riskstream-Console: 1.\n")
        return await handler(request)

    async def headers(request: web.Request, response: web.StreamResponse) -> None:
        response.headers["Content-Security-Policy"] = ("default-src 'self'; script-src 'self'; style-src 'self'; "
                                                       "frame-ancestors 'none'")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"

    notice = ("Access needs the token (RISKSTREAM_CONSOLE__TOKEN)." if token is not None else
              "No RISKSTREAM_CONSOLE__TOKEN is set: this console listens on 127.0.0.1 only.")
    app = web.Application(middlewares=[guard], client_max_size=16 * 1024)
    app[_STATE_KEY] = console
    app.on_response_prepare.append(headers)

    async def index(request: web.Request) -> web.Response:
        return web.Response(text=page.page(notice), content_type="text/html")

    async def panels(request: web.Request) -> web.Response:
        return web.Response(text=page.panels(console.state.snapshot()), content_type="text/html")

    async def state(request: web.Request) -> web.Response:
        return web.json_response({**console.state.snapshot(), "ready": console.ready.is_set()})

    async def static(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name == "console.js":
            return web.Response(text=page.JS, content_type="application/javascript")
        if name == "console.css":
            return web.Response(text=page.CSS, content_type="text/css")
        raise web.HTTPNotFound()

    async def rider(request: web.Request) -> web.Response:
        rider_id = request.match_info["rider_id"]
        hours = console.settings.console.rider_history_h
        return web.Response(text=page.rider_page(rider_id, console.rider_lines(rider_id), hours),
                            content_type="text/html")

    async def ack(request: web.Request) -> web.Response:
        try:
            body = await request.json()
            done = await console.acknowledge(str(body["alert_id"]), str(body["action"]),
                                             str(body.get("by") or "").strip(), str(body.get("note") or ""))
        except (ValueError, KeyError, TypeError) as exc:
            text = (exc.errors()[0]["loc"][0].__str__() + ": " + exc.errors()[0]["msg"]
                    if isinstance(exc, ValidationError) else f"{exc.__class__.__name__}: {exc}")
            return web.Response(status=400, text=f"the action was not written: {text}. Send JSON with alert_id, "
                                "action (acknowledge or resolve) and by (your name, 1-64 characters).\n")
        except LookupError as exc:
            return web.Response(status=409, text=f"{exc}\n")
        return web.json_response({"ack_id": done.ack_id, "action": done.action}, status=202)

    async def events(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=200)
        console.subscribers.add(queue)
        try:
            while True:
                try:
                    msg = await asyncio.wait_for(queue.get(), 15.0)
                except TimeoutError:
                    msg = ": keep-alive\n\n"
                await response.write(msg.encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            console.subscribers.discard(queue)
        return response

    app.router.add_get("/", index)
    app.router.add_get("/panels", panels)
    app.router.add_get("/api/state", state)
    app.router.add_get("/static/{name}", static)
    app.router.add_get("/rider/{rider_id}", rider)
    app.router.add_post("/api/ack", ack)
    app.router.add_get("/events", events)
    return app


def listen_address(settings: Settings) -> tuple[str, int, str]:
    """(host, port, what to tell the user): without a token, loopback only whatever the host setting says.

    >>> listen_address(Settings())[0:2]
    ('127.0.0.1', 8090)
    """
    c = settings.console
    if c.token is None:
        why = ("no RISKSTREAM_CONSOLE__TOKEN is set, so the console listens on 127.0.0.1 only"
               + (f" (not on {c.host})" if c.host not in ("127.0.0.1", "localhost") else "")
               + "; set a token to open it to others")
        return "127.0.0.1", c.port, why
    if not c.token.get_secret_value().strip():
        raise ConfigError("RISKSTREAM_CONSOLE__TOKEN is empty: unset it (loopback only) or set it to a random value, "
                          "e.g. from `python -c 'import secrets; print(secrets.token_urlsafe(32))'`")
    return c.host, c.port, "every request needs RISKSTREAM_CONSOLE__TOKEN (open the page once as /?token=<token>)"


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    """Run the console until ``stop``; raise :class:`BrokerError` if the broker is not reachable."""
    host, port, why = listen_address(settings)
    await ensure_topics(settings)
    console = Console(settings)
    console.producer = AIOKafkaProducer(**producer_kwargs(settings.kafka))
    try:
        await console.producer.start()
    except (KafkaConnectionError, OSError) as exc:
        raise BrokerError(f"RISKSTREAM_KAFKA__BROKER is not reachable at {settings.kafka.bootstrap_servers} "
                          f"({exc.__class__.__name__})") from None
    token = settings.console.token.get_secret_value() if settings.console.token else None
    runner = web.AppRunner(make_app(console, token), access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    reader = asyncio.create_task(console.follow(stop))
    try:
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            raise BrokerError(f"the console cannot listen on {host}:{port} ({exc.strerror}); stop what uses it "
                              "or set RISKSTREAM_CONSOLE__PORT") from None
        print(f"riskstream console on http://{host}:{port}/ — {why}", flush=True)
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait({reader, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if reader.done() and reader.exception() is not None:
            raise BrokerError(f"the console stopped reading the topics: {reader.exception()!r}")
    finally:
        stop.set()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
        await runner.cleanup()
        await console.producer.stop()


def run_console(settings: Settings) -> int:
    """The ``riskstream console`` command: serve until SIGINT or SIGTERM."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop)

    asyncio.run(main())
    return 0
