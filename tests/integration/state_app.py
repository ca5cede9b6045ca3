"""A minimal Faust app for the changelog-recovery test: counts records per key in a table.

Run as ``python -m tests.integration.state_app worker``; configured by environment:
STATE_BROKER, STATE_TOPIC, STATE_DUMP (JSON file the counts are written to), STATE_DATADIR.
It uses riskstream's own Faust settings, so the embedded-broker profile is what is tested.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import faust

from streams.kafka import faust_settings
from streams.settings import KafkaSettings, Settings, WorkerSettings

settings = Settings(
    kafka=KafkaSettings(broker=os.environ["STATE_BROKER"]),
    worker=WorkerSettings(state_dir=Path(os.environ["STATE_DATADIR"])),
)
settings.worker.state_dir.mkdir(parents=True, exist_ok=True)
conf = faust_settings(settings)
conf["table_standby_replicas"] = 0  # recovery must come from the changelog, not a warm standby
app = faust.App("state-test-" + os.environ["STATE_TOPIC"], **conf)
topic = app.topic(os.environ["STATE_TOPIC"], key_type=bytes, value_type=bytes, key_serializer="raw",
                  value_serializer="raw", partitions=4)
counts = app.Table("counts", default=int, key_type=bytes, partitions=4)
dump_path = Path(os.environ["STATE_DUMP"])


@app.agent(topic)
async def count(stream: faust.StreamT) -> None:
    # Kafka delivers at least once: a worker stopped before its last offsets were committed has its
    # records read again by the survivor. The offset applied last is kept in the same table (and so
    # the same changelog partition) as the counts, so a replayed record is skipped, as the worker's
    # rider state skips a repeated event_id. What this test checks is that the changelog restores it all.
    async for event in stream.events():
        partition, offset = event.message.partition, event.message.offset
        applied = b"__offset__:%d" % partition  # next offset to apply (the table's default is 0)
        if offset < counts[applied]:
            continue
        counts[event.key] += 1
        counts[applied] = offset + 1


@app.timer(interval=0.5)
async def dump() -> None:
    assigned = sorted(tp.partition for tp in app.consumer.assignment() if tp.topic == topic.get_topic_name())
    data = {"assigned": assigned,
            "counts": {k.decode(): v for k, v in counts.items() if not k.startswith(b"__offset__")}}
    tmp = dump_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(dump_path)


if __name__ == "__main__":
    app.main()
