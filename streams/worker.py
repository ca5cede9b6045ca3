"""Run the Faust worker: create topics, serve metrics, start the app, and stop if the broker lost its data."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
import threading
from typing import Any

from streams import metrics
from streams.settings import Settings
from streams.topics import BrokerWatch, broker_lost_message, ensure_topics

log = logging.getLogger(__name__)

#: Exit status of a worker that stopped because the broker lost its topics (see ``watch_broker``).
EXIT_BROKER_LOST = 3
#: Allocations (net of frees) between two young-generation collections in the worker; Python's default is 700. The
#: worker allocates per reading and holds every rider's state, so collections are frequent and the older ones walk a
#: large heap: ``python -m benchmarks.bench_processor --gc default`` against ``--gc worker`` shows the CPU it costs.
GC_YOUNG_THRESHOLD = 10_000


def run_worker(settings: Settings, loglevel: str | None = None) -> int:
    import faust

    settings.check_secrets("privacy.hmac_key")  # before anything connects: refuse demo keys in production
    use_event_loop(settings.worker.event_loop)
    collect_less_often()
    asyncio.run(ensure_topics(settings))
    settings.worker.state_dir.mkdir(parents=True, exist_ok=True)

    from streams.app import create_app

    app = create_app(settings)
    watch = watch_broker(app, settings)
    metrics.serve(settings.metrics.host, settings.metrics.port)
    log.info("metrics on http://%s:%d/metrics", settings.metrics.host, settings.metrics.port)
    worker = faust.Worker(app, loglevel=loglevel or settings.worker.log_level, quiet=True)
    try:
        worker.execute_from_commandline()  # returns via SystemExit on stop
    except SystemExit as stopped:
        # Faust may crash on the lost broker (ConsistencyError) before the watch looked: say why all the same
        if stopped.code not in (0, None):
            changes = asyncio.run(watch.copy().look_once())
            if changes:
                _report_broker_lost(settings, changes, to_stderr=True)
                return EXIT_BROKER_LOST
        raise
    return 0


def collect_less_often() -> None:
    """Run the cyclic garbage collector's young generation every :data:`GC_YOUNG_THRESHOLD` allocations, not 700
    (the older generations keep their thresholds). Memory is freed by reference counting as before; only cycles wait
    longer. Process-wide: the worker's, and a benchmark's that measures the processor as the worker runs it.

    >>> import gc
    >>> before = gc.get_threshold(); collect_less_often(); gc.get_threshold()[0]
    10000
    >>> gc.set_threshold(*before)
    """
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def use_event_loop(name: str) -> str:
    """Make ``name`` (``worker.event_loop``: uvloop or asyncio) the loop of every ``asyncio.run`` and of Faust's
    worker from here on, and return the loop in use: asyncio's when uvloop is asked for and not installed (said
    in the log at warning level).

    >>> use_event_loop("asyncio")
    'asyncio'
    """
    if name == "uvloop":
        try:
            import uvloop
        except ImportError:
            log.warning("worker.event_loop is uvloop but uvloop is not installed (it is not on Windows): running on "
                        "asyncio's loop; install uvloop or set RISKSTREAM_WORKER__EVENT_LOOP=asyncio")
        else:
            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())  # what mode.loop.use("uvloop") does
            log.info("event loop: uvloop %s", uvloop.__version__)
            return "uvloop"
    asyncio.set_event_loop_policy(None)  # asyncio's default policy
    return "asyncio"


def _report_broker_lost(settings: Settings, changes: list[str], to_stderr: bool = False) -> None:
    message = broker_lost_message(settings.kafka.bootstrap_servers, changes)
    log.critical("%s", message)
    if to_stderr:  # after Faust stopped; while it runs, it sends stderr to the log already
        print(f"riskstream worker: {message}", file=sys.stderr, flush=True)


def watch_broker(app: Any, settings: Settings) -> BrokerWatch:
    """Look at the broker now, then every ``broker_check_interval_s`` from a thread of its own.

    When the broker lost riskstream's topics (a restarted embedded broker answers again with
    nothing), the process stops at once with a message and :data:`EXIT_BROKER_LOST`. Running
    on would meet Faust's ConsistencyError on the next rebalance, or hang in a rebalance over
    missing topics, or carry on with offsets and state the broker no longer has. The thread
    does not depend on Faust's start-up having finished (its timers do), and a graceful stop
    would talk to that broker (commit offsets, leave the group), so it ends with ``os._exit``
    after the message is written.
    """
    internal = {table.changelog_topic.get_topic_name(): table.partitions or settings.topics.partitions
                for table in app.tables.values()}
    watch = BrokerWatch(settings, internal)
    asyncio.run(watch.look_once())  # right after ensure_topics: the broker every later look is compared with

    async def look_every_interval() -> None:
        watcher = watch.copy()
        try:
            while True:
                await asyncio.sleep(settings.worker.broker_check_interval_s)
                changes = await watcher.lost()
                if changes:
                    _report_broker_lost(settings, changes)
                    logging.shutdown()
                    os._exit(EXIT_BROKER_LOST)
        finally:
            await watcher.close()

    threading.Thread(target=asyncio.run, args=(look_every_interval(),), name="broker-watch", daemon=True).start()
    return watch
