"""One embedded broker (real Tansu, Kafka protocol) for the whole integration session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from riskstream.testing.workers import free_port
from streams.broker import EmbeddedBroker


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    log_dir: Path = tmp_path_factory.mktemp("broker")
    with EmbeddedBroker("127.0.0.1", free_port(), log_path=log_dir / "tansu.log") as running:
        yield running

# A Faust app started as a child process by the recovery test; importing it needs its environment.
collect_ignore = ["state_app.py"]
