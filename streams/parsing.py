"""Raw bytes → validated record, or a dead letter that says what was wrong and where from.

>>> from streams.schemas import WearableReading
>>> try:
...     parse_record(WearableReading, b'{"event_id": "x"', max_bytes=1024)
... except InputError as exc:
...     exc.error_class
'invalid_json'
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


def parse_record(model: type[M], raw: bytes | None, max_bytes: int) -> M:
    """Decode and validate one record; raise :class:`InputError` with a stable ``error_class``."""
    if raw is None or not raw.strip():
        raise InputError("empty", "the record has no value")
    if len(raw) > max_bytes:
        raise InputError("too_large", f"the record is {len(raw)} bytes; the limit is {max_bytes}")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError("invalid_json", f"not valid JSON: {exc}") from None
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


def _summarise(exc: ValidationError, limit: int = 8) -> str:
    parts = []
    for err in exc.errors()[:limit]:
        where = ".".join(str(p) for p in err["loc"]) or "record"
        parts.append(f"{where}: {err['msg']}")
    more = exc.error_count() - limit
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def dead_letter(
    *, source_topic: str, partition: int, offset: int, key: bytes | None, raw: bytes | None, error: InputError
) -> DeadLetter:
    """Build the dead-letter record of a failed input, keeping a bounded copy of the payload."""
    raw = raw or b""
    digest = hashlib.sha256(raw).hexdigest()
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
        payload_size=len(raw),
        payload_sha256=digest,
    )

