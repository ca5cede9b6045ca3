"""Raw bytes → validated record, or a dead letter that says what was wrong and where from.

>>> from streams.schemas import WearableReading
>>> try:
...     parse_record(WearableReading, b'{"event_id": "x"', max_bytes=1024)
... except InputError as exc:
...     exc.error_class
'invalid_json'

Whatever the JSON decoder raises is the record's fault and a dead letter, not a crash:
nesting deeper than Python's parser allows (``RecursionError``) or an integer longer than
``sys.get_int_max_str_digits()`` (``ValueError``).

>>> try:
...     parse_record(WearableReading, b"[" * 100_000, max_bytes=200_000)
... except InputError as exc:
...     exc.error_class, exc.reason
('invalid_json', 'not valid JSON: nested deeper than 64 levels')
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from streams.errors import InputError
from streams.schemas import SUPPORTED_SCHEMA_VERSIONS, DeadLetter

M = TypeVar("M", bound=BaseModel)

#: Bytes of the original payload kept in a dead letter.
DLQ_PAYLOAD_BYTES = 4096
#: Deepest nesting of arrays/objects accepted; our records are flat objects (depth 1-2).
MAX_JSON_DEPTH = 64


def parse_record(model: type[M], raw: bytes | None, max_bytes: int) -> M:
    """Decode and validate one record; raise :class:`InputError` with a stable ``error_class``."""
    if raw is None or not raw.strip():
        raise InputError("empty", "the record has no value")
    if len(raw) > max_bytes:
        raise InputError("too_large", f"the record is {len(raw)} bytes; the limit is {max_bytes}")
    if _too_deep(raw):
        raise InputError("invalid_json", f"not valid JSON: nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError("invalid_json", f"not valid JSON: {exc}") from None
    except RecursionError:
        raise InputError("invalid_json", "not valid JSON: nested too deeply for the parser") from None
    except ValueError as exc:  # e.g. an integer literal longer than sys.get_int_max_str_digits()
        raise InputError("invalid_json", f"not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(data, dict):
        raise InputError("not_an_object", f"expected a JSON object, got {type(data).__name__}")
    version = data.get("schema_version", 1)
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        raise InputError(
            "unsupported_schema_version",
            f"schema_version {version!r} is not supported (this build reads {sorted(SUPPORTED_SCHEMA_VERSIONS)})",
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InputError("validation_error", _summarise(exc)) from None


def _too_deep(raw: bytes) -> bool:
    """Cheap bound before decoding: only a payload with many brackets is scanned (strings are skipped)."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_JSON_DEPTH:
        return False
    depth, in_string, escaped = 0, False, False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return True
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return False


def _summarise(exc: ValidationError, limit: int = 8) -> str:
    parts = []
    for err in exc.errors()[:limit]:
        where = ".".join(str(p) for p in err["loc"]) or "record"
        parts.append(f"{where}: {err['msg']}")
    more = exc.error_count() - limit
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def dead_letter(
    *, source_topic: str, partition: int, offset: int, key: bytes | None, raw: bytes | None, error: InputError,
    original: tuple[int, str] | None = None,
) -> DeadLetter:
    """Build the dead-letter record of a failed input, keeping a bounded copy of the payload.

    ``original`` is (size, sha256) of the full payload when ``raw`` is only its kept head.
    """
    raw = raw or b""
    size, digest = original or (len(raw), hashlib.sha256(raw).hexdigest())
    return DeadLetter(
        event_id=f"dlq-{source_topic}-{partition}-{offset}",
        ts=datetime.now(timezone.utc),
        source_topic=source_topic,
        partition=partition,
        offset=offset,
        key=key.decode("utf-8", "replace")[:128] if key else None,
        error_class=error.error_class,
        reason=error.reason[:1000],
        payload=raw[:DLQ_PAYLOAD_BYTES].decode("utf-8", "replace"),
        payload_size=size,
        payload_sha256=digest,
    )

