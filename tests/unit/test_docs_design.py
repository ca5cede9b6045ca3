"""docs/design.md and the README's architecture name only things the repository has."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from riskstream.contracts.records import DEFAULT_TOPICS

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "docs" / "design.md", REPO / "README.md"]
CODE = "\n".join(p.read_text() for d in ("riskstream", "streams", "features", "models", "alerts")
                 for p in (REPO / d).rglob("*.py"))
TOPICS = set(DEFAULT_TOPICS.values()) | {"<app_id>-rider-state-changelog"}
#: Words in code spans that are no code names: import-linter's contract types.
NOT_CODE = {"layers", "forbidden"}


def _spans(doc: Path) -> list[str]:
    return re.findall(r"`([^`\n]+)`", doc.read_text())


def _is_path(span: str) -> bool:
    return "/" in span and " " not in span and not span.startswith(("http", "/metrics")) and "<" not in span


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_path_named_exists(doc: Path) -> None:
    missing = [s for s in _spans(doc) if _is_path(s) and not (REPO / s.split(" ")[0]).exists()]
    assert not missing, f"{doc.name} names paths the repository does not have: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_link_resolves(doc: Path) -> None:
    links = [t for t in re.findall(r"\]\(([^)\s]+)\)", doc.read_text()) if not t.startswith(("http", "#"))]
    missing = [t for t in links if not (doc.parent / t.split("#")[0]).exists()]
    assert not missing, f"{doc.name} links to files the repository does not have: {missing}"


def test_every_code_name_in_the_design_is_defined() -> None:
    """Each `Class`, `function`, `Class.method` or `CONSTANT` the design cites is defined in the code."""
    names = {s for s in _spans(DOCS[0]) if re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_]\w*)?", s)
             and s not in TOPICS | NOT_CODE and not s.startswith("RISKSTREAM_")
             and not s.endswith((".py", ".md", ".json", ".toml"))}
    defined = set(re.findall(r"^\s*(?:async\s+)?(?:def|class)\s+(\w+)|^\s*(\w+)\s*[:=]", CODE, re.M))
    defined_names = {a or b for a, b in defined}
    undefined = sorted(n for n in names if n.split(".")[-1] not in defined_names and n not in CODE)
    assert not undefined, f"docs/design.md cites names the code does not define: {undefined}"


def test_every_setting_named_exists() -> None:
    from streams.settings import Settings

    settings = Settings()
    for doc in DOCS:
        for var in set(re.findall(r"RISKSTREAM_([A-Z]+)__([A-Z_]+)", doc.read_text())):
            section, name = var[0].lower(), var[1].lower()
            assert hasattr(getattr(settings, section, None), name) or section in ("alerts", "premium"), \
                f"{doc.name}: RISKSTREAM_{var[0]}__{var[1]} is no setting"
