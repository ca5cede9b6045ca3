"""``riskstream demo``: broker, worker, simulator and a console view, with no configuration.

Starts the embedded broker on 127.0.0.1:9092 and a worker process serving metrics on
127.0.0.1:9464, produces a simulated fleet paced by event time, prints alerts and premium
signals as they arrive, and ends with a summary. Every child process is stopped on exit,
on ``--duration`` or on Ctrl-C.

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
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from riskstream.contracts.errors import BrokerError
from streams.broker import EmbeddedBroker, kafka_metadata_ok, port_is_free
from streams.kafka import consumer_kwargs
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


class ConsoleView:
    """Prints rider alerts, premium signals and dead letters as they arrive, and counts them."""

    def __init__(self, out=sys.stdout) -> None:  # noqa: ANN001
        self.out = out
        self.alerts: Counter[str] = Counter()
        self.premiums = 0
        self.dead_letters: Counter[str] = Counter()

    def show(self, topic_role: str, value: bytes) -> None:
        data = json.loads(value)
        if topic_role == "alerts":
            self.alerts[f"{data['kind']}/{data['severity']}"] += 1
            self._print(f"ALERT   {data['rider_id']:<8} {data['severity']:<7} {data['message'].get('en', '')}")
            self._print(f"        {'':<8} {'':<7} {data['message'].get('zh-CN', '')}")
        elif topic_role == "risk_scores":
            self.premiums += 1
            reasons = ", ".join(r["code"] for r in data.get("reasons", [])[:3])
            self._print(
                f"PREMIUM {data['rider_pseudonym'][:8]} band={data['risk_band']:<8} "
                f"risk={data['risk_score']:.3f} x{data['premium_multiplier']:.3f} ({reasons})"
            )
        elif topic_role == "dlq":
            self.dead_letters[data["error_class"]] += 1
            self._print(f"DLQ     {data['source_topic']}[{data['partition']}]@{data['offset']}: "
                        f"{data['error_class']}: {data['reason'][:80]}")

    def _print(self, line: str) -> None:
        print(line, file=self.out, flush=True)


async def watch(settings: Settings, view: ConsoleView, stop: asyncio.Event) -> None:
    roles = {settings.topics.alerts: "alerts", settings.topics.risk_scores: "risk_scores",
             settings.topics.dlq: "dlq"}
    consumer = AIOKafkaConsumer(*roles, auto_offset_reset="earliest", enable_auto_commit=False,
                                group_id=None, **consumer_kwargs(settings.kafka))
    await consumer.start()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=300)
            for tp, messages in batches.items():
                for msg in messages:
                    view.show(roles[tp.topic], msg.value)
    finally:
        await consumer.stop()


def start_worker(settings_env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_file = open(log_path, "wb")  # noqa: SIM115 - owned by the child
    return subprocess.Popen(
        [sys.executable, "-m", "riskstream.cli.main", "worker"], env={**os.environ, **settings_env},
        stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
    )


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


def run_demo(opts: DemoOptions) -> int:
    from riskstream.simulation import FleetSimulator, SimConfig

    settings = Settings()
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    if settings.metrics.port and not port_is_free(settings.metrics.host, settings.metrics.port):
        raise BrokerError(
            f"port {settings.metrics.port} for the worker's metrics is taken (another worker or demo running?); "
            f"stop it or set RISKSTREAM_METRICS__PORT to a free port"
        )
    host, port = settings.kafka.bootstrap_servers.split(",")[0].rsplit(":", 1)
    broker: EmbeddedBroker | None = None
    if kafka_metadata_ok(host, int(port)):
        print(f"using the broker already running at {host}:{port}")
    else:
        broker = EmbeddedBroker(host, int(port), log_path=RUN_DIR / "broker.log").start()
        print(f"embedded broker (Tansu) on {host}:{port}")
    worker = None
    view = ConsoleView()
    started = time.monotonic()
    produced, stopped_by = 0, None
    try:
        asyncio.run(ensure_topics(settings))
        # a fresh state dir per run: the embedded broker forgets everything when it stops
        state_dir = RUN_DIR / f"state-{int(time.time())}"
        worker = start_worker({"RISKSTREAM_WORKER__STATE_DIR": str(state_dir)}, RUN_DIR / "worker.log")
        wait_for_metrics(settings.metrics.port, worker)
        print(f"worker running; metrics on http://127.0.0.1:{settings.metrics.port}/metrics; "
              f"simulating {opts.riders} riders at {opts.speed:g}x for {opts.duration_s:g} s (Ctrl-C stops)\n")
        sim = FleetSimulator(SimConfig(riders=opts.riders, seed=opts.seed, scenario=opts.scenario,
                                       malformed_rate=opts.malformed_rate))
        produced, stopped_by = asyncio.run(_run(settings, sim, opts, view, worker, broker))
    except KeyboardInterrupt:
        print("\nstopping…")
    finally:
        final = scrape(settings.metrics.port) or ""
        if worker is not None:
            stop_process(worker)
        if broker is not None:
            broker.stop()
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


async def _run(settings: Settings, sim, opts: DemoOptions, view: ConsoleView,  # noqa: ANN001
               worker: subprocess.Popen[bytes], broker: EmbeddedBroker | None) -> tuple[int, str | None]:
    """Produce and show for ``opts.duration_s``; return the records produced and why the demo stopped early."""
    from riskstream.cli.producer import ProduceStats, produce

    stop = asyncio.Event()
    stats = ProduceStats()
    watcher = asyncio.create_task(watch(settings, view, stop))
    producer = asyncio.create_task(
        produce(settings, sim.records(opts.duration_s * opts.speed * 2), speed=opts.speed, stats=stats)
    )

    async def supervise() -> str:
        while (reason := what_stopped(worker, broker, settings.kafka.bootstrap_servers)) is None:
            await asyncio.sleep(0.5)
        return reason

    supervisor = asyncio.create_task(supervise())
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
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(watcher, 5.0)
    return stats.records, stopped_by


def _summary(view: ConsoleView, final: str, produced: int, elapsed: float) -> None:
    consumed = metric_value(final, "riskstream_records_consumed_total")
    dlq = metric_value(final, "riskstream_dead_letters_total")
    print("\n=== summary ===")
    print(f"records produced      {produced:,}")
    print(f"records processed     {consumed:,.0f}  ({consumed / max(elapsed, 1e-9):,.0f}/s over {elapsed:.0f} s)")
    print(f"dead letters          {dlq:,.0f}  {dict(view.dead_letters)}")
    print(f"alerts                {sum(view.alerts.values())}  {dict(view.alerts)}")
    print(f"premium signals       {view.premiums}")
