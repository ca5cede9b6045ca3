"""``riskstream demo``: broker, worker, simulator, the safety console and a live summary, with no configuration.

Starts the embedded broker on 127.0.0.1:9092, a worker process serving metrics on 127.0.0.1:9464
and the safety console (``riskstream console``, http://127.0.0.1:8090/), produces a simulated
fleet paced by event time, and keeps a short summary on the terminal (:class:`LiveSummary`: redrawn
in place on a terminal, printed every 10 s otherwise), then a final summary. Every child process is
stopped on exit, on ``--duration`` or on Ctrl-C.

The embedded broker keeps everything in memory. If it stops or restarts during the demo
(the worker then stops with exit status 3, see :mod:`streams.worker`), the demo does not
restart anything: it stops at once, says what happened and what to do (run it again), and
exits non-zero.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from riskstream.contracts.errors import BrokerError
from streams.broker import EmbeddedBroker, kafka_metadata_ok, port_is_free
from streams.metrics import metric_value, scrape
from streams.settings import Settings
from streams.topics import ensure_topics
from streams.worker import EXIT_BROKER_LOST

RUN_DIR = Path(".riskstream/demo")


@dataclass(frozen=True)
class DemoOptions:
    duration_s: float = 90.0
    riders: int = 50
    seed: int = 7
    speed: float = 20.0
    scenario: str = "mixed"
    malformed_rate: float = 0.002


class LiveSummary:
    """The terminal view: a few lines summing up the run, redrawn in place (a terminal) or printed every so often.

    Fed from the console's ``/api/state`` (the same state the web page shows) and the worker's metrics:
    events per second, alerts by kind and severity, premium signals, the hottest zones, open suspected
    falls, and dead letters as one counting line with the latest reason.

    >>> import io
    >>> out = io.StringIO()
    >>> view = LiveSummary("http://127.0.0.1:8090/", out=out, tty=False)
    >>> view.update({"clock": 1784080800.0, "alerts_by_kind": {"heat/warning": 3, "fall/danger": 1},
    ...     "premium_signals": 9, "dead_letters": 4, "dead_letter_latest": "invalid_json: Expecting value",
    ...     "zones": [{"zone_id": "z1", "heat_index_c": 41.2, "heat_category": "danger", "riders_online": 7,
    ...                "alerts_last_hour": 3}],
    ...     "open_questions": [{"rider_id": "r9", "zone_id": "z1", "status": "escalated", "age_s": 130}],
    ...     "latest_alert": {"rider_id": "r2", "en": "Rest 15 min in the shade", "zh-CN": "请休息 15 分钟"}},
    ...     consumed=1200, elapsed=10.0)
    >>> print(out.getvalue().rstrip())
    --- riskstream demo, 10 s: console http://127.0.0.1:8090/ ---
    stream time    2026-07-15 02:00 UTC
    events         1,200 processed (120/s)
    alerts         4: heat/warning 3, fall/danger 1
    premium        9 signals to insurers
    top zones      z1 heat index 41 °C (danger), 7 riders online, 3 alerts in the last hour
    open falls     1 (1 escalated): r9 in z1 for 2 min 10 s, escalated
    dead letters   4 (latest: invalid_json: Expecting value)
    latest alert   r2: Rest 15 min in the shade / 请休息 15 分钟
    """

    def __init__(self, console_url: str, out=sys.stdout, tty: bool | None = None) -> None:  # noqa: ANN001
        self.console_url = console_url
        self.out = out
        self.tty = out.isatty() if tty is None else tty
        self.state: dict = {}
        self._drawn = 0
        self._last: tuple[float, float] | None = None  # (elapsed, consumed) of the previous update

    def lines(self, consumed: float, elapsed: float) -> list[str]:
        s = self.state
        rate = consumed / max(elapsed, 1e-9)
        if self._last is not None and elapsed > self._last[0]:
            rate = (consumed - self._last[1]) / (elapsed - self._last[0])
        alerts = s.get("alerts_by_kind", {})
        by_kind = ", ".join(f"{k} {n}" for k, n in sorted(alerts.items(), key=lambda kv: -kv[1]))
        zones = sorted(s.get("zones", []), key=lambda z: (-(z.get("heat_index_c") or -99), z["zone_id"]))[:3]
        top = " · ".join(
            f"{z['zone_id']} heat index {z['heat_index_c']:.0f} °C ({z['heat_category']}), "
            f"{z['riders_online']} riders online, {z['alerts_last_hour']} alerts in the last hour"
            for z in zones if z.get("heat_index_c") is not None) or "no zone weather yet"
        qs = s.get("open_questions", [])
        escalated = sum(q["status"] == "escalated" for q in qs)
        falls = f"{len(qs)} ({escalated} escalated)" + (": " + ", ".join(
            f"{q['rider_id']} in {q['zone_id'] or '?'} for {_age(q['age_s'])}, {q['status']}" for q in qs[:3])
            if qs else "")
        latest = s.get("latest_alert") or {}
        clock = s.get("clock") or 0
        return [
            f"--- riskstream demo, {elapsed:.0f} s: console {self.console_url} ---",
            f"stream time    {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(clock)) if clock else 'no events yet'}",
            f"events         {consumed:,.0f} processed ({rate:,.0f}/s)",
            f"alerts         {sum(alerts.values())}" + (f": {by_kind}" if by_kind else ""),
            f"premium        {s.get('premium_signals', 0)} signals to insurers",
            f"top zones      {top}",
            f"open falls     {falls}",
            f"dead letters   {s.get('dead_letters', 0)}"
            + (f" (latest: {s['dead_letter_latest']})" if s.get("dead_letter_latest") else ""),
            "latest alert   " + (f"{latest.get('rider_id')}: {latest.get('en', '')} / {latest.get('zh-CN', '')}"
                                 if latest else "none yet"),
        ]

    def update(self, state: dict | None, consumed: float, elapsed: float) -> None:
        if state is not None:
            self.state = state
        lines = self.lines(consumed, elapsed)
        self._last = (elapsed, consumed)
        if self.tty and self._drawn:
            print(f"\x1b[{self._drawn}F\x1b[J", end="", file=self.out)  # back to the first line, clear below
        print("\n".join(lines), file=self.out, flush=True)
        self._drawn = len(lines)


def _age(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 60} min {s % 60} s" if s >= 60 else f"{s} s"


def console_state(url: str, timeout: float = 2.0) -> dict | None:
    """The console's ``/api/state``, or None while it does not answer."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}api/state", timeout=timeout) as resp:
            return json.loads(resp.read())
    except (OSError, ValueError):
        return None


