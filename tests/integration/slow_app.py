"""The real riskstream app whose sends stall for a while in a batch that holds a record keyed ``SLOW_KEY``.

Run as ``python -m tests.integration.slow_app`` with the worker's ``RISKSTREAM_*`` environment. It logs
``SLOW_MARK`` when the stall begins, before the batch's outputs are sent and its states written, so a test
can stop the worker (SIGTERM) while the batch is half-way: the case where Faust acked and committed a batch
that was never applied (issue 12).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable

SLOW_KEY = b"rider-slow-batch"
SLOW_MARK = "slow_app: stalling this batch's sends"
STALL_S = 6.0


def main() -> None:
    from streams import app as app_module
    from streams.batch import BatchResult, RawRecord
    from streams.processor import Processor
    from tests.integration.failing_app import run_worker

    stall: dict[str, object] = {"now": False, "app": None}

    class SlowProcessor(Processor):
        def process_batch(self, batch: Iterable[RawRecord]) -> BatchResult:
            records = list(batch)
            stall["now"] = any(rec.key == SLOW_KEY for rec in records)
            return super().process_batch(records)

    send = app_module.KafkaSink.send

    async def slow_send(self: app_module.KafkaSink, role: str, key: str, value: bytes) -> None:
        if stall["now"]:
            stall["now"] = False
            logging.getLogger("slow_app").warning(SLOW_MARK)
            if os.environ.get("SLOW_APP_CRASH"):  # a Faust service crashes meanwhile, as recovery did in issue 12
                asyncio.get_running_loop().call_later(0.5, lambda: asyncio.ensure_future(
                    stall["app"].tables.recovery.crash(  # type: ignore[attr-defined]
                        ValueError("injected by slow_app: Offset must be a positive integer"))))
            await asyncio.sleep(STALL_S)
        await send(self, role, key, value)

    app_module.KafkaSink.send = slow_send  # type: ignore[method-assign]
    run_worker(SlowProcessor, on_app=lambda app: stall.__setitem__("app", app))


if __name__ == "__main__":
    main()
