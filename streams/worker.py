"""Run the Faust worker: create topics, serve metrics, start the app."""

from __future__ import annotations

import asyncio
import logging

from streams import metrics
from streams.settings import Settings
from streams.topics import ensure_topics

log = logging.getLogger(__name__)


def run_worker(settings: Settings, loglevel: str | None = None) -> int:
    import faust
    import mode

    settings.check_secrets("privacy.hmac_key")  # before anything connects: refuse demo keys in production
    try:
        mode.loop.use("uvloop")
    except Exception:  # uvloop is optional; the default loop works
        log.info("uvloop not available, using the default asyncio loop")
    asyncio.run(ensure_topics(settings))
    settings.worker.state_dir.mkdir(parents=True, exist_ok=True)

    from streams.app import create_app

    app = create_app(settings)
    metrics.serve(settings.metrics.host, settings.metrics.port)
    log.info("metrics on http://%s:%d/metrics", settings.metrics.host, settings.metrics.port)
    worker = faust.Worker(app, loglevel=loglevel or settings.worker.log_level, quiet=True)
    worker.execute_from_commandline()  # returns via SystemExit on stop
    return 0