def start_child(command: str, settings_env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """``riskstream <command>`` as a child process in its own session, its output in ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_file = open(log_path, "wb")  # noqa: SIM115 - owned by the child
    return subprocess.Popen(
        [sys.executable, "-m", "riskstream.cli.main", command], env={**os.environ, **settings_env},
        stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
    )


def start_worker(settings_env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    return start_child("worker", settings_env, log_path)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def wait_for_metrics(port: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BrokerError(f"the worker exited with code {proc.returncode}; see {RUN_DIR / 'worker.log'}")
        if scrape(port) is not None:
            return
        time.sleep(0.3)
    raise BrokerError(f"the worker did not serve metrics on port {port} within {timeout:.0f} s")


def wait_for_console(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BrokerError(f"the console exited with code {proc.returncode}; see {RUN_DIR / 'console.log'}")
        if console_state(url) is not None:
            return
        time.sleep(0.3)
    raise BrokerError(f"the console did not answer at {url} within {timeout:.0f} s; see {RUN_DIR / 'console.log'}")


def run_demo(opts: DemoOptions) -> int:
    from riskstream.console.server import listen_address
    from riskstream.simulation import FleetSimulator, SimConfig

    settings = Settings()
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    if settings.metrics.port and not port_is_free(settings.metrics.host, settings.metrics.port):
        raise BrokerError(
            f"port {settings.metrics.port} for the worker's metrics is taken (another worker or demo running?); "
            f"stop it or set RISKSTREAM_METRICS__PORT to a free port"
        )
    console_host, console_port, _ = listen_address(settings)
    if not port_is_free(console_host, console_port):
        raise BrokerError(f"port {console_port} for the console is taken (another console or demo running?); stop it "
                          "or set RISKSTREAM_CONSOLE__PORT to a free port")
    console_url = f"http://127.0.0.1:{console_port}/"
    host, port = settings.kafka.bootstrap_servers.split(",")[0].rsplit(":", 1)
    broker: EmbeddedBroker | None = None
    if kafka_metadata_ok(host, int(port)):
        print(f"using the broker already running at {host}:{port}")
    else:
        broker = EmbeddedBroker(host, int(port), log_path=RUN_DIR / "broker.log").start()
        print(f"embedded broker (Tansu) on {host}:{port}")
    worker = console = None
    view = LiveSummary(console_url)
    started = time.monotonic()
    produced, stopped_by = 0, None
    try:
        asyncio.run(ensure_topics(settings))
        # a fresh state dir per run: the embedded broker forgets everything when it stops
        state_dir = RUN_DIR / f"state-{int(time.time())}"
        worker = start_worker({"RISKSTREAM_WORKER__STATE_DIR": str(state_dir)}, RUN_DIR / "worker.log")
        console = start_child("console", {}, RUN_DIR / "console.log")
        wait_for_metrics(settings.metrics.port, worker)
        wait_for_console(console_url, console)
        print(f"worker running; metrics on http://127.0.0.1:{settings.metrics.port}/metrics")
        print(f"safety console on {console_url} (open it in a browser)")
        print(f"simulating {opts.riders} riders at {opts.speed:g}x for {opts.duration_s:g} s (Ctrl-C stops); "
              f"logs in {RUN_DIR}/\n", flush=True)
        sim = FleetSimulator(SimConfig(riders=opts.riders, seed=opts.seed, scenario=opts.scenario,
                                       malformed_rate=opts.malformed_rate))
        produced, stopped_by = asyncio.run(_run(settings, sim, opts, view, worker, broker, started))
    except KeyboardInterrupt:
        print("\nstopping…")
    finally:
        final = scrape(settings.metrics.port) or ""
        last = console_state(console_url) if console is not None else None
        for child in (console, worker):
            if child is not None:
                stop_process(child)
        if broker is not None:
            broker.stop()
    if last is not None:
        view.state = last
    _summary(view, final, produced, time.monotonic() - started)
    if stopped_by:
        print(f"\nthe demo stopped early: {stopped_by}", file=sys.stderr, flush=True)
        return 1
    return 0


def what_stopped(worker: subprocess.Popen[bytes], broker: EmbeddedBroker | None, bootstrap: str) -> str | None:
    """Why the demo cannot go on (a child ended), or None while the worker and our broker run."""
    if broker is not None and broker.process is not None and broker.process.poll() is not None:
        return (f"the embedded broker exited with code {broker.process.returncode} (see {RUN_DIR / 'broker.log'}); "
                "it kept everything in memory, so the demo's data is gone. Run `riskstream demo` again to start over")
    if worker.poll() is None:
        return None
    if worker.returncode == EXIT_BROKER_LOST:
        return (f"the broker at {bootstrap} restarted and lost every topic, offset and rider state (the embedded "
                f"broker keeps them in memory only), so the worker stopped (see {RUN_DIR / 'worker.log'}). "
                "Run `riskstream demo` again to start over")
    return f"the worker exited with code {worker.returncode}; see {RUN_DIR / 'worker.log'}"


#: Seconds between redraws of the live summary on a terminal, and between printed summaries otherwise.
REFRESH_TTY_S, REFRESH_LOG_S = 2.0, 10.0


async def _run(settings: Settings, sim, opts: DemoOptions, view: LiveSummary,  # noqa: ANN001
               worker: subprocess.Popen[bytes], broker: EmbeddedBroker | None,
               started: float) -> tuple[int, str | None]:
    """Produce and show for ``opts.duration_s``; return the records produced and why the demo stopped early."""
    from riskstream.cli.producer import ProduceStats, produce

    stats = ProduceStats()
    producer = asyncio.create_task(
        produce(settings, sim.records(opts.duration_s * opts.speed * 2), speed=opts.speed, stats=stats)
    )

    async def supervise() -> str:
        while (reason := what_stopped(worker, broker, settings.kafka.bootstrap_servers)) is None:
            await asyncio.sleep(0.5)
        return reason

    async def show() -> None:
        every = REFRESH_TTY_S if view.tty else REFRESH_LOG_S
        while True:
            await asyncio.sleep(every)
            state, text = await asyncio.gather(asyncio.to_thread(console_state, view.console_url),
                                               asyncio.to_thread(scrape, settings.metrics.port))
            consumed = metric_value(text or "", "riskstream_records_consumed_total")
            view.update(state, consumed, time.monotonic() - started)

    supervisor = asyncio.create_task(supervise())
    shower = asyncio.create_task(show())
    stopped_by = None
    try:
        await asyncio.wait({producer, supervisor}, timeout=opts.duration_s, return_when=asyncio.FIRST_COMPLETED)
        if supervisor.done():
            stopped_by = supervisor.result()
    finally:
        for task in (producer, supervisor):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if stopped_by is None:
            await asyncio.sleep(2.0)  # let the last outputs arrive
        shower.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await shower
    return stats.records, stopped_by


def _summary(view: LiveSummary, final: str, produced: int, elapsed: float) -> None:
    consumed = metric_value(final, "riskstream_records_consumed_total")
    dlq = metric_value(final, "riskstream_dead_letters_total")
    s = view.state
    alerts = s.get("alerts_by_kind", {})
    print("\n=== summary ===")
    print(f"records produced      {produced:,}")
    print(f"records processed     {consumed:,.0f}  ({consumed / max(elapsed, 1e-9):,.0f}/s over {elapsed:.0f} s)")
    print(f"dead letters          {dlq:,.0f}" + (f"  (latest: {s['dead_letter_latest']})"
                                                 if s.get("dead_letter_latest") else ""))
    print(f"alerts                {sum(alerts.values())}  {dict(sorted(alerts.items()))}")
    print(f"premium signals       {s.get('premium_signals', 0)}")
    print(f"open falls            {len(s.get('open_questions', []))}")
    if latest := s.get("latest_alert"):
        print(f"latest alert          {latest.get('rider_id')}: {latest.get('en', '')}")
        print(f"                      {latest.get('zh-CN', '')}")
