"""Baseline for bench_pipeline.py: a no-op quixstreams application reading the readings one per message.

The layout a platform would use without envelopes. Each value is decoded from JSON (quixstreams'
default deserializer) and counted; nothing else. Run by the benchmark in the interpreter that has
quixstreams (``make bench-venv``: its pins would downgrade the project's pydantic), so this file
imports nothing of riskstream. Configured by environment: QUIX_BROKER, QUIX_TOPICS (comma-separated),
QUIX_EXPECT (records), QUIX_OUT (JSON result file), QUIX_GROUP (consumer group).
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from quixstreams import Application


def main() -> None:
    out = Path(os.environ["QUIX_OUT"])
    expect = int(os.environ["QUIX_EXPECT"])
    app = Application(broker_address=os.environ["QUIX_BROKER"], consumer_group=os.environ["QUIX_GROUP"],
                      auto_offset_reset="earliest", loglevel=logging.WARNING, auto_create_topics=False,
                      use_changelog_topics=False)
    seen = {"n": 0, "first": 0.0}

    def count(value: object) -> None:
        if not seen["n"]:
            seen["first"] = time.monotonic()
        seen["n"] += 1
        if seen["n"] == expect:
            out.write_text(json.dumps({"records": seen["n"], "seconds": time.monotonic() - seen["first"]}))
            app.stop()

    for name in os.environ["QUIX_TOPICS"].split(","):
        app.dataframe(app.topic(name, value_deserializer="json")).update(count)
    app.run()


if __name__ == "__main__":
    main()
