"""The real riskstream app whose processor, while the file ``$FORGET_FILE`` exists, drops every rider batch
unapplied: the records are acknowledged and their offsets committed, but no rider state absorbs them.

Run as ``python -m tests.integration.forgetful_app worker`` with the worker's ``RISKSTREAM_*`` environment. It
stands for whatever moves a committed offset past records in no state (issue 12: a commit that ran ahead, a
recovery that missed the last state writes); the worker that recovers the partitions next must read them again.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

FORGET_MARK = "forgetful_app: dropped a batch unapplied"


def main() -> None:
    from streams.batch import BatchResult, RawRecord
    from streams.processor import Processor
    from tests.integration.failing_app import run_worker

    marker = Path(os.environ["FORGET_FILE"])

    class ForgetfulProcessor(Processor):
        def process_batch(self, batch: Iterable[RawRecord]) -> BatchResult:
            records = list(batch)
            if marker.exists():
                logging.getLogger("forgetful_app").warning("%s (%d records)", FORGET_MARK, len(records))
                return BatchResult()
            return super().process_batch(records)

    run_worker(ForgetfulProcessor)


if __name__ == "__main__":
    main()
