"""Export one JSON Schema per topic (``riskstream schemas --out DIR``)."""

from __future__ import annotations

import json
from pathlib import Path

from streams.schemas import TOPIC_MODELS
from streams.settings import TopicSettings


def topic_schemas(topics: TopicSettings | None = None) -> dict[str, dict]:
    """topic name -> JSON Schema (draft 2020-12) of its record value."""
    names = (topics or TopicSettings()).by_role()
    out = {}
    for role, model in TOPIC_MODELS.items():
        schema = model.model_json_schema(mode="validation")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"riskstream/{names[role]}.schema.json"
        schema["x-topic"] = names[role]
        out[names[role]] = schema
    return out


def export_schemas(out_dir: Path, topics: TopicSettings | None = None) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for topic, schema in topic_schemas(topics).items():
        path = out_dir / f"{topic}.schema.json"
        path.write_text(json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written
