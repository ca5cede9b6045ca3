"""Write simulated records to JSON Lines and read them back for replay.

One object per line: ``{"topic": role, "key": key, "value": <record JSON or raw string>}``,
plus ``"true_hazard"`` when the simulator emitted it. A string ``value`` is a
malformed raw payload; an object is a record of the topic's schema. Paths ending in
``.gz`` are gzip-compressed.

>>> import tempfile, os
>>> from riskstream.simulation.fleet import FleetSimulator, SimConfig
>>> recs = list(FleetSimulator(SimConfig(riders=2, seed=3, malformed_rate=0.01)).records(900))
>>> path = os.path.join(tempfile.mkdtemp(), "sim.jsonl")
>>> write_jsonl(recs, path) == len(recs)
True
>>> back = list(read_jsonl(path))
>>> [r.value_bytes() for r in back] == [r.value_bytes() for r in recs]
True
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import IO, Iterable, Iterator

from riskstream.contracts.records import TOPIC_MODELS

from .records import SimRecord


def _open(path: str | Path, mode: str) -> IO[str]:
    if str(path).endswith(".gz"):
        return gzip.open(path, mode + "t", encoding="utf-8")  # type: ignore[return-value]
    return open(path, mode, encoding="utf-8")


def write_jsonl(records: Iterable[SimRecord], path: str | Path) -> int:
    """Write ``records`` one per line; returns how many were written."""
    n = 0
    dumps = json.dumps
    with _open(path, "w") as f:
        for rec in records:
            if rec.raw is not None:
                value = dumps(rec.raw.decode("utf-8", errors="replace"))
            else:
                value = rec.value.model_dump_json()
            line = f'{{"topic":{dumps(rec.role)},"key":{dumps(rec.key)},"value":{value}'
            if rec.true_hazard is not None:
                line += f',"true_hazard":{dumps(rec.true_hazard)}'
            f.write(line + "}\n")
            n += 1
    return n


def read_jsonl(path: str | Path, validate: bool = True) -> Iterator[SimRecord]:
    """Records of a file written by :func:`write_jsonl`.

    Object values are parsed with the topic's schema (``validate=False`` keeps the
    payload as raw bytes instead, which is what a producer replaying the file needs).
    A value the schema rejects is returned as ``raw`` bytes, like a malformed record.
    """
    with _open(path, "r") as f:
        for line in f:
            obj = json.loads(line)
            topic, key, value = obj["topic"], obj.get("key"), obj["value"]
            hazard = obj.get("true_hazard")
            if isinstance(value, str):
                yield SimRecord(topic, key, None, value.encode(), hazard)
                continue
            raw = json.dumps(value, separators=(",", ":")).encode()
            if not validate:
                yield SimRecord(topic, key, None, raw, hazard)
                continue
            try:
                yield SimRecord(topic, key, TOPIC_MODELS[topic].model_validate(value), None, hazard)
            except ValueError:
                yield SimRecord(topic, key, None, raw, hazard)
