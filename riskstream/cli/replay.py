"""Read a JSON-lines file for ``riskstream replay``: each value is sent exactly as written.

A line is ``{"topic": role, "key": key, "value": <JSON object or string>, ...}`` (the format of
``riskstream simulate --to-file``; other members are ignored). An object value is sent as the bytes
it has in the line: not validated, not re-serialised through the schema model, so no default is
filled in and ``"31.5"`` stays a string; the worker judges it as it would any producer's record. A
string value is a raw payload, sent as its UTF-8 bytes. Only the topic, the key and, for pacing
(``--speed``), the value's ``ts`` are read.

>>> line = '{"topic": "weather", "key": "z1", "value": {"ts": "2026-07-15T02:00:00Z", "air_temp_c": "31.5" }}'
>>> rec = written_record(line, 1)
>>> rec.role, rec.key, rec.raw, rec.event_ts
('weather', 'z1', b'{"ts": "2026-07-15T02:00:00Z", "air_temp_c": "31.5" }', 1784080800.0)
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from riskstream.contracts.errors import RiskstreamError
from riskstream.contracts.records import DEFAULT_TOPICS

_DECODER = json.JSONDecoder()
_WS = " \t\n\r"


class ReplayFileError(RiskstreamError, ValueError):
    """A line of a replay file is not ``{"topic": ROLE, "key": KEY, "value": ...}``; the message names the line."""


@dataclass(frozen=True, slots=True)
class WrittenRecord:
    """One line of a replay file: the topic role, the key and the value's bytes as written."""

    role: str
    key: str | None
    raw: bytes
    event_ts: float | None
    value: None = None  # no parsed record: the producer sends ``raw``


def read_written(path: str | Path) -> Iterator[WrittenRecord]:
    """The records of a replay file in order (``.gz``: gzip-compressed); a bad line raises :class:`ReplayFileError`.

    ``riskstream replay`` reads the file once through this before sending anything, so a bad line
    stops the command before the first record is sent.
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if line.strip():
                yield written_record(line, n, str(path))


def written_record(line: str, n: int, path: str = "<line>") -> WrittenRecord:
    """One line as a :class:`WrittenRecord`; ``n`` and ``path`` name the line in an error."""
    try:
        members = _members(line.strip())
    except IndexError:
        raise ReplayFileError(f"{path}:{n}: the line ends inside its JSON object; each line must be "
                              '{"topic": ROLE, "key": KEY, "value": {...}}') from None
    except ValueError as exc:
        raise ReplayFileError(f"{path}:{n}: not a JSON object with topic, key and value ({exc}); each line must be "
                          '{"topic": ROLE, "key": KEY, "value": {...}}') from None
    if "topic" not in members or "value" not in members:
        raise ReplayFileError(f'{path}:{n}: the line needs "topic" and "value" (it has {sorted(members)})')
    role = json.loads(members["topic"])
    if role not in DEFAULT_TOPICS:
        raise ReplayFileError(f"{path}:{n}: topic {role!r} is not a topic role; use one of {sorted(DEFAULT_TOPICS)}")
    key = json.loads(members["key"]) if "key" in members else None
    if key is not None and not isinstance(key, str):
        raise ReplayFileError(f"{path}:{n}: key must be a string or null, got {type(key).__name__}")
    text = members["value"]
    value = json.loads(text)
    raw = value.encode("utf-8") if isinstance(value, str) else text.encode("utf-8")
    return WrittenRecord(role, key, raw, _event_ts(value))


def _members(text: str) -> dict[str, str]:
    """The top-level members of a JSON object, each value as the exact text it has in ``text``."""
    if not text.startswith("{"):
        raise ValueError("does not start with {")
    out: dict[str, str] = {}
    i = _skip(text, 1)
    if text[i] == "}":
        return out
    while True:
        name, i = _DECODER.raw_decode(text, i)
        if not isinstance(name, str):
            raise ValueError("a member name is not a string")
        i = _skip(text, i)
        if text[i] != ":":
            raise ValueError(f"expected ':' at character {i}")
        start = _skip(text, i + 1)
        _, end = _DECODER.raw_decode(text, start)
        out[name] = text[start:end]
        i = _skip(text, end)
        if text[i] == "}":
            if _skip(text, i + 1) != len(text):
                raise ValueError("text after the object")
            return out
        if text[i] != ",":
            raise ValueError(f"expected ',' or '}}' at character {i}")
        i = _skip(text, i + 1)


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WS:
        i += 1
    return i


def _event_ts(value: Any) -> float | None:
    """The value's ``ts`` as epoch seconds (naive: UTC), for pacing only; None when it has none that parses."""
    ts = value.get("ts") if isinstance(value, dict) else None
    if not isinstance(ts, str):
        return None
    try:
        when = datetime.fromisoformat(ts)
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()
