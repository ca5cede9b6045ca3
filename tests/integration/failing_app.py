"""The real riskstream app whose processor fails once a batch holds a record keyed ``FAIL_KEY``.

Run as ``python -m tests.integration.failing_app`` with the worker's ``RISKSTREAM_*`` environment.
The failure comes after the batch was processed, where a table write or send would fail: it is
not any record's fault, so the worker must stop before the batch's offsets are committed. The
crash-only test then starts the ordinary worker on the same group and looks for that batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

FAIL_KEY = b"rider-fail-after-processing"


def main() -> None:
    from streams.batch import BatchResult, RawRecord
    from streams.processor import Processor

    class FailingProcessor(Processor):
        def process_batch(self, batch: Iterable[RawRecord]) -> BatchResult:
            records = list(batch)
            result = super().process_batch(records)
            if any(rec.key == FAIL_KEY for rec in records):
                raise OSError("injected by tests.integration.failing_app: the state write failed")
            return result

    run_worker(FailingProcessor)


def run_worker(processor_class: type, on_app: Callable[[object], None] | None = None) -> None:
    """Run the real riskstream app with ``processor_class`` as its processor, as ``riskstream worker`` would
    (``on_app`` sees the app before it starts)."""
    import faust

    from streams.app import create_app
    from streams.settings import Settings
    from streams.topics import ensure_topics

    settings = Settings()
    asyncio.run(ensure_topics(settings))
    settings.worker.state_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(settings, processor=processor_class(settings))
    if on_app is not None:
        on_app(app)
    faust.Worker(app, loglevel="info", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
