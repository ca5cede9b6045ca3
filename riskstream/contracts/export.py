"""Export one JSON Schema per topic, and one per envelope a topic accepts (``riskstream schemas --out DIR``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel

from riskstream.contracts.records import DEFAULT_TOPICS, ENVELOPE_MODELS, TOPIC_MODELS


def topic_schemas(topics: Mapping[str, str] | None = None) -> dict[str, dict]:
    """topic name -> JSON Schema (draft 2020-12) of its record value; ``topics`` maps role -> topic name."""
    return _schemas(TOPIC_MODELS, "schema", topics)


def envelope_schemas(topics: Mapping[str, str] | None = None) -> dict[str, dict]:
    """topic name -> JSON Schema of the envelope that topic accepts besides single records (wearable, trip)."""
    return _schemas(ENVELOPE_MODELS, "envelope.schema", topics)


def _schemas(models: Mapping[str, type[BaseModel]], suffix: str, topics: Mapping[str, str] | None) -> dict[str, dict]:
    names = {**DEFAULT_TOPICS, **(topics or {})}
    out = {}
    for role, model in models.items():
        schema = model.model_json_schema(mode="validation")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"riskstream/{names[role]}.{suffix}.json"
        schema["x-topic"] = names[role]
        out[names[role]] = schema
    return out


def export_schemas(out_dir: Path, topics: Mapping[str, str] | None = None) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for topic, schema in topic_schemas(topics).items():
        path = out_dir / f"{topic}.schema.json"
        path.write_text(json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    for topic, schema in envelope_schemas(topics).items():
        path = out_dir / f"{topic}.envelope.schema.json"
        path.write_text(json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written
